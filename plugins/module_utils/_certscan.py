# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Find the certificates a host uses: PEM files, kubeconfigs, TLS endpoints.

Private to the collection. Standard library only, because it runs on the
cluster's hosts, which need no Python packages: it returns the certificates
as PEM text and leaves parsing to the controller (``_certreport``). Private
keys are never read into a result: only ``CERTIFICATE`` blocks leave a PEM
file, and only the certificate fields leave a kubeconfig.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import socket
import ssl
import typing as t
from dataclasses import asdict, dataclass

PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----",
)
# Files a directory scan reads: certificates and kubeconfigs, never *.key.
CERTIFICATE_SUFFIXES = (".crt", ".pem", ".cert")
KUBECONFIG_SUFFIXES = (".conf", ".kubeconfig")
# The kubeconfig fields that hold or name a certificate (never client-key*).
_KUBECONFIG_FIELD = re.compile(
    r"^[\s-]*(certificate-authority-data|client-certificate-data|certificate-authority|client-certificate)"
    r"\s*:\s*[\"']?([^\"'\s]+)[\"']?\s*$",
    re.MULTILINE,
)
MAX_FILE_SIZE = 1 << 20  # certificates and kubeconfigs are small; anything bigger is not one


@dataclass(frozen=True)
class Found:
    """One certificate and where it was found."""

    location: str  # a file, "<kubeconfig>#<field>", or "https://host:port"
    kind: str  # "file", "kubeconfig" or "endpoint"
    index: int  # position among the certificates of that location (0: the leaf of a chain)
    pem: str

    def as_dict(self) -> dict[str, t.Any]:
        return asdict(self)


def pem_certificates(text: str) -> list[str]:
    """Every PEM certificate block in ``text``, normalised to end with a newline."""
    return [block.strip() + "\n" for block in PEM_CERTIFICATE.findall(text)]


def _read_text(path: str) -> str:
    if os.path.getsize(path) > MAX_FILE_SIZE:
        raise ValueError(f"larger than {MAX_FILE_SIZE} bytes, not a certificate file")
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def file_certificates(path: str) -> list[Found]:
    """The certificates in a PEM file (a bundle or a cert+key file gives only its certificates)."""
    return [Found(path, "file", i, pem) for i, pem in enumerate(pem_certificates(_read_text(path)))]


def kubeconfig_certificates(path: str, text: str | None = None) -> list[Found]:
    """The CA and client certificates of a kubeconfig: embedded (``*-data``) or referenced files.

    Line based, so it needs no YAML library on the host; kubeconfigs written by
    kubectl, kubeadm and this collection keep each of these fields on one line.
    """
    text = _read_text(path) if text is None else text
    base = os.path.dirname(path)
    found: list[Found] = []
    for field, value in _KUBECONFIG_FIELD.findall(text):
        location = f"{path}#{field}"
        if field.endswith("-data"):
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                raise ValueError(f"{field} is not base64") from None
        else:
            referenced = value if os.path.isabs(value) else os.path.join(base, value)
            location = f"{path}#{field}={referenced}"
            decoded = _read_text(referenced)
        found.extend(Found(location, "kubeconfig", i, pem) for i, pem in enumerate(pem_certificates(decoded)))
    return found


def _wanted(name: str) -> bool:
    return name.endswith(CERTIFICATE_SUFFIXES + KUBECONFIG_SUFFIXES)


def _scan_file(path: str) -> list[Found]:
    if path.endswith(KUBECONFIG_SUFFIXES):
        return kubeconfig_certificates(path)
    return file_certificates(path)


def scan(paths: t.Iterable[str]) -> tuple[list[Found], list[dict[str, str]], list[str]]:
    """Certificates under ``paths`` (files, or directories searched recursively for
    *.crt, *.pem, *.cert, *.conf and *.kubeconfig).

    Returns (found, errors as ``{path, error}``, paths that do not exist). A file
    reached twice (through a symlink such as kubelet-client-current.pem) is read
    once, under its own name.
    """
    found: list[Found] = []
    errors: list[dict[str, str]] = []
    missing: list[str] = []
    seen: set[str] = set()

    def read(path: str) -> None:
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
        try:
            found.extend(_scan_file(path))
        except (OSError, ValueError) as exc:
            errors.append({"path": path, "error": getattr(exc, "strerror", None) or str(exc)})

    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                # Files before the links to them, so a file is named by its own path.
                for name in sorted(files, key=lambda n: (os.path.islink(os.path.join(root, n)), n)):
                    if _wanted(name) and os.path.isfile(os.path.join(root, name)):
                        read(os.path.join(root, name))
        elif os.path.isfile(path):
            read(path)
        else:
            missing.append(path)
    return found, errors, missing


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``https://host:port`` to (host, port)."""
    text = endpoint.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.rstrip("/")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"{endpoint!r} is not host:port")
    return host.strip("[]"), int(port)


def endpoint_certificate(endpoint: str, timeout: float = 5.0) -> Found:
    """The certificate a TLS server presents (not verified: this only reads what is served).

    TLS 1.3 servers that want a client certificate still show theirs first, so
    etcd and the kubelet answer too.
    """
    host, port = split_endpoint(endpoint)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=host if not _is_ip(host) else None) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ValueError("the server presented no certificate")
    shown = f"[{host}]" if ":" in host else host
    return Found(f"https://{shown}:{port}", "endpoint", 0, ssl.DER_cert_to_PEM_cert(der))


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
