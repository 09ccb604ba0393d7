from __future__ import annotations

import datetime
import errno
import http.client
import http.server
import ipaddress
import json
import socket
import ssl
import threading
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.airgap.k8s.plugins.module_utils import _health
from ansible_collections.airgap.k8s.plugins.module_utils._health import (
    ConfigError,
    FetchError,
    describe_error,
    fetch,
    fetch_json,
    get_json,
    http_error,
    join_url,
    tls_context,
    wait_for,
)

# --- wait_for with a fake clock ---------------------------------------------


class FakeClock:
    """monotonic() and sleep() that only move when told; checks can take time too."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Result:
    ok: bool
    at: float


def checker(clock: FakeClock, oks: list[bool], cost: float = 0.0):
    calls: list[float] = []

    def check() -> Result:
        calls.append(clock.now)
        clock.now += cost
        ok = oks[len(calls) - 1] if len(calls) <= len(oks) else oks[-1]
        return Result(ok=ok, at=calls[-1])

    return check, calls


def test_wait_for_returns_at_once_when_ready():
    clock = FakeClock()
    check, calls = checker(clock, [True])
    result = wait_for(check, 120, 2, monotonic=clock.monotonic, sleeper=clock.sleep)
    assert result.ok
    assert calls == [100.0]
    assert clock.sleeps == []


def test_wait_for_polls_every_sleep_until_ready():
    clock = FakeClock()
    check, calls = checker(clock, [False, False, True])
    result = wait_for(check, 120, 2, monotonic=clock.monotonic, sleeper=clock.sleep)
    assert result.ok
    assert calls == [100.0, 102.0, 104.0]
    assert clock.sleeps == [2, 2]


def test_wait_for_gives_up_at_the_deadline_with_a_last_look():
    clock = FakeClock()
    check, calls = checker(clock, [False])
    result = wait_for(check, 5, 2, monotonic=clock.monotonic, sleeper=clock.sleep)
    assert not result.ok
    # 0, 2, 4 and one more exactly at the deadline: the last sleep is shortened, never past it.
    assert calls == [100.0, 102.0, 104.0, 105.0]
    assert clock.sleeps == [2, 2, 1]
    assert result.at == 105.0


def test_wait_for_with_zero_timeout_looks_once():
    clock = FakeClock()
    check, calls = checker(clock, [False])
    assert not wait_for(check, 0, 2, monotonic=clock.monotonic, sleeper=clock.sleep).ok
    assert calls == [100.0]
    assert clock.sleeps == []


def test_wait_for_counts_the_time_checks_take():
    clock = FakeClock()
    check, calls = checker(clock, [False], cost=3.0)
    wait_for(check, 5, 2, monotonic=clock.monotonic, sleeper=clock.sleep)
    # 100 (ends 103), sleep 2 -> 105 = deadline (ends 108): stop, no third try past the deadline.
    assert calls == [100.0, 105.0]
    assert clock.sleeps == [2]


def test_wait_for_uses_a_custom_done():
    clock = FakeClock()
    values = iter([1, 2, 3, 4])
    result = wait_for(
        lambda: next(values), 60, 1, done=lambda v: v >= 3, monotonic=clock.monotonic, sleeper=clock.sleep
    )
    assert result == 3
    assert clock.sleeps == [1, 1]


def test_wait_for_default_clock_is_looked_up_at_call_time(monkeypatch):
    clock = FakeClock()

    class FakeTime:
        monotonic = staticmethod(clock.monotonic)
        sleep = staticmethod(clock.sleep)

    monkeypatch.setattr(_health, "time", FakeTime)
    check, calls = checker(clock, [False, True])
    assert wait_for(check, 10, 3).ok
    assert calls == [100.0, 103.0]
    assert clock.sleeps == [3]


# --- certificates for the TLS tests -----------------------------------------


def _cert(cn, key, issuer=None, *, ca=False, eku=(), sans=()):
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[1].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return b.sign(issuer[0] if issuer else key, hashes.SHA256())


def _write(d: Path, stem: str, key, cert) -> tuple[str, str]:
    (d / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / f"{stem}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(d / f"{stem}.crt"), str(d / f"{stem}.key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    out = {}
    for ca_name in ("ca", "other-ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(ca_name, key, ca=True)
        out[ca_name] = (key, cert, _write(d, ca_name, key, cert)[0])
    ca = out["ca"][:2]
    leaf = {}
    for stem, issuer, eku, sans in (
        ("server", ca, [ExtendedKeyUsageOID.SERVER_AUTH], [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        ("client", ca, [ExtendedKeyUsageOID.CLIENT_AUTH], []),
        ("foreign", out["other-ca"][:2], [ExtendedKeyUsageOID.CLIENT_AUTH], []),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        leaf[stem] = _write(d, stem, key, _cert(stem, key, issuer, eku=eku, sans=sans))
    return {"dir": d, "ca": out["ca"][2], "other_ca": out["other-ca"][2], **leaf}


# --- tls_context ------------------------------------------------------------


def test_tls_context_verifies_the_server_and_carries_the_client_cert(pki):
    ctx = tls_context(pki["ca"], *pki["client"])
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_tls_context_without_client_cert_is_fine(pki):
    assert tls_context(pki["ca"]).verify_mode == ssl.CERT_REQUIRED


def test_tls_context_missing_ca_names_the_option(pki):
    with pytest.raises(ConfigError, match=r"^ca_cert cannot be loaded"):
        tls_context(str(pki["dir"] / "nope.crt"))


def test_tls_context_key_that_does_not_match_never_shows_its_path(pki):
    cert, _ = pki["client"]
    _, wrong_key = pki["foreign"]
    with pytest.raises(ConfigError, match="client_cert/client_key cannot be loaded") as info:
        tls_context(pki["ca"], cert, wrong_key)
    assert wrong_key not in str(info.value)
    assert "foreign" not in str(info.value)


def test_tls_context_missing_key_file_never_shows_its_path(pki):
    secret_path = str(pki["dir"] / "secret-dir" / "admin.key")
    with pytest.raises(ConfigError) as info:
        tls_context(pki["ca"], pki["client"][0], secret_path)
    assert "secret-dir" not in str(info.value)


def test_tls_context_wants_cert_and_key_together(pki):
    with pytest.raises(ConfigError, match="together"):
        tls_context(pki["ca"], pki["client"][0], None)


# --- describe_error ---------------------------------------------------------


def _ssl_error(reason: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()}")
    exc.reason = reason
    return exc


def _verify_error(message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = message
    return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (urllib.error.URLError(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")), "connection refused"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused"),
        (urllib.error.URLError(TimeoutError("timed out")), "timed out"),
        (TimeoutError("The read operation timed out"), "timed out"),
        (
            urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
            "cannot resolve host (Name or service not known)",
        ),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "host unreachable"),
        (
            urllib.error.URLError(_verify_error("unable to get local issuer certificate")),
            "TLS error: server certificate rejected (unable to get local issuer certificate); is ca_cert the CA",
        ),
        (
            _verify_error("IP address mismatch, certificate is not valid for '192.0.2.9'."),
            "TLS error: server certificate rejected (IP address mismatch",
        ),
        (_ssl_error("SSLV3_ALERT_BAD_CERTIFICATE"), "TLS error: SSLV3_ALERT_BAD_CERTIFICATE; the server refused"),
        (_ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"), "TLS error: TLSV13_ALERT_CERTIFICATE_REQUIRED; the server"),
        (_ssl_error("WRONG_VERSION_NUMBER"), "TLS error: WRONG_VERSION_NUMBER"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "TLS error: connection closed"),
        (http.client.RemoteDisconnected("Remote end closed connection"), "TLS error: connection closed"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "TLS error: connection closed"),
    ],
)
def test_describe_error(exc, expected):
    assert describe_error(exc).startswith(expected)


def test_describe_error_hostname_hint():
    assert "subjectAltName" in describe_error(_verify_error("Hostname mismatch, certificate is not valid for 'x'."))


def test_describe_plain_ssl_error_has_no_client_cert_hint():
    assert "client certificate" not in describe_error(_ssl_error("WRONG_VERSION_NUMBER"))


# --- http_error and join_url ------------------------------------------------


def test_http_error_uses_the_kubernetes_status_message():
    body = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": 'nodes is forbidden: User "system:anonymous" cannot list resource "nodes" in API group "" at '
            "the cluster scope",
            "reason": "Forbidden",
            "details": {"kind": "nodes"},
            "code": 403,
        }
    )
    msg = http_error(403, body)
    assert msg.startswith('HTTP 403: nodes is forbidden: User "system:anonymous"')
    assert "check client_cert/client_key" in msg


def test_http_error_uses_the_grpc_gateway_error():
    body = json.dumps(
        {"error": "etcdserver: request timed out", "code": 14, "message": "etcdserver: request timed out"}
    )
    assert http_error(503, body) == "HTTP 503: etcdserver: request timed out"


def test_http_error_with_text_and_empty_bodies():
    assert http_error(500, "internal error\nmore") == "HTTP 500: internal error"
    assert http_error(502, "") == "HTTP 502"


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        ("https://127.0.0.1:6443", "/livez?verbose", None, "https://127.0.0.1:6443/livez?verbose"),
        ("https://127.0.0.1:6443/", "api/v1/nodes", None, "https://127.0.0.1:6443/api/v1/nodes"),
        (
            "https://lb:6443",
            "/api/v1/namespaces/kube-system/pods",
            {"labelSelector": "k8s-app=kube-dns"},
            "https://lb:6443/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-dns",
        ),
        ("https://h:1", "/livez?verbose", {"exclude": "etcd"}, "https://h:1/livez?verbose&exclude=etcd"),
    ],
)
def test_join_url(base, path, query, expected):
    assert join_url(base, path, query) == expected


# --- fetch against a real loopback HTTPS server -----------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code: int, body: str, ctype: str = "application/json") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/json":
            self._send(200, '{"health":"true"}')
        elif self.path == "/forbidden":
            self._send(403, json.dumps({"kind": "Status", "message": "nodes is forbidden", "code": 403}))
        elif self.path == "/unavailable":
            self._send(503, '{"health":"false","reason":"RAFT NO LEADER"}')
        elif self.path == "/text":
            self._send(200, "ok", "text/plain")
        else:
            self._send(404, "404 page not found\n", "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        self._send(200, json.dumps({"got": json.loads(body), "ctype": self.headers.get("Content-Type")}))


def _serve(pki, require_client_cert: bool):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pki["server"])
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki["ca"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def server(pki):
    srv, thread = _serve(pki, require_client_cert=True)
    yield f"https://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_get_json_over_mutual_tls(server, pki):
    ctx = tls_context(pki["ca"], *pki["client"])
    assert get_json(server + "/json", ctx, timeout=5) == {"health": "true"}


def test_fetch_returns_error_statuses_with_their_body(server, pki):
    ctx = tls_context(pki["ca"], *pki["client"])
    assert fetch_json(server + "/unavailable", ctx, timeout=5) == (503, {"health": "false", "reason": "RAFT NO LEADER"})
    assert fetch(server + "/text", ctx, timeout=5) == (200, "ok")


def test_get_json_turns_http_errors_into_fetch_errors(server, pki):
    ctx = tls_context(pki["ca"], *pki["client"])
    with pytest.raises(FetchError, match=r"^HTTP 403: nodes is forbidden"):
        get_json(server + "/forbidden", ctx, timeout=5)
    with pytest.raises(FetchError, match="not JSON"):
        get_json(server + "/text", ctx, timeout=5)


def test_fetch_json_posts_a_json_body(server, pki):
    ctx = tls_context(pki["ca"], *pki["client"])
    status, doc = fetch_json(server + "/v3/maintenance/status", ctx, method="POST", body={}, timeout=5)
    assert status == 200
    assert doc == {"got": {}, "ctype": "application/json"}


def test_server_that_wants_a_client_cert_is_a_tls_error(server, pki):
    with pytest.raises(FetchError, match=r"^TLS error") as info:
        get_json(server + "/json", tls_context(pki["ca"]), timeout=5)
    assert "client" in str(info.value)


def test_client_cert_from_another_ca_is_a_tls_error(server, pki):
    with pytest.raises(FetchError, match=r"^TLS error"):
        get_json(server + "/json", tls_context(pki["ca"], *pki["foreign"]), timeout=5)


def test_server_cert_from_another_ca_is_rejected(server, pki):
    with pytest.raises(FetchError, match=r"^TLS error: server certificate rejected .*is ca_cert the CA"):
        get_json(server + "/json", tls_context(pki["other_ca"], *pki["client"]), timeout=5)


def test_closed_port_is_connection_refused(pki):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match=r"^connection refused$"):
        get_json(f"https://127.0.0.1:{port}/health", tls_context(pki["ca"]), timeout=5)


def test_common_argument_spec_keeps_the_key_path_out_of_logs():
    spec = _health.common_argument_spec()
    assert spec["client_key"]["no_log"] is True
    assert spec["ca_cert"]["required"] is True
    assert (spec["wait_timeout"]["default"], spec["wait_sleep"]["default"]) == (120, 2)


# --- the set-up the modules' main() share ------------------------------------


URL_CASES = {
    "url": (
        {"type": "str", "required": True},
        "http://127.0.0.1:8080",
        _health.APISERVER_URL,
        "url must be an https:// URL of the apiserver, e.g. https://127.0.0.1:6443; got http://127.0.0.1:8080",
    ),
    "endpoints": (
        {"type": "list", "elements": "str", "required": True},
        ["https://192.0.2.11:2379", "http://192.0.2.12:2379", "192.0.2.13:2379"],
        "etcd client ports",
        "endpoints must be https:// URLs of etcd client ports; got http://192.0.2.12:2379, 192.0.2.13:2379",
    ),
}


@pytest.mark.parametrize("option", list(URL_CASES))
def test_health_module_names_the_urls_that_are_not_https(run_module, option):
    spec, value, target, msg = URL_CASES[option]

    def main():
        _health.health_module({**_health.common_argument_spec(), option: spec}, option, target)
        raise AssertionError("health_module accepted a URL that is not https://")

    run = run_module(main, {option: value, "ca_cert": "/etc/kubernetes/pki/ca.crt"})
    assert run.failed
    assert run.result["msg"] == msg


def test_health_module_runs_in_check_mode_and_wants_cert_and_key_together(run_module, pki):
    def main():
        module = _health.health_module(
            {**_health.common_argument_spec(), "url": {"type": "str"}}, "url", _health.APISERVER_URL
        )
        module.exit_json(changed=False, check_mode=module.check_mode)

    args = {"url": "https://127.0.0.1:6443", "ca_cert": pki["ca"]}
    assert run_module(main, args, check_mode=True).result["check_mode"] is True
    run = run_module(main, {**args, "client_cert": pki["client"][0]})
    assert run.failed
    assert "client_cert" in run.result["msg"] and "client_key" in run.result["msg"]


def test_module_tls_context_fails_the_module_with_the_config_error(run_module, pki):
    def main():
        module = _health.health_module(
            {**_health.common_argument_spec(), "url": {"type": "str"}}, "url", _health.APISERVER_URL
        )
        _health.module_tls_context(module)
        module.exit_json(changed=False)

    ok = run_module(main, {"url": "https://127.0.0.1:6443", "ca_cert": pki["ca"]})
    assert not ok.failed, ok.result
    run = run_module(main, {"url": "https://127.0.0.1:6443", "ca_cert": str(pki["dir"] / "missing-ca.crt")})
    assert run.failed
    assert run.result["msg"].startswith("ca_cert cannot be loaded as a PEM CA bundle")
