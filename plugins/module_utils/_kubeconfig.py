# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Kubeconfig files with embedded certificates.

Private to the collection. Pure functions: build the wanted document, compare
it with what is on disk, and render a diff that never shows key data.
"""

from __future__ import annotations

import base64
import copy
import typing as t
import urllib.parse

from ansible_collections.airgap.k8s.plugins.module_utils._pki import (
    PkiError,
    describe_certificate,
    parse_certificates,
)

KEY_FIELD = "client-key-data"
CERT_FIELDS = ("certificate-authority-data", "client-certificate-data")


def validate_server(server: str) -> str:
    """The API server URL: https, with a host and a valid port."""
    text = (server or "").strip()
    try:
        parsed = urllib.parse.urlsplit(text)
        parsed_port = parsed.port  # ValueError unless a number in range
        del parsed_port
    except ValueError as exc:
        problem = str(exc)
    else:
        problem = None
        if parsed.scheme != "https":
            problem = "the scheme must be https (the API server only serves TLS)"
        elif not parsed.hostname:
            problem = "it has no host"
        elif parsed.query or parsed.fragment or parsed.username:
            problem = "it must not carry a query, a fragment or credentials"
    if problem:
        raise PkiError(f"server: {server!r} is not a usable API server URL: {problem}; e.g. https://10.0.0.10:6443")
    return text


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_kubeconfig(
    *,
    cluster_name: str,
    server: str,
    user: str,
    context: str,
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
) -> dict[str, t.Any]:
    """The document ``kubectl config view --raw`` shows for one cluster, user and context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"certificate-authority-data": _b64(ca_pem), "server": server},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(cert_pem), KEY_FIELD: _b64(key_pem)},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def default_context(user: str, cluster_name: str) -> str:
    """kubeadm's naming: ``kubernetes-admin@kubernetes``."""
    return f"{user}@{cluster_name}"


def _describe_cert_data(value: t.Any) -> str:
    try:
        certs = parse_certificates(base64.b64decode(str(value), validate=True), "data")
    except (PkiError, ValueError):
        return "<not a PEM certificate>"
    parts = []
    for cert in certs:
        info = describe_certificate(cert)
        parts.append(f"{info['subject']} (until {info['not_after']}, sha256 {info['sha256_fingerprint']})")
    return "<certificate " + "; ".join(parts) + ">"


def redact(config: t.Any, previous: t.Any = None) -> t.Any:
    """A copy for display: certificates summarised, private keys hidden.

    With ``previous`` (the document on disk), a key that differs from it shows
    as changed without showing either value.
    """
    if not isinstance(config, dict):
        return config
    result = copy.deepcopy(config)
    previous_keys = {}
    if isinstance(previous, dict):
        previous_keys = {
            entry.get("name"): entry["user"].get(KEY_FIELD)
            for entry in _entries(previous, "users")
            if isinstance(entry.get("user"), dict)
        }
    for entry in _entries(result, "users"):
        user = entry.get("user")
        if not isinstance(user, dict):
            continue
        if KEY_FIELD in user:
            changed = previous is not None and previous_keys.get(entry.get("name")) != user[KEY_FIELD]
            user[KEY_FIELD] = "<private key, redacted, changed>" if changed else "<private key, redacted>"
        if "client-certificate-data" in user:
            user["client-certificate-data"] = _describe_cert_data(user["client-certificate-data"])
    for entry in _entries(result, "clusters"):
        cluster = entry.get("cluster")
        if isinstance(cluster, dict) and "certificate-authority-data" in cluster:
            cluster["certificate-authority-data"] = _describe_cert_data(cluster["certificate-authority-data"])
    return result


def _entries(config: dict[str, t.Any], section: str) -> list[dict[str, t.Any]]:
    value = config.get(section)
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict)]
