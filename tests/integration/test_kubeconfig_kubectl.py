"""The kubeconfig airgap.k8s.kubeconfig writes works with the bundle's kubectl over mutual TLS.

The module runs through real Ansible (`ansible localhost -m airgap.k8s.kubeconfig`),
the client is the bundle's kubectl; the server is a Python TLS endpoint that
requires a client certificate from the cluster CA (no kube-apiserver here), so
this checks the TLS side of the file only. Needs the bundle (`make integration`
builds it; BUNDLE_DIR picks another).
"""

from __future__ import annotations

import http.server
import json
import os
import platform
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("BUNDLE_DIR") or ROOT / "files" / "bundle")
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.airgap.k8s.plugins.module_utils import _pki  # noqa: E402

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]


@pytest.fixture(scope="module")
def kubectl() -> Path:
    manifest = BUNDLE / "manifest.json"
    if not manifest.is_file():
        pytest.fail(f"no bundle in {BUNDLE}: run `make bundle` or set BUNDLE_DIR")
    paths = [
        a["path"]
        for a in json.loads(manifest.read_text())["artifacts"]
        if a["component"] == "kubernetes" and a["name"] == "kubectl" and a["arch"] == ARCH
    ]
    assert paths, f"{BUNDLE} holds no kubectl for {ARCH}"
    return BUNDLE / sorted(paths)[-1]


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, dict[str, str]]:
    """A cluster CA, an admin client and an apiserver serving pair (ECDSA for speed)."""
    base = tmp_path_factory.mktemp("pki")
    out: dict[str, dict[str, str]] = {}
    signer = None
    for name, params in (
        ("ca", {"cn": "kubernetes", "is_ca": True}),
        ("admin", {"cn": "kubernetes-admin", "names": [{"O": "system:masters"}]}),
        ("apiserver", {"cn": "kube-apiserver", "hosts": ["127.0.0.1"]}),
    ):
        request, _ = _pki.build_request({**params, "key": {"algo": "ecdsa"}})
        key = _pki.generate_private_key(request.key)
        issuer = {} if signer is None else {"issuer_cert": signer[0], "issuer_key": signer[1]}
        cert = _pki.issue_certificate(request, key, now=_pki.utcnow(), **issuer)
        signer = signer or (cert, key)
        out[name] = {"cert": str(base / f"{name}.crt"), "key": str(base / f"{name}.key")}
        Path(out[name]["cert"]).write_bytes(_pki.serialize_certificate(cert))
        Path(out[name]["key"]).write_bytes(_pki.serialize_private_key(key))
        os.chmod(out[name]["key"], 0o600)
    return out


class _VersionHandler(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []  # noqa: RUF012 - shared by the handler threads on purpose

    def do_GET(self):
        peer = self.connection.getpeercert()
        subject = dict(item[0] for item in peer["subject"])
        type(self).seen.append(subject["commonName"])
        body = json.dumps({"major": "1", "minor": "36", "gitVersion": "v1.36.3-test-server"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_bundled_kubectl_authenticates_with_the_written_kubeconfig(kubectl, pki, tmp_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["apiserver"]["cert"], pki["apiserver"]["key"])
    context.load_verify_locations(pki["ca"]["cert"])
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _VersionHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = tmp_path / "admin.conf"
        args = {
            "path": str(path),
            "cluster_name": "airgap",
            "server": f"https://127.0.0.1:{server.server_address[1]}",
            "ca_cert": pki["ca"]["cert"],
            "client_cert": pki["admin"]["cert"],
            "client_key": pki["admin"]["key"],
        }
        ansible = subprocess.run(
            [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-m", "airgap.k8s.kubeconfig",
             "-a", json.dumps(args)],
            capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
            env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        )  # fmt: skip
        assert ansible.returncode == 0 and "CHANGED" in ansible.stdout, ansible.stdout + ansible.stderr
        env = {**os.environ, "KUBECONFIG": str(path), "HOME": str(tmp_path)}
        view = subprocess.run(
            [str(kubectl), "config", "view", "--raw", "-o", "json"],
            capture_output=True, text=True, timeout=30, env=env, check=False,
        )  # fmt: skip
        assert view.returncode == 0, view.stderr
        assert json.loads(view.stdout)["current-context"] == "kubernetes-admin@airgap"
        version = subprocess.run(
            [str(kubectl), "get", "--raw", "/version", "--request-timeout=10s"],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        assert version.returncode == 0, version.stderr
        assert json.loads(version.stdout)["gitVersion"] == "v1.36.3-test-server"
        assert "kubernetes-admin" in _VersionHandler.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
