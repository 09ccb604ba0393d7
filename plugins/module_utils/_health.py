# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Shared plumbing for the read-only health-check modules.

Standard library only (urllib + ssl): the checks run on hosts that have
nothing but Python. The readiness decisions live in each module as pure
functions over parsed responses; this file fetches, polls, and holds the
set-up every module's main() shares. The shared options are documented in
the airgap.k8s._health doc fragment.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from ansible.module_utils.basic import AnsibleModule

# One request never waits longer than this, so a black-holed member cannot
# eat the whole wait_timeout of a single attempt.
REQUEST_TIMEOUT = 5.0

T = TypeVar("T")


class FetchError(Exception):
    """The server gave no HTTP answer; str() says why in words a user can act on."""


class ConfigError(Exception):
    """A certificate or key option cannot be used; polling would not fix it."""


def common_argument_spec() -> dict[str, dict[str, Any]]:
    """Options every health module shares (documented in the airgap.k8s._health doc fragment)."""
    return {
        "ca_cert": {"type": "path", "required": True},
        "client_cert": {"type": "path"},
        # A path, not a secret, but kept out of logs all the same.
        "client_key": {"type": "path", "no_log": True},
        "wait_timeout": {"type": "int", "default": 120},
        "wait_sleep": {"type": "int", "default": 2},
    }


def tls_context(ca_cert: str, client_cert: str | None = None, client_key: str | None = None) -> ssl.SSLContext:
    """A client context that trusts only ``ca_cert`` and presents the client certificate, if any.

    Error messages name the option, never the key's path.
    """
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_cert)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"ca_cert cannot be loaded as a PEM CA bundle: {_strerror(exc)}") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert or client_key:
        if not (client_cert and client_key):
            raise ConfigError("client_cert and client_key must be given together")
        try:
            ctx.load_cert_chain(client_cert, client_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"client_cert/client_key cannot be loaded (missing file, not PEM, or the key does not match "
                f"the certificate): {_strerror(exc)}"
            ) from exc
    return ctx


def _strerror(exc: BaseException) -> str:
    # OSError's str() carries the file name; keep only the reason.
    if isinstance(exc, ssl.SSLError):
        return getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# What a client sees when the server hangs up instead of sending a TLS alert,
# typically because the client certificate is missing or not trusted.
_CLOSED = "TLS error: connection closed by the server during the handshake (client certificate missing or refused?)"


def describe_error(exc: BaseException) -> str:
    """Turn a transport exception into a short reason: connection refused, TLS error, timeout..."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        if isinstance(reason, BaseException):
            return describe_error(reason)
        return str(reason)
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None) or exc.strerror or "verify failed"
        if "mismatch" in detail:
            hint = "use a host name or address that is in the certificate's subjectAltName"
        else:
            hint = "is ca_cert the CA that signed it?"
        return f"TLS error: server certificate rejected ({detail}); {hint}"
    if isinstance(exc, ssl.SSLEOFError):
        return _CLOSED
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or str(exc)
        hint = ""
        if any(word in reason for word in ("CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_REQUIRED")):
            hint = (
                "; the server refused the client certificate: give client_cert/client_key signed by a CA the "
                "server trusts"
            )
        return f"TLS error: {reason}{hint}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        return _CLOSED
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror})"
    if isinstance(exc, OSError):
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable"
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


def fetch(
    url: str,
    context: ssl.SSLContext,
    method: str = "GET",
    body: Any = None,
    timeout: float = REQUEST_TIMEOUT,
) -> tuple[int, str]:
    """One HTTP(S) request; returns (status, text) for any HTTP status, raises FetchError otherwise.

    ``body`` is sent as JSON when not None.
    """
    data = None
    headers = {"Accept": "application/json, */*"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    # No redirects to other hosts and no proxies: health checks go straight to the server.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        try:
            text = exc.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            text = ""
        return exc.code, text
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise FetchError(describe_error(exc)) from exc


def fetch_json(
    url: str,
    context: ssl.SSLContext,
    method: str = "GET",
    body: Any = None,
    timeout: float = REQUEST_TIMEOUT,
) -> tuple[int, Any]:
    """Like fetch() but parses the answer as JSON; a non-JSON answer is a FetchError."""
    status, text = fetch(url, context, method=method, body=body, timeout=timeout)
    try:
        return status, json.loads(text)
    except ValueError as exc:
        raise FetchError(f"HTTP {status} with a body that is not JSON: {text[:200]!r}") from exc


def get_json(url: str, context: ssl.SSLContext, timeout: float = REQUEST_TIMEOUT) -> Any:
    """GET a JSON document that must come back 200; anything else is a FetchError with the server's reason."""
    status, text = fetch(url, context, timeout=timeout)
    if status != 200:
        raise FetchError(http_error(status, text))
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FetchError(f"HTTP 200 with a body that is not JSON: {text[:200]!r}") from exc


