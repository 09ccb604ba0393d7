"""airgap.k8s.etcd_health against a real 3-member etcd cluster with TLS everywhere.

The cluster runs on 127.0.0.1 with fresh certificates in a temporary
directory; it uses the bundle's etcd when the bundle has been built, else
Debian's /usr/bin/etcd (package etcd-server).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Same import root as tests/unit/conftest.py, so this file also runs on its own.
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from ansible_collections.airgap.k8s.plugins.module_utils._health import tls_context, wait_for  # noqa: E402
from ansible_collections.airgap.k8s.plugins.modules import etcd_health  # noqa: E402

pytestmark = pytest.mark.slow

NAMES = ("etcd-a", "etcd-b", "etcd-c")
START_TIMEOUT = 20


def _version_key(path: Path) -> tuple[int, ...]:
    parts = path.parts[-3].lstrip("v").split(".")
    return tuple(int(p) if p.isdigit() else 0 for p in parts)


def etcd_binary() -> str:
    bundle_dir = Path(os.environ.get("BUNDLE_DIR") or ROOT / "files" / "bundle")
    bundled = sorted(bundle_dir.glob("etcd/*/amd64/etcd"), key=_version_key)
    if bundled:
        return str(bundled[-1])
    if Path("/usr/bin/etcd").exists():
        return "/usr/bin/etcd"
    pytest.fail("No etcd binary: build the bundle (BUNDLE_DIR/etcd/<ver>/amd64/etcd) or apt-get install etcd-server.")
    raise AssertionError  # unreachable: pytest.fail raises


# --- certificates -----------------------------------------------------------


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool, eku=(), sans=()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@dataclass
class Pki:
    ca: Path
    foreign_ca: Path
    server: tuple[Path, Path]
    peer: tuple[Path, Path]
    client: tuple[Path, Path]
    foreign_client: tuple[Path, Path]


def make_pki(d: Path) -> Pki:
    d.mkdir()

    def ca(name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        return key, _cert(name, key, None, None, ca=True)

    def leaf(ca_pair, stem: str, eku, sans=()):
        ca_key, ca_cert = ca_pair
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(stem, key, ca_cert.subject, ca_key, ca=False, eku=eku, sans=sans)
        (d / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(d / f"{stem}.key", key)
        return d / f"{stem}.crt", d / f"{stem}.key"

    etcd_ca = ca("etcd-ca")
    other_ca = ca("some-other-ca")
    (d / "ca.crt").write_bytes(etcd_ca[1].public_bytes(serialization.Encoding.PEM))
    (d / "other-ca.crt").write_bytes(other_ca[1].public_bytes(serialization.Encoding.PEM))
    loopback = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    both = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
    client = (ExtendedKeyUsageOID.CLIENT_AUTH,)
    return Pki(
        ca=d / "ca.crt",
        foreign_ca=d / "other-ca.crt",
        # etcd's JSON gateway dials its own gRPC port with the server cert, so it needs clientAuth too (as kubeadm's).
        server=leaf(etcd_ca, "server", both, loopback),
        peer=leaf(etcd_ca, "peer", both, loopback),
        client=leaf(etcd_ca, "healthcheck-client", client),
        foreign_client=leaf(other_ca, "foreign-client", client),
    )


# --- the cluster ------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Cluster:
    pki: Pki
    endpoints: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def args(self, **over):
        args = {
            "endpoints": list(self.endpoints.values()),
            "ca_cert": str(self.pki.ca),
            "client_cert": str(self.pki.client[0]),
            "client_key": str(self.pki.client[1]),
            "wait_timeout": START_TIMEOUT,
            "wait_sleep": 1,
            "expected_members": 3,
            "fail_on_unhealthy": True,
        }
        args.update(over)
        return args

    def log_tail(self) -> str:
        out = []
        for name, path in self.logs.items():
            lines = path.read_text(errors="replace").splitlines()[-15:]
            out.append(f"--- {name} ---\n" + "\n".join(lines))
        return "\n".join(out)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def member_command(
    binary: str, name: str, data_dir: Path, *, client: str, peer: str, pki: Pki, **flags: str
) -> list[str]:
    """etcd serving ``client`` and ``peer`` (https URLs) with TLS everywhere; ``flags`` add --initial-cluster etc."""
    return [
        binary,
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--cert-file={pki.server[0]}",
        f"--key-file={pki.server[1]}",
        f"--trusted-ca-file={pki.ca}",
        "--client-cert-auth",
        f"--peer-cert-file={pki.peer[0]}",
        f"--peer-key-file={pki.peer[1]}",
        f"--peer-trusted-ca-file={pki.ca}",
        "--peer-client-cert-auth",
        *(f"--{flag.replace('_', '-')}={value}" for flag, value in flags.items()),
    ]


@pytest.fixture
def cluster(tmp_path):
    binary = etcd_binary()
    pki = make_pki(tmp_path / "pki")
    ports = free_ports(2 * len(NAMES))
    client_ports = dict(zip(NAMES, ports[: len(NAMES)], strict=True))
    peer_ports = dict(zip(NAMES, ports[len(NAMES) :], strict=True))
    initial = ",".join(f"{n}=https://127.0.0.1:{peer_ports[n]}" for n in NAMES)
    c = Cluster(pki=pki, endpoints={n: f"https://127.0.0.1:{client_ports[n]}" for n in NAMES})
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    try:
        for n in NAMES:
            cmd = member_command(
                binary,
                n,
                tmp_path / n,
                client=c.endpoints[n],
                peer=f"https://127.0.0.1:{peer_ports[n]}",
                pki=pki,
                initial_cluster=initial,
                initial_cluster_state="new",
                initial_cluster_token=f"test-{tmp_path.name}",
            )
            log = tmp_path / f"{n}.log"
            c.logs[n] = log
            with log.open("wb") as fh:
                c.procs[n] = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        yield c
    finally:
        for proc in c.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in c.procs.values():
            proc.wait(timeout=10)


# --- helpers ----------------------------------------------------------------


def run_main(capsys, args: dict) -> tuple[int, dict]:
    """Run the module as Ansible would and return (exit code, result)."""
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args(args), pytest.raises(SystemExit) as info:
        etcd_health.main()
    out = capsys.readouterr().out
    return info.value.code, json.loads(out)


def wait_healthy(c: Cluster) -> etcd_health.EtcdReport:
    ctx = tls_context(str(c.pki.ca), str(c.pki.client[0]), str(c.pki.client[1]))
    report = wait_for(lambda: etcd_health.check(list(c.endpoints.values()), ctx, 3), START_TIMEOUT, 0.5)
    assert report.healthy, f"cluster did not come up: {report.problems}\n{c.log_tail()}"
    return report


def etcd_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    return out.splitlines()[0].split()[-1]


# --- tests ------------------------------------------------------------------


def test_healthy_cluster_reports_three_members_and_one_leader(cluster, capsys):
    rc, result = run_main(capsys, cluster.args())

    assert rc == 0, result.get("msg")
    assert result["changed"] is False
    assert result["healthy"] is True
    assert result["member_count"] == 3
    assert result["healthy_count"] == 3
    assert result["problems"] == []
    members = result["members"]
    assert [m["name"] for m in members] == list(NAMES)
    assert [m["endpoint"] for m in members] == list(cluster.endpoints.values())
    leaders = [m["name"] for m in members if m["is_leader"]]
    assert len(leaders) == 1
    assert result["leader"] == leaders[0]
    assert len({m["id"] for m in members}) == 3
    version = etcd_version(etcd_binary())
    for m in members:
        assert m["healthy"] is True
        assert m["error"] is None
        assert m["version"] == version
        assert m["db_size"] > 0
        assert m["raft_index"] > 0
    # The key's path is a no_log value: Ansible masks it even in the echoed arguments.
    assert str(cluster.pki.client[1]) not in json.dumps(result)


def test_client_cert_from_another_ca_is_refused(cluster, capsys):
    wait_healthy(cluster)
    foreign = {"client_cert": str(cluster.pki.foreign_client[0]), "client_key": str(cluster.pki.foreign_client[1])}

    rc, result = run_main(capsys, cluster.args(wait_timeout=0, **foreign))

    assert rc == 1
    assert result["failed"] is True
    assert result["healthy"] is False
    assert result["healthy_count"] == 0
    for m in result["members"]:
        assert m["healthy"] is False
        assert m["error"].startswith("TLS error"), m["error"]
        assert "client certificate" in m["error"], m["error"]
    for name, endpoint in cluster.endpoints.items():
        # Nobody answered, so names fall back to the endpoints; the message still names each one.
        assert endpoint in result["msg"], name
    assert "TLS error" in result["msg"]

    # No client certificate at all: --client-cert-auth refuses the handshake too.
    args = cluster.args(wait_timeout=0)
    del args["client_cert"], args["client_key"]
    rc, result = run_main(capsys, args)
    assert rc == 1
    for m in result["members"]:
        assert m["error"].startswith("TLS error"), m["error"]
        assert "client_cert" in m["error"], m["error"]

    # The other way round: a ca_cert that did not sign the servers' certificates.
    rc, result = run_main(capsys, cluster.args(wait_timeout=0, ca_cert=str(cluster.pki.foreign_ca)))
    assert rc == 1
    for m in result["members"]:
        assert m["error"].startswith("TLS error: server certificate rejected"), m["error"]


def test_killed_member_is_seen_down_and_the_rest_elect_a_leader(cluster, capsys):
    before = wait_healthy(cluster)
    victim = before.leader  # the hardest case: the survivors must elect a new leader
    assert victim in NAMES
    cluster.kill(victim)
    survivors = [n for n in NAMES if n != victim]
    ctx = tls_context(str(cluster.pki.ca), str(cluster.pki.client[0]), str(cluster.pki.client[1]))

    def settled(r: etcd_health.EtcdReport) -> bool:
        return r.healthy_count == 2 and r.leader in survivors

    report = wait_for(lambda: etcd_health.check(list(cluster.endpoints.values()), ctx, 3), 15, 0.5, done=settled)
    assert settled(report), f"{report.problems}\n{cluster.log_tail()}"

    rc, result = run_main(capsys, cluster.args(wait_timeout=0, fail_on_unhealthy=False))

    assert rc == 0, result.get("msg")
    assert result["healthy"] is False
    assert result["member_count"] == 3
    assert result["healthy_count"] == 2
    by_name = {m["name"]: m for m in result["members"]}
    assert set(by_name) == set(NAMES)
    down = by_name[victim]
    assert down["healthy"] is False
    assert down["error"] == "connection refused"
    assert down["endpoint"] == cluster.endpoints[victim]
    assert down["is_leader"] is False
    for name in survivors:
        assert by_name[name]["healthy"] is True, by_name[name]["error"]
    assert result["leader"] in survivors
    assert sum(m["is_leader"] for m in result["members"]) == 1
    assert result["problems"] == [f"{victim} ({cluster.endpoints[victim]}): connection refused"]

    rc, result = run_main(capsys, cluster.args(wait_timeout=0))
    assert rc == 1
    assert f"{victim} ({cluster.endpoints[victim]}): connection refused" in result["msg"]
