"""Small certificates for the unit tests, made with the collection's own _pki (ECDSA: fast)."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.airgap.k8s.plugins.module_utils import _state
from ansible_collections.airgap.k8s.plugins.module_utils._pki import (
    KeySpec,
    build_request,
    generate_private_key,
    issue_certificate,
    serialize_certificate,
    serialize_private_key,
)

NOW = datetime.datetime(2026, 11, 22, 8, 0, 0, tzinfo=datetime.timezone.utc)  # noqa: UP017
DAY = datetime.timedelta(days=1)


@dataclass
class Pair:
    cert: x509.Certificate
    key: object

    @property
    def pem(self) -> str:
        return serialize_certificate(self.cert).decode()

    @property
    def key_pem(self) -> str:
        return serialize_private_key(self.key).decode()

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        crt, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        crt.write_text(self.pem)
        key.write_text(self.key_pem)
        key.chmod(0o600)
        return crt, key


def ca(cn: str = "kubernetes-ca", *, now: datetime.datetime = NOW, key: object = None) -> Pair:
    req = build_request({"cn": cn, "is_ca": True, "key": {"algo": "ecdsa", "size": 256}})[0]
    key = key or generate_private_key(KeySpec("ecdsa", 256))
    return Pair(issue_certificate(req, key, now=now), key)


def leaf(issuer: Pair, cn: str, *, days: int = 365, now: datetime.datetime = NOW, hosts: tuple = ()) -> Pair:
    req = build_request(
        {
            "cn": cn,
            "hosts": list(hosts),
            "key": {"algo": "ecdsa", "size": 256},
            "profile": {"expiry": f"{days * 24}h"},
        }
    )[0]
    key = generate_private_key(KeySpec("ecdsa", 256))
    return Pair(issue_certificate(req, key, now=now, issuer_cert=issuer.cert, issuer_key=issuer.key), key)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kubeconfig(ca_pair: Pair, client: Pair, server: str = "https://127.0.0.1:6443") -> str:
    """As the kubeconfig module writes it (PyYAML, one line per field)."""
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {b64(ca_pair.pem)}\n    server: {server}\n  name: airgap\n"
        "contexts:\n- context:\n    cluster: airgap\n    user: u\n  name: u@airgap\ncurrent-context: u@airgap\n"
        "kind: Config\npreferences: {}\nusers:\n- name: u\n  user:\n"
        f"    client-certificate-data: {b64(client.pem)}\n    client-key-data: {b64(client.key_pem)}\n"
    )


# --- a cluster directory and the hosts that match it (safe controller state) --


def identity() -> dict:
    """A cluster's CAs and service-account key."""
    return {
        "ca": ca("kubernetes-ca"),
        "etcd": ca("etcd-ca"),
        "front-proxy": ca("kubernetes-front-proxy-ca"),
        "sa": generate_private_key(KeySpec("ecdsa", 256)),
    }


KEY = "c2VjcmV0LWtleS1ieXRlcy0zMi1ieXRlcy1sb25nISE="


def public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def make_cluster_dir(path: Path, ident, key: str = KEY) -> Path:
    ident["ca"].write(path / "pki", "ca")
    ident["etcd"].write(path / "pki" / "etcd", "ca")
    ident["front-proxy"].write(path / "pki", "front-proxy-ca")
    (path / "pki" / "sa.pub").write_text(public_pem(ident["sa"]))
    (path / "encryption-key").write_text(key + "\n")
    return path


def make_control_plane(root: Path, ident, key: str = KEY) -> dict:
    """A control-plane node that is also an etcd member, as the roles install it."""
    k8s, etcd = root / "etc" / "kubernetes", root / "etc" / "etcd"
    (k8s / "pki" / "etcd").mkdir(parents=True)
    (k8s / "pki" / "ca.crt").write_text(ident["ca"].pem)
    (k8s / "pki" / "etcd" / "ca.crt").write_text(ident["etcd"].pem)
    (k8s / "pki" / "front-proxy-ca.crt").write_text(ident["front-proxy"].pem)
    (k8s / "pki" / "sa.pub").write_text(public_pem(ident["sa"]))
    (k8s / "encryption-config.yaml").write_text(
        "resources:\n  - resources: [secrets]\n    providers:\n      - secretbox:\n          keys:\n"
        f"            - name: key1\n              secret: {key}\n      - identity: {{}}\n"
    )
    (etcd / "pki").mkdir(parents=True)
    (etcd / "pki" / "ca.crt").write_text(ident["etcd"].pem)
    (root / "var" / "lib" / "etcd" / "member").mkdir(parents=True)
    (root / "systemd").mkdir()
    (root / "systemd" / "kube-apiserver.service").write_text("[Service]\n")
    return read_host(root)


def read_host(root: Path) -> dict:
    return _state.host_state(
        etcd_data_dir=str(root / "var" / "lib" / "etcd"),
        kubernetes_dir=str(root / "etc" / "kubernetes"),
        etcd_pki_dir=str(root / "etc" / "etcd" / "pki"),
        systemd_dir=str(root / "systemd"),
    )
