"""Day-2 slot, certificates: the report and renewal on the lifecycle cluster (3 control planes, 2 workers).

Read independently of the collection's own code: every certificate file and
kubeconfig on every node (over SSH, parsed here), and what each TLS port
serves (from the controller). Leaves the same cluster with every leaf
certificate renewed (the CAs unchanged).
"""

from __future__ import annotations

import base64
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import day2
from .conftest import Cluster, Prober, refused_on, tail

pytestmark = [pytest.mark.ha, pytest.mark.day2]


@pytest.fixture(scope="module", autouse=True)
def _whole_cluster(cluster: Cluster) -> None:
    day2.require_whole(cluster)


# Every place a role installs a certificate (files: PEM; .conf: kubeconfigs).
FILES = (
    "/etc/kubernetes/pki/*.crt /etc/kubernetes/pki/etcd/*.crt /etc/etcd/pki/*.crt "
    "/var/lib/kubelet/pki/*.crt /etc/haproxy/pki/*.crt /etc/haproxy/pki/*.pem /etc/kubernetes/*.conf"
)
# Only certificates leave the node: PEM certificate blocks and the kubeconfigs' certificate lines.
READ = (
    f'for f in {FILES}; do [ -f "$f" ] || continue; echo "== $f"; '
    "case $f in *.conf) grep -E '(certificate-authority|client-certificate)-data' \"$f\";; "
    "*) sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' \"$f\";; esac; done"
)
PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
FIELD = re.compile(r"(certificate-authority-data|client-certificate-data):\s*(\S+)")


def installed(cluster: Cluster) -> dict[tuple[str, str], x509.Certificate]:
    """(host, place) -> certificate, for every node."""
    found = {}
    for host in cluster.inv.hosts:
        current = ""
        text = cluster.ssh(host, READ).stdout
        for chunk in text.split("== ")[1:]:
            current, _, body = chunk.partition("\n")
            if current.endswith(".conf"):
                for field, value in FIELD.findall(body):
                    found[(host, f"{current}#{field}")] = x509.load_pem_x509_certificate(base64.b64decode(value))
            else:
                for i, pem in enumerate(PEM.findall(body)):
                    found[(host, current + (f"[{i}]" if i else ""))] = x509.load_pem_x509_certificate(pem.encode())
    return found


def served(cluster: Cluster) -> dict[tuple[str, int], x509.Certificate]:
    """What the apiserver, etcd (client and peer) and kubelet ports present."""
    ports = {h: [10250] for h in cluster.nodes}
    for h in cluster.control_planes:
        ports[h].append(6443)
    for h in cluster.etcd_members:
        ports.setdefault(h, []).extend([2379, 2380])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    out = {}
    for host, host_ports in ports.items():
        for port in host_ports:
            with (
                socket.create_connection((cluster.hosts[host], port), timeout=10) as sock,
                context.wrap_socket(sock) as tls,
            ):
                out[(host, port)] = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    return out


