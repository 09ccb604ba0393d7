"""_certscan: what a host's certificate collection returns, and what it never does (keys)."""

from __future__ import annotations

import os
import socket
import ssl
import threading

import pytest
from _pkifactory import ca, kubeconfig, leaf
from cryptography import x509

from ansible_collections.airgap.k8s.plugins.module_utils import _certscan


@pytest.fixture(scope="module")
def pki():
    root = ca()
    return {"ca": root, "server": leaf(root, "kube-apiserver", hosts=("127.0.0.1",)), "client": leaf(root, "admin")}


def serial(pem: str) -> int:
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def test_a_cert_and_key_file_gives_only_the_certificate(tmp_path, pki):
    pem = tmp_path / "healthcheck.pem"
    pem.write_text(pki["client"].pem + pki["client"].key_pem)
    found = _certscan.file_certificates(str(pem))
    assert [serial(f.pem) for f in found] == [pki["client"].cert.serial_number]
    assert all("PRIVATE KEY" not in f.pem for f in found)
    assert found[0].kind == "file" and found[0].location == str(pem)


def test_a_bundle_gives_each_certificate_in_order(tmp_path, pki):
    bundle = tmp_path / "ca-bundle.crt"
    bundle.write_text(pki["server"].pem + pki["ca"].pem)
    found = _certscan.file_certificates(str(bundle))
    assert [(f.index, serial(f.pem)) for f in found] == [
        (0, pki["server"].cert.serial_number),
        (1, pki["ca"].cert.serial_number),
    ]


def test_kubeconfig_gives_ca_and_client_certificates_never_the_key(tmp_path, pki):
    conf = tmp_path / "kubelet.conf"
    conf.write_text(kubeconfig(pki["ca"], pki["client"]))
    found = _certscan.kubeconfig_certificates(str(conf))
    assert {f.location: serial(f.pem) for f in found} == {
        f"{conf}#certificate-authority-data": pki["ca"].cert.serial_number,
        f"{conf}#client-certificate-data": pki["client"].cert.serial_number,
    }
    assert all(f.kind == "kubeconfig" and "PRIVATE KEY" not in f.pem for f in found)


def test_kubeconfig_with_referenced_files(tmp_path, pki):
    """A kubelet with certificate rotation names its current client pem instead of embedding it."""
    pki["client"].write(tmp_path / "pki", "kubelet-client-current")
    conf = tmp_path / "kubelet.conf"
    conf.write_text(
        "users:\n- name: default-auth\n  user:\n"
        "    client-certificate: pki/kubelet-client-current.crt\n    client-key: pki/kubelet-client-current.key\n"
    )
    (found,) = _certscan.kubeconfig_certificates(str(conf))
    assert found.location == f"{conf}#client-certificate={tmp_path}/pki/kubelet-client-current.crt"
    assert serial(found.pem) == pki["client"].cert.serial_number


def test_kubeconfig_with_bad_base64_is_an_error(tmp_path):
    conf = tmp_path / "admin.conf"
    conf.write_text("    client-certificate-data: not*base64\n")
    with pytest.raises(ValueError, match="not base64"):
        _certscan.kubeconfig_certificates(str(conf))


def test_scan_reads_certificates_and_kubeconfigs_not_keys_and_reports_the_rest(tmp_path, pki):
    etc = tmp_path / "etc" / "kubernetes"
    pki["ca"].write(etc / "pki", "ca")
    pki["server"].write(etc / "pki", "apiserver")
    (etc / "admin.conf").write_text(kubeconfig(pki["ca"], pki["client"]))
    (etc / "audit-policy.yaml").write_text("-----BEGIN CERTIFICATE-----\nnot read\n-----END CERTIFICATE-----\n")
    (etc / "broken.conf").write_text("client-certificate-data: %%%\n")
    # A symlink to a file already read (kubelet-client-current.pem) is read once.
    os.symlink(etc / "pki" / "ca.crt", etc / "pki" / "ca-current.pem")
    found, errors, missing = _certscan.scan([str(etc), str(tmp_path / "etc" / "etcd" / "pki")])
    locations = sorted(f.location for f in found)
    assert locations == sorted(
        [
            f"{etc}/admin.conf#certificate-authority-data",
            f"{etc}/admin.conf#client-certificate-data",
            f"{etc}/pki/apiserver.crt",
            f"{etc}/pki/ca.crt",
        ]
    )
    assert errors == [{"path": f"{etc}/broken.conf", "error": "client-certificate-data is not base64"}]
    assert missing == [str(tmp_path / "etc" / "etcd" / "pki")]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("10.0.0.11:2379", ("10.0.0.11", 2379)),
        ("https://10.0.0.11:6443/", ("10.0.0.11", 6443)),
        ("[fd00::1]:10250", ("fd00::1", 10250)),
        ("fd00::1:10250", ("fd00::1", 10250)),
    ],
)
def test_split_endpoint(endpoint, expected):
    assert _certscan.split_endpoint(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["10.0.0.11", "10.0.0.11:http", "10.0.0.11:0", ":6443"])
def test_split_endpoint_refuses(endpoint):
    with pytest.raises(ValueError, match="not host:port"):
        _certscan.split_endpoint(endpoint)


@pytest.fixture
def tls_server(tmp_path, pki):
    """A TLS 1.3 server that, like etcd and the kubelet, insists on a client certificate."""
    crt, key = pki["server"].write(tmp_path, "server")
    ca_file, _ = pki["ca"].write(tmp_path, "ca")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    context.load_verify_locations(ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        for _ in range(2):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()


def test_endpoint_certificate_reads_what_a_client_cert_server_presents(tls_server, pki):
    found = _certscan.endpoint_certificate(f"127.0.0.1:{tls_server}", timeout=5)
    assert found.kind == "endpoint" and found.location == f"https://127.0.0.1:{tls_server}"
    assert serial(found.pem) == pki["server"].cert.serial_number


def test_endpoint_refused_is_an_oserror():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        _certscan.endpoint_certificate(f"127.0.0.1:{port}", timeout=2)