def http_error(status: int, text: str) -> str:
    """'HTTP 403: <message>' using the message of a Kubernetes Status or grpc-gateway error body."""
    message = ""
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            message = str(doc.get("message") or doc.get("error") or "")
    except ValueError:
        message = text.strip().splitlines()[0] if text.strip() else ""
    hint = ""
    if status in (401, 403):
        hint = " (check client_cert/client_key: the user must be allowed to read this)"
    return f"HTTP {status}{': ' + message[:300] if message else ''}{hint}"


def join_url(base: str, path: str, query: dict[str, str] | None = None) -> str:
    """``base`` (scheme://host:port[/prefix]) + ``path``, with an optional query string."""
    url = base.rstrip("/") + "/" + path.lstrip("/")
    if query:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
    return url


def wait_for(
    check: Callable[[], T],
    timeout: float,
    sleep: float,
    *,
    done: Callable[[T], bool] | None = None,
    monotonic: Callable[[], float] | None = None,
    sleeper: Callable[[float], None] | None = None,
) -> T:
    """Call ``check`` until ``done(result)`` or ``timeout`` seconds pass; return the last result.

    ``check`` runs at least once, and once more at the deadline, so a timeout
    of 0 means "look once". ``done`` defaults to the result's ``ok`` attribute.
    The clock and sleep are injectable so tests run without waiting.
    """
    if done is None:

        def done(result: T) -> bool:
            return bool(getattr(result, "ok"))  # noqa: B009 (T is any report with .ok)

    # Looked up per call, not bound as defaults, so a test can swap this module's ``time``.
    monotonic = monotonic or time.monotonic
    sleeper = sleeper or time.sleep
    deadline = monotonic() + max(0.0, timeout)
    while True:
        result = check()
        if done(result):
            return result
        remaining = deadline - monotonic()
        if remaining <= 0:
            return result
        sleeper(max(0.0, min(sleep, remaining)))


# --- the modules' main() -----------------------------------------------------

# What the modules that ask the Kubernetes API want in ``url``.
APISERVER_URL = "the apiserver, e.g. https://127.0.0.1:6443"


def health_module(argument_spec: dict[str, dict[str, Any]], url_option: str, url_target: str) -> AnsibleModule:
    """The AnsibleModule of a health check, failed unless its URLs are https://.

    ``argument_spec`` includes common_argument_spec(). The check only reads, so
    it runs in check mode as it does otherwise. ``url_option`` holds one URL (a
    str) or several (a list); ``url_target`` says what they are the URLs of.
    """
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=[("client_cert", "client_key")],
        supports_check_mode=True,
    )
    value = module.params[url_option]
    many = isinstance(value, list)
    bad = [url for url in (value if many else [value]) if not url.startswith("https://")]
    if bad:
        kind = "https:// URLs" if many else "an https:// URL"
        module.fail_json(msg=f"{url_option} must be {kind} of {url_target}; got {', '.join(bad)}")
    return module


def module_tls_context(module: AnsibleModule) -> ssl.SSLContext:
    """tls_context() from the module's ca_cert, client_cert and client_key; a ConfigError fails the module."""
    p = module.params
    try:
        return tls_context(p["ca_cert"], p["client_cert"], p["client_key"])
    except ConfigError as exc:
        module.fail_json(msg=str(exc))


def poll_and_exit(module: AnsibleModule, check: Callable[[], Any], unhealthy: str, *, fail: bool = True) -> NoReturn:
    """Poll ``check`` for the module's wait_timeout, every wait_sleep, and exit with the last report.

    Fails with "<unhealthy> after waiting <n>s: <problems>" when the report is
    not ok and ``fail`` is true. Never changed: the checks only read.
    """
    p = module.params
    report = wait_for(check, p["wait_timeout"], p["wait_sleep"])
    result = report.as_dict()
    if not report.ok and fail:
        module.fail_json(
            msg=f"{unhealthy} after waiting {p['wait_timeout']}s: " + "; ".join(report.problems),
            changed=False,
            **result,
        )
    module.exit_json(changed=False, **result)