def public(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def is_ca(cert: x509.Certificate) -> bool:
    return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.fixture(scope="module")
def topology(cluster: Cluster) -> dict[str, list[str]]:
    cps = cluster.control_planes
    workers = [h for h in cluster.workers if h not in cps]
    if len(cps) < 3 or not workers:
        pytest.fail(f"the renewal test needs 3 control planes and a worker (E2E_SHAPE=lifecycle), not {cps}")
    return {"control_planes": cps, "workers": workers}


def test_site_yml_renewal_window_restarts_the_kubelets(cluster: Cluster):
    """The stages site.yml runs renew leaves inside pki_renew_before and restart what uses them.

    pki.yml re-issues every leaf older than a minute (pki_renew_before just under the 8760h lifetime);
    nodes.yml installs the kubelets' and kube-proxy's and restarts them: each kubelet then serves its
    new serving certificate. (The force renewal below installs the rest the same way, through the
    same role tasks and handlers.)
    """
    before = served(cluster)
    window = ("-e", "pki_renew_before=8759h59m")
    for stage in ("pki.yml", "nodes.yml"):
        run = cluster.playbook(stage, f"renew-window-{stage.removesuffix('.yml')}", *window)
        assert run.ok, tail(run.log)
    restarted = [t for t in run.changed_tasks() if "Restart kubelet" in t]
    assert len(restarted) == len(cluster.nodes), run.changed_tasks()
    deadline = time.monotonic() + 60
    while True:
        after = served(cluster)
        stale = [k for k, c in after.items() if k[1] == 10250 and c.serial_number == before[k].serial_number]
        if not stale or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not stale, f"kubelets still serve their old certificate: {stale}"
    # Leave what the next test expects: a restarted kubelet may report NotReady for some seconds
    # ("CSINode is not yet initialized"); the force renewal below watches for NotReady from its start.
    cluster.wait_for(
        "every node Ready after the kubelet restarts",
        lambda: all(cluster.node_ready().values()),
        timeout=180,
        interval=2,
    )


def test_force_renewal_changes_every_leaf_keeps_the_cas_and_the_api_answering(cluster: Cluster, topology):
    before = installed(cluster)
    served_before = served(cluster)
    cas_before = {k: c for k, c in before.items() if is_ca(c)}
    assert len(before) > 10 * len(cluster.inv.hosts) // 2, sorted(before)

    # The workers and a control plane probe through their own load balancers; the nodes' Ready is polled.
    probers = [*topology["workers"], topology["control_planes"][0]]
    not_ready: list[str] = []
    stop = threading.Event()

    def watch_nodes() -> None:
        while not stop.is_set():
            for cp in topology["control_planes"]:
                try:
                    ready = cluster.node_ready(server=cp)
                except (AssertionError, subprocess.TimeoutExpired):
                    continue  # that apiserver is restarting; ask another
                not_ready.extend(n for n, ok in ready.items() if not ok)
                break
            time.sleep(3)

    watcher = threading.Thread(target=watch_nodes, daemon=True)
    watcher.start()
    try:
        with Prober(cluster, probers) as prober:
            run = cluster.playbook("certs.yml", "certs-renew", "-e", "certs_renew=true")
    finally:
        stop.set()
        watcher.join(timeout=120)
    assert run.ok, tail(run.log)

    after = installed(cluster)
    assert set(after) == set(before), set(after) ^ set(before)
    for place, cert in after.items():
        old = before[place]
        if is_ca(old):
            assert cert.fingerprint(cert.signature_hash_algorithm) == old.fingerprint(old.signature_hash_algorithm), (
                place
            )
        else:
            assert cert.serial_number != old.serial_number, f"{place} was not re-issued"
            assert cert.issuer == old.issuer and public(cert) == public(old), f"{place}: other issuer or key"
            assert cert.not_valid_after_utc > old.not_valid_after_utc, place
    assert {k for k, c in after.items() if is_ca(c)} == set(cas_before)
    # Every component serves its new certificate: each was restarted (or reloaded it).
    served_after = served(cluster)
    same = [k for k, c in served_after.items() if c.serial_number == served_before[k].serial_number]
    assert not same, f"still serving the old certificate: {same}"
    # One node at a time, the API answering through every probed load balancer all along.
    for host in probers:
        assert prober.answered(host) >= 40, f"{host}: only {prober.answered(host)} requests during the renewal"
    assert not prober.failures(), f"requests through the load balancers failed: {prober.failures()}"
    assert not not_ready, f"nodes went NotReady during the renewal: {sorted(set(not_ready))}"
    # The report at the end shows the new dates.
    log = run.text()
    for (host, place), cert in after.items():
        if place == "/etc/kubernetes/pki/apiserver.crt":
            row = rf"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}\s+{host}\s+kube-apiserver\s+kubernetes-ca\s+{place}"
            assert re.search(row, log), f"no report row for {host}:{place} with the new date"


def test_report_fails_when_a_certificate_expires_within_n_days(cluster: Cluster):
    """Leaves live a year: every one is within 400 days, and the report says which."""
    run = cluster.playbook(
        "certs.yml", "certs-within-400", "-e", "certs_fail_within_days=400", hosts=refused_on(cluster.inv)
    )
    assert run.rc != 0, tail(run.log)
    text = run.text()
    assert run.last_task() == "airgap.k8s.pki : Fail when a certificate expires within pki_report_fail_within_days"
    match = re.search(r"(\d+) certificate\(s\) expire within 400 days: (.*?)\. Renew the leaves", text)
    assert match, tail(run.log)
    assert "kube-apiserver" in match.group(2) and "system:node:" in match.group(2)
