# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""cfssl-style certificate requests on top of ``cryptography``.

Private to the collection. Everything except the file helpers at the end is
a pure function of its arguments (the clock comes from ``utcnow``), so the
modules stay thin and the rules are unit-tested without Ansible.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import re
import stat
import tempfile
import traceback
import typing as t
from dataclasses import dataclass

CRYPTOGRAPHY_IMP_ERR: str | None = None
try:
    import cryptography
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtensionOID, NameOID
except ImportError:  # pragma: no cover - exercised through the modules' missing_required_lib
    CRYPTOGRAPHY_IMP_ERR = traceback.format_exc()
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True

# Loading an RSA key checks its mathematical consistency, which is most of
# the CPU a no-change run spends in these modules (one load per certificate
# and kubeconfig). The keys read here are the collection's own, and a key
# that does not belong to its certificate is still caught: every reuse
# compares the public keys (same_public_key). Cryptography 39 added the
# switch; older releases (Debian 12 has 38) keep the check.
_LOAD_KEY_OPTIONS: dict[str, bool] = (
    {"unsafe_skip_rsa_key_validation": True}
    if HAS_CRYPTOGRAPHY and int(cryptography.__version__.split(".")[0]) >= 39
    else {}
)

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible.module_utils.basic import AnsibleModule

    PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class PkiError(ValueError):
    """A request or an input file the user has to fix; the message says how."""


# --- vocabulary --------------------------------------------------------------

KEY_SIZES: dict[str, tuple[int, ...]] = {"rsa": (2048, 3072, 4096), "ecdsa": (256, 384)}
DEFAULT_KEY_SIZE = {"rsa": 2048, "ecdsa": 256}
_CURVE_SIZES = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}

# cfssl usage names (config/config.go KeyUsage and ExtKeyUsage) mapped to
# x509.KeyUsage arguments and to extended key usage OIDs.
KEY_USAGES = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
EXT_KEY_USAGES = {
    "any": "2.5.29.37.0",
    "server auth": "1.3.6.1.5.5.7.3.1",
    "client auth": "1.3.6.1.5.5.7.3.2",
    "code signing": "1.3.6.1.5.5.7.3.3",
    "email protection": "1.3.6.1.5.5.7.3.4",
    "s/mime": "1.3.6.1.5.5.7.3.4",
    "ipsec end system": "1.3.6.1.5.5.7.3.5",
    "ipsec tunnel": "1.3.6.1.5.5.7.3.6",
    "ipsec user": "1.3.6.1.5.5.7.3.7",
    "timestamping": "1.3.6.1.5.5.7.3.8",
    "ocsp signing": "1.3.6.1.5.5.7.3.9",
    "microsoft sgc": "1.3.6.1.4.1.311.10.3.3",
    "netscape sgc": "2.16.840.1.113730.4.1",
}
# Preferred display name for each x509 value (the first cfssl name listed above
# is an alias for some of them).
_KEY_USAGE_NAMES = {attr: name for name, attr in reversed(KEY_USAGES.items()) if name not in ("signing",)}
_EXT_KEY_USAGE_NAMES = {oid: name for name, oid in reversed(EXT_KEY_USAGES.items()) if name != "s/mime"}
_KEY_USAGE_ATTRS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)

DEFAULT_CA_USAGES = ("cert sign", "crl sign")
DEFAULT_LEAF_USAGES = ("digital signature", "key encipherment", "server auth", "client auth")
DEFAULT_CA_EXPIRY = "87600h"
DEFAULT_LEAF_EXPIRY = "8760h"
DEFAULT_LEAF_RENEW_BEFORE = "720h"
CA_RENEW_FRACTION = 10  # a CA is renewed in the last 1/10 of its lifetime
BACKDATE = datetime.timedelta(minutes=5)
# Modules may run on a target's Python older than 3.11 (no datetime.UTC).
UTC = datetime.timezone.utc  # noqa: UP017

# Subject attribute order follows cfssl (Go's pkix.Name): C, ST, L, O, OU, CN.
NAME_FIELDS = ("C", "ST", "L", "O", "OU")

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700


@dataclass(frozen=True)
class KeySpec:
    algo: str
    size: int

    def __str__(self) -> str:
        return f"{self.algo} {self.size}"


@dataclass(frozen=True)
class CertRequest:
    """A validated certificate request: what the certificate on disk must be."""

    cn: str
    hosts: tuple[str, ...]
    key: KeySpec
    names: tuple[tuple[str, str], ...]
    is_ca: bool
    expiry: datetime.timedelta
    key_usage: frozenset[str]
    ext_key_usage: frozenset[str]
    # None on a CA means CA_RENEW_FRACTION of the existing certificate's lifetime.
    renew_before: datetime.timedelta | None

    @property
    def usage_names(self) -> list[str]:
        return usage_names(self.key_usage, self.ext_key_usage)


def utcnow() -> datetime.datetime:
    """The clock, whole seconds (what a certificate can encode). Tests patch it."""
    return datetime.datetime.now(UTC).replace(microsecond=0)


# --- parsing the request -----------------------------------------------------

_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[hms])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(value: t.Any, option: str) -> datetime.timedelta:
    """A cfssl (Go) duration such as ``8760h`` or ``1h30m``, ``Nd``, or a bare number of days."""
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return datetime.timedelta(days=int(text))
    if re.fullmatch(r"\d+d", text):
        return datetime.timedelta(days=int(text[:-1]))
    if _DURATION.fullmatch(text):
        seconds = sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _DURATION_PART.findall(text))
        return datetime.timedelta(seconds=seconds)
    raise PkiError(
        f"{option}: {value!r} is not a duration; use the cfssl form such as '8760h' or '90m', "
        "or a number of days such as 365"
    )


def format_duration(delta: datetime.timedelta) -> str:
    """Go-style hours and minutes, as cfssl users write them: ``8760h``, ``719h59m``."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    minutes = rest // 60
    return f"{sign}{hours}h{minutes}m" if minutes else f"{sign}{hours}h"


def parse_key_spec(spec: t.Mapping[str, t.Any] | None, option: str = "key") -> KeySpec:
    spec = spec or {}
    algo = str(spec.get("algo") or "rsa").strip().lower()
    if algo not in KEY_SIZES:
        raise PkiError(f"{option}.algo: unknown algorithm {algo!r}; use one of: {', '.join(KEY_SIZES)}")
    size = spec.get("size")
    if size in (None, ""):
        size = DEFAULT_KEY_SIZE[algo]
    try:
        size = int(size)
    except (TypeError, ValueError):
        raise PkiError(f"{option}.size: {size!r} is not a number") from None
    if size not in KEY_SIZES[algo]:
        allowed = ", ".join(str(s) for s in KEY_SIZES[algo])
        raise PkiError(f"{option}.size: {size} is not supported for {algo}; use one of: {allowed}")
    return KeySpec(algo, size)


def parse_usages(names: t.Iterable[t.Any], option: str = "profile.usages") -> tuple[frozenset[str], frozenset[str]]:
    """cfssl usage names to (KeyUsage attribute names, extended key usage OIDs)."""
    key_usage: set[str] = set()
    ext_key_usage: set[str] = set()
    for raw in names:
        name = " ".join(str(raw).strip().lower().split())
        if name in KEY_USAGES:
            key_usage.add(KEY_USAGES[name])
        elif name in EXT_KEY_USAGES:
            ext_key_usage.add(EXT_KEY_USAGES[name])
        else:
            known = ", ".join(sorted({*KEY_USAGES, *EXT_KEY_USAGES}))
            raise PkiError(f"{option}: unknown usage {raw!r}; cfssl usage names are: {known}")
    if key_usage & {"encipher_only", "decipher_only"} and "key_agreement" not in key_usage:
        raise PkiError(f"{option}: 'encipher only' and 'decipher only' need 'key agreement' as well")
    return frozenset(key_usage), frozenset(ext_key_usage)


def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.split("."))


def usage_names(key_usage: t.Iterable[str], ext_key_usage: t.Iterable[str]) -> list[str]:
    """Display names, KeyUsage first in x509 order, then extended key usages."""
    ku = [_KEY_USAGE_NAMES[a] for a in _KEY_USAGE_ATTRS if a in set(key_usage)]
    eku = [_EXT_KEY_USAGE_NAMES.get(oid, oid) for oid in sorted(ext_key_usage, key=_oid_key)]
    return ku + eku


_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def parse_host(host: t.Any, allow_wildcards: bool = False) -> str:
    """One ``hosts`` entry, normalised: an IP address in canonical form or a lower-case DNS name."""
    text = str(host).strip() if host is not None else ""
    if not text:
        raise PkiError("hosts: empty entry; list IP addresses and DNS names")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if getattr(address, "scope_id", None):
            raise PkiError(f"hosts: {text!r}: an IPv6 zone (%...) cannot be part of a certificate")
        return str(address)
    name = text.lower()
    labels = name.split(".")
    if name.endswith("."):
        raise PkiError(f"hosts: {text!r}: write DNS names without the trailing dot")
    if "*" in name:
        if labels[0] != "*" or "*" in ".".join(labels[1:]):
            raise PkiError(f"hosts: {text!r}: a wildcard must be the whole leftmost label, as in '*.example.com'")
        if not allow_wildcards:
            raise PkiError(f"hosts: {text!r} is a wildcard; set allow_wildcards: true if you really want one")
        if len(labels) < 3:  # '*.' plus at least two labels
            raise PkiError(f"hosts: {text!r}: a wildcard needs at least two labels after '*.'")
        labels = labels[1:]
    valid = (
        len(name) <= 253  # RFC 1035 limit
        and all(_DNS_LABEL.fullmatch(label) for label in labels)
        # No top-level domain is all digits: this is a mistyped IPv4 address.
        and not labels[-1].isdigit()
    )
    if not valid:
        raise PkiError(f"hosts: {text!r} is neither an IP address nor a valid DNS name")
    return name


def parse_hosts(hosts: t.Iterable[t.Any] | None, allow_wildcards: bool = False) -> tuple[str, ...]:
    result: list[str] = []
    for host in hosts or ():
        parsed = parse_host(host, allow_wildcards)
        if parsed not in result:
            result.append(parsed)
    return tuple(result)


def parse_names(names: t.Iterable[t.Any] | None, option: str = "names") -> tuple[tuple[str, str], ...]:
    """cfssl ``names`` (a list of {C, ST, L, O, OU}) to (field, value) pairs in subject order."""
    entries = list(names or ())
    for index, entry in enumerate(entries):
        if not isinstance(entry, t.Mapping):
            raise PkiError(f"{option}[{index}]: expected a mapping of C, ST, L, O, OU, got {entry!r}")
        for field, value in entry.items():
            if field not in NAME_FIELDS:
                raise PkiError(f"{option}[{index}]: unknown field {field!r}; use {', '.join(NAME_FIELDS)}")
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                raise PkiError(f"{option}[{index}].{field}: expected a non-empty string, got {value!r}")
            if field == "C" and not re.fullmatch(r"[A-Za-z]{2}", value):
                raise PkiError(f"{option}[{index}].C: {value!r} is not a two-letter country code")
    return tuple((field, entry[field]) for field in NAME_FIELDS for entry in entries if entry.get(field) is not None)


def _read_json(path: str, option: str) -> t.Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise PkiError(f"{option}: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise PkiError(f"{option}: {path} is not valid JSON: {exc}") from None


_CSR_FIELDS = ("CN", "hosts", "key", "names", "ca")


def load_csr_json(path: str) -> dict[str, t.Any]:
    """A cfssl CSR JSON file as the module's inline options (cn, hosts, key, names, ca_expiry)."""
    data = _read_json(path, "csr_json")
    where = f"csr_json: {path}"
    if not isinstance(data, dict):
        raise PkiError(f"{where}: expected a JSON object with {', '.join(_CSR_FIELDS)}")
    unknown = sorted(set(data) - set(_CSR_FIELDS))
    if unknown:
        raise PkiError(
            f"{where}: unsupported field(s) {', '.join(unknown)}; this module understands {', '.join(_CSR_FIELDS)}"
        )
    cn = data.get("CN")
    if cn is not None and not isinstance(cn, str):
        raise PkiError(f"{where}: CN must be a string")
    hosts = data.get("hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise PkiError(f"{where}: hosts must be a list of strings")
    key = data.get("key") or {}
    if not isinstance(key, dict) or set(key) - {"algo", "size"}:
        raise PkiError(f"{where}: key must be an object with algo and size")
    names = data.get("names") or []
    if not isinstance(names, list):
        raise PkiError(f"{where}: names must be a list of objects")
    ca = data.get("ca") or {}
    if not isinstance(ca, dict) or set(ca) - {"expiry"}:
        raise PkiError(f"{where}: ca supports only 'expiry' here (path length constraints are not implemented)")
    return {"cn": cn, "hosts": hosts, "key": key, "names": names, "ca_expiry": ca.get("expiry")}


_PROFILE_FIELDS = ("expiry", "usages", "ca_constraint")


def load_ca_config_profile(path: str, profile_name: str | None) -> tuple[dict[str, t.Any], list[str]]:
    """A signing profile from a cfssl ca-config.json: the profile merged over ``signing.default``.

    Returns (profile with expiry/usages/is_ca, warnings about fields this module ignores).
    """
    data = _read_json(path, "ca_config_json")
    where = f"ca_config_json: {path}"
    signing = data.get("signing") if isinstance(data, dict) else None
    if not isinstance(signing, dict):
        raise PkiError(f"{where}: expected an object with a 'signing' object (cfssl ca-config.json)")
    default = signing.get("default") or {}
    profiles = signing.get("profiles") or {}
    if not isinstance(default, dict) or not isinstance(profiles, dict):
        raise PkiError(f"{where}: signing.default and signing.profiles must be objects")
    chosen: dict[str, t.Any] = {}
    if profile_name is not None:
        if profile_name not in profiles:
            available = ", ".join(sorted(profiles)) or "none"
            raise PkiError(f"{where}: no profile {profile_name!r} in signing.profiles (available: {available})")
        chosen = profiles[profile_name]
        if not isinstance(chosen, dict):
            raise PkiError(f"{where}: signing.profiles.{profile_name} must be an object")
    merged = {**default, **chosen}
    warnings = [
        f"{where}: profile field {field!r} is not implemented by airgap.k8s.pki_cert and is ignored"
        for field in sorted(set(merged) - set(_PROFILE_FIELDS))
    ]
    usages = merged.get("usages")
    if usages is not None and (not isinstance(usages, list) or not all(isinstance(u, str) for u in usages)):
        raise PkiError(f"{where}: usages must be a list of cfssl usage names")
    is_ca = None
    constraint = merged.get("ca_constraint")
    if constraint is not None:
        if not isinstance(constraint, dict):
            raise PkiError(f"{where}: ca_constraint must be an object")
        is_ca = bool(constraint.get("is_ca", False))
    return {"expiry": merged.get("expiry"), "usages": usages, "is_ca": is_ca}, warnings


def build_request(params: t.Mapping[str, t.Any]) -> tuple[CertRequest, list[str]]:
    """Validate the module's options (inline or cfssl JSON files) into a CertRequest."""
    is_ca = bool(params.get("is_ca"))
    warnings: list[str] = []
    ca_expiry = None
    if params.get("csr_json"):
        inline = [name for name in ("cn", "hosts", "key", "names") if params.get(name)]
        if inline:
            raise PkiError(f"csr_json is mutually exclusive with {', '.join(inline)}")
        csr = load_csr_json(params["csr_json"])
        cn_option = f"csr_json: {params['csr_json']}: CN"
        ca_expiry = csr.pop("ca_expiry")
    else:
        csr = {name: params.get(name) for name in ("cn", "hosts", "key", "names")}
        cn_option = "cn"
    cn = (csr.get("cn") or "").strip()
    if not cn:
        raise PkiError(f"{cn_option}: a common name is required (for CA and leaf certificates)")
    hosts = parse_hosts(csr.get("hosts"), bool(params.get("allow_wildcards")))
    key = parse_key_spec(csr.get("key"))
    names = parse_names(csr.get("names"))

    if params.get("ca_config_json"):
        if params.get("profile"):
            raise PkiError("ca_config_json is mutually exclusive with profile")
        profile, more = load_ca_config_profile(params["ca_config_json"], params.get("profile_name"))
        warnings.extend(more)
        where = f"ca_config_json: {params['ca_config_json']}"
        if profile["is_ca"] is not None and profile["is_ca"] != is_ca:
            raise PkiError(f"{where}: ca_constraint.is_ca is {profile['is_ca']} but is_ca is {is_ca}")
        expiry_option, usages_option = f"{where}: expiry", f"{where}: usages"
    else:
        profile = dict(params.get("profile") or {})
        expiry_option, usages_option = "profile.expiry", "profile.usages"

    expiry_value = profile.get("expiry") or ca_expiry or (DEFAULT_CA_EXPIRY if is_ca else DEFAULT_LEAF_EXPIRY)
    expiry = parse_duration(expiry_value, expiry_option)
    if expiry <= datetime.timedelta(0):
        raise PkiError(f"{expiry_option}: must be longer than zero")
    usages = profile.get("usages")
    if not usages:
        usages = DEFAULT_CA_USAGES if is_ca else DEFAULT_LEAF_USAGES
    key_usage, ext_key_usage = parse_usages(usages, usages_option)
    if is_ca and "key_cert_sign" not in key_usage:
        raise PkiError(f"{usages_option}: a CA (is_ca: true) needs 'cert sign' to sign certificates")
    if not is_ca and "key_cert_sign" in key_usage:
        raise PkiError(f"{usages_option}: 'cert sign' is only valid with is_ca: true")

    renew_value = params.get("renew_before")
    renew_before = None
    if renew_value not in (None, ""):
        renew_before = parse_duration(renew_value, "renew_before")
        if renew_before >= expiry:
            raise PkiError(
                f"renew_before ({format_duration(renew_before)}) must be shorter than the expiry "
                f"({format_duration(expiry)}), or every run would re-issue the certificate; lower renew_before"
            )
    elif not is_ca:
        # Short-lived certificates renew in the last third of their life.
        renew_before = min(parse_duration(DEFAULT_LEAF_RENEW_BEFORE, "renew_before"), expiry / 3)
    request = CertRequest(
        cn=cn,
        hosts=hosts,
        key=key,
        names=names,
        is_ca=is_ca,
        expiry=expiry,
        key_usage=key_usage,
        ext_key_usage=ext_key_usage,
        renew_before=renew_before,
    )
    return request, warnings


# --- keys and certificates ---------------------------------------------------


def generate_private_key(spec: KeySpec) -> PrivateKey:
    if spec.algo == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.size)
    curve = {256: ec.SECP256R1, 384: ec.SECP384R1}[spec.size]
    return ec.generate_private_key(curve())


def key_spec_of(key: t.Any) -> KeySpec | None:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return KeySpec("rsa", key.key_size)
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return KeySpec("ecdsa", _CURVE_SIZES.get(key.curve.name, key.curve.key_size))
    return None


def describe_key(key: t.Any) -> str:
    spec = key_spec_of(key)
    return str(spec) if spec else type(key).__name__


def read_bytes(path: str, option: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise PkiError(f"{option}: {path} does not exist") from None
    except OSError as exc:
        raise PkiError(f"{option}: cannot read {path}: {exc.strerror}") from None


def load_private_key(path: str, option: str = "privatekey_path") -> PrivateKey:
    data = read_bytes(path, option)
    try:
        key = serialization.load_pem_private_key(data, password=None, **_LOAD_KEY_OPTIONS)
    except TypeError:
        raise PkiError(f"{option}: {path} is encrypted; this module needs an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise PkiError(f"{option}: {path} is not a PEM private key") from None
    if key_spec_of(key) is None:
        raise PkiError(f"{option}: {path} holds a {type(key).__name__}; only RSA and ECDSA keys are supported")
    return key  # type: ignore[return-value]


def parse_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate in PEM ``data``; ``what`` names the source in the error."""
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise PkiError(f"{what} is not a PEM certificate") from None


def load_certificates(path: str, option: str) -> list[x509.Certificate]:
    return parse_certificates(read_bytes(path, option), f"{option}: {path}")


def load_certificate(path: str, option: str = "path") -> x509.Certificate:
    return load_certificates(path, option)[0]


def serialize_private_key(key: PrivateKey) -> bytes:
    # PKCS#1 / SEC1, as cfssl and kubeadm write them.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def serialize_certificate(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _public_der(key: t.Any) -> bytes:
    if hasattr(key, "public_key"):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_sha256(key: t.Any) -> str:
    """sha256 of the DER SubjectPublicKeyInfo of a certificate or a key: names a key pair without showing it."""
    return hashlib.sha256(_public_der(key)).hexdigest()


def same_public_key(a: t.Any, b: t.Any) -> bool:
    """Whether two keys (private or public) share the public key."""
    return _public_der(a) == _public_der(b)


def _extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> t.Any:
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def common_name(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def issuer_common_name(cert: x509.Certificate) -> str:
    """The issuer's CN, else its whole RFC 4514 name."""
    values = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else cert.issuer.rfc4514_string()


def serialize_public_key(key: t.Any) -> bytes:
    """The PEM SubjectPublicKeyInfo (``BEGIN PUBLIC KEY``) of a key, as ``openssl pkey -pubout`` writes it."""
    if hasattr(key, "public_key"):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_public_key(data: bytes, what: str) -> t.Any:
    """A PEM public key (``sa.pub``); ``what`` names the source in the error."""
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise PkiError(f"{what} is not a PEM public key") from None


def is_ca_certificate(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return bool(constraints and constraints.ca)


def load_ca(cert_path: str, key_path: str) -> tuple[x509.Certificate, PrivateKey]:
    """The signing CA: its certificate and key, checked to belong together and to be a CA."""
    if not os.path.exists(cert_path):
        raise PkiError(f"ca_cert: {cert_path} does not exist; create the CA first (a task with is_ca: true)")
    cert = load_certificate(cert_path, "ca_cert")
    key = load_private_key(key_path, "ca_key")
    if not same_public_key(cert, key):
        raise PkiError(f"ca_key: {key_path} does not match ca_cert {cert_path} (different public keys)")
    if not is_ca_certificate(cert):
        raise PkiError(f"ca_cert: {cert_path} is not a CA certificate (basicConstraints CA:FALSE)")
    usage = _extension(cert, ExtensionOID.KEY_USAGE)
    if usage is not None and not usage.key_cert_sign:
        raise PkiError(f"ca_cert: {cert_path} may not sign certificates (keyUsage lacks 'cert sign')")
    return cert, key


class Issuers:
    """The signing CAs of one module run, each loaded (and checked) once.

    A CA whose files the run rewrites is loaded again when next asked for; in
    check mode, where nothing is written, ``plan`` records the subject a CA
    would get, so a certificate it would sign can be predicted.
    """

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str], tuple[x509.Certificate, PrivateKey]] = {}
        self._planned: dict[str, str] = {}

    def load(self, cert_path: str, key_path: str) -> tuple[x509.Certificate, PrivateKey]:
        """``load_ca``, once per pair of files."""
        pair = (os.path.abspath(cert_path), os.path.abspath(key_path))
        if pair not in self._loaded:
            self._loaded[pair] = load_ca(cert_path, key_path)
        return self._loaded[pair]

    def written(self, *paths: str) -> None:
        """Forget the CAs loaded from any of ``paths``: they were just rewritten."""
        changed = {os.path.abspath(path) for path in paths}
        self._loaded = {pair: ca for pair, ca in self._loaded.items() if not changed & set(pair)}

    def plan(self, cert_path: str, subject: str) -> None:
        """Check mode: a certificate with ``subject`` would be written to ``cert_path``."""
        self._planned[os.path.abspath(cert_path)] = subject

    def planned(self, cert_path: str) -> str | None:
        """The subject of the certificate this run would write to ``cert_path`` (check mode), if any."""
        return self._planned.get(os.path.abspath(cert_path))


def build_subject(request: CertRequest) -> x509.Name:
    oids = {
        "C": NameOID.COUNTRY_NAME,
        "ST": NameOID.STATE_OR_PROVINCE_NAME,
        "L": NameOID.LOCALITY_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    }
    attributes = [x509.NameAttribute(oids[field], value) for field, value in request.names]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, request.cn))
    return x509.Name(attributes)


def _general_names(hosts: t.Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _signature_hash(key: t.Any) -> hashes.HashAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size, hashes.SHA256())
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    raise PkiError(f"cannot sign with a {type(key).__name__}; use an RSA or ECDSA CA key")


def issue_certificate(
    request: CertRequest,
    key: PrivateKey,
    *,
    now: datetime.datetime,
    issuer_cert: x509.Certificate | None = None,
    issuer_key: PrivateKey | None = None,
) -> x509.Certificate:
    """Sign a certificate for ``key``; self-signed when no issuer is given."""
    if (issuer_cert is None) != (issuer_key is None):
        raise ValueError("issuer_cert and issuer_key go together")
    signer = issuer_key if issuer_key is not None else key
    public_key = key.public_key()
    subject = build_subject(request)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())  # 159 random bits
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + request.expiry)
        .add_extension(x509.BasicConstraints(ca=request.is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if request.key_usage:
        usage = {attr: attr in request.key_usage for attr in _KEY_USAGE_ATTRS}
        builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    if request.ext_key_usage:
        oids = [x509.ObjectIdentifier(oid) for oid in sorted(request.ext_key_usage, key=_oid_key)]
        builder = builder.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    if request.hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(_general_names(request.hosts)), critical=False)
    ski = _extension(issuer_cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER) if issuer_cert is not None else None
    if ski is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())
    builder = builder.add_extension(aki, critical=False)
    return builder.sign(signer, _signature_hash(signer))


def certificate_usages(cert: x509.Certificate) -> tuple[frozenset[str], frozenset[str]]:
    usage = _extension(cert, ExtensionOID.KEY_USAGE)
    key_usage: set[str] = set()
    if usage is not None:
        for attr in _KEY_USAGE_ATTRS:
            try:
                if getattr(usage, attr):
                    key_usage.add(attr)
            except ValueError:  # encipher_only/decipher_only without key_agreement
                continue
    eku = _extension(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    ext_key_usage = {oid.dotted_string for oid in eku} if eku is not None else set()
    return frozenset(key_usage), frozenset(ext_key_usage)


def certificate_sans(cert: x509.Certificate) -> list[str]:
    sans = _extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    result: list[str] = []
    for name in sans or ():
        if isinstance(name, x509.DNSName):
            result.append(name.value)
        elif isinstance(name, x509.IPAddress):
            result.append(str(name.value))
        else:
            result.append(f"{type(name).__name__}:{name.value}")
    return result


def verify_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """None when ``issuer`` signed ``cert``, else why not."""
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError:
        return f"issuer is {cert.issuer.rfc4514_string()!r}, want {issuer.subject.rfc4514_string()!r}"
    except InvalidSignature:
        return f"signature does not verify with the key of {issuer.subject.rfc4514_string()!r}"
    except TypeError as exc:
        return f"signature cannot be checked: {exc}"
    return None


def check_certificate(
    cert: x509.Certificate,
    request: CertRequest,
    *,
    now: datetime.datetime,
    key: t.Any = None,
    issuer_cert: x509.Certificate | None = None,
) -> list[str]:
    """Why ``cert`` does not satisfy ``request`` (empty: keep it).

    ``key`` is the private key that will be used (None: a new one, not compared);
    ``issuer_cert`` the signing CA (None: the certificate must be self-signed).
    """
    reasons: list[str] = []
    if key is not None and not same_public_key(cert, key):
        reasons.append("certificate does not match the private key")
    problem = verify_issued_by(cert, issuer_cert if issuer_cert is not None else cert)
    if problem:
        reasons.append(("issuer: " if issuer_cert is not None else "not self-signed: ") + problem)
    subject = build_subject(request)
    if cert.subject != subject:
        reasons.append(f"subject is {cert.subject.rfc4514_string()!r}, want {subject.rfc4514_string()!r}")
    have_sans = {s.lower() for s in certificate_sans(cert)}
    want_sans = set(request.hosts)
    if have_sans != want_sans:
        change = []
        if want_sans - have_sans:
            change.append("add " + ", ".join(sorted(want_sans - have_sans)))
        if have_sans - want_sans:
            change.append("remove " + ", ".join(sorted(have_sans - want_sans)))
        reasons.append("SANs differ: " + "; ".join(change))
    key_usage, ext_key_usage = certificate_usages(cert)
    if (key_usage, ext_key_usage) != (request.key_usage, request.ext_key_usage):
        have = ", ".join(usage_names(key_usage, ext_key_usage)) or "none"
        reasons.append(f"usages are [{have}], want [{', '.join(request.usage_names)}]")
    if is_ca_certificate(cert) != request.is_ca:
        reasons.append(f"is_ca is {is_ca_certificate(cert)}, want {request.is_ca}")
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    renew_before = request.renew_before
    if renew_before is None:
        renew_before = (not_after - not_before) / CA_RENEW_FRACTION
    remaining = not_after - now
    if not_before > now:
        reasons.append(f"not valid before {iso(not_before)}, which is in the future")
    if remaining <= datetime.timedelta(0):
        reasons.append(f"expired at {iso(not_after)}")
    elif remaining < renew_before:
        reasons.append(
            f"expires in {format_duration(remaining)} (at {iso(not_after)}), "
            f"less than renew_before {format_duration(renew_before)}"
        )
    # Tolerate a clock that stepped back a little since the last issue.
    if not_after > now + request.expiry + datetime.timedelta(minutes=1):
        reasons.append(f"valid until {iso(not_after)}, longer than the expiry {format_duration(request.expiry)}")
    return reasons


# --- reporting ---------------------------------------------------------------


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def serial_hex(serial: int) -> str:
    """As ``openssl x509 -noout -serial`` prints it."""
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """As ``openssl x509 -noout -fingerprint -sha256`` prints it."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def describe_certificate(cert: x509.Certificate) -> dict[str, t.Any]:
    key_usage, ext_key_usage = certificate_usages(cert)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": certificate_sans(cert),
        "not_before": iso(cert.not_valid_before_utc),
        "not_after": iso(cert.not_valid_after_utc),
        "serial": serial_hex(cert.serial_number),
        "sha256_fingerprint": sha256_fingerprint(cert),
        "is_ca": is_ca_certificate(cert),
        "usages": usage_names(key_usage, ext_key_usage),
        "key": describe_key(cert.public_key()),
    }


def describe_request(
    request: CertRequest,
    *,
    now: datetime.datetime,
    issuer_cert: x509.Certificate | None = None,
    issuer_name: str | None = None,
) -> dict[str, t.Any]:
    """What ``issue_certificate`` would produce, without a key (check mode).

    ``issuer_name`` (RFC 4514) stands for a CA that does not exist yet.
    """
    subject = build_subject(request).rfc4514_string()
    if issuer_cert is not None:
        issuer_name = issuer_cert.subject.rfc4514_string()
    return {
        "subject": subject,
        "issuer": issuer_name or subject,
        "sans": list(request.hosts),
        "not_before": iso(now - BACKDATE),
        "not_after": iso(now + request.expiry),
        "serial": None,
        "sha256_fingerprint": None,
        "is_ca": request.is_ca,
        "usages": request.usage_names,
        "key": str(request.key),
    }


def summary(info: t.Mapping[str, t.Any] | None) -> str:
    """Human-readable lines for a diff; never any key material."""
    if not info:
        return ""
    lines = [
        f"subject: {info['subject']}",
        f"issuer: {info['issuer']}",
        f"sans: {', '.join(info['sans']) or '(none)'}",
        f"usages: {', '.join(info['usages'])}",
        f"is_ca: {str(info['is_ca']).lower()}",
        f"key: {info['key']}",
        f"not_before: {info['not_before']}",
        f"not_after: {info['not_after']}",
        f"serial: {info['serial'] or '(assigned when issued)'}",
        f"sha256_fingerprint: {info['sha256_fingerprint'] or '(known when issued)'}",
    ]
    return "\n".join(lines) + "\n"


# --- files -------------------------------------------------------------------


def has_content(path: str) -> bool:
    """An empty file counts as missing (e.g. a placeholder left by an interrupted write)."""
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def file_mode(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def ensure_directory(path: str) -> list[str]:
    """Create missing directories 0700, parents first; returns the ones created."""
    missing: list[str] = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIR_MODE)  # independent of the umask
    return list(reversed(missing))


def mode_reasons(files: t.Iterable[tuple[str, int, bool]], check_mode: bool) -> list[str]:
    """Set each (path, mode, rewritten) file that exists, was not just rewritten and has another mode; a reason each."""
    reasons: list[str] = []
    for path, mode, rewritten in files:
        current = file_mode(path)
        if rewritten or current is None or current == mode:
            continue
        reasons.append(f"mode of {path} is {current:04o}, want {mode:04o}")
        if not check_mode:
            os.chmod(path, mode)
    return reasons


def private_directory_reasons(paths: t.Iterable[str], check_mode: bool) -> list[str]:
    """Set DIR_MODE on the existing directories of ``paths`` that have another; a reason for each.

    Missing directories are left to the write (write_file_atomic creates them 0700)."""
    reasons: list[str] = []
    for directory in sorted({os.path.dirname(os.path.abspath(path)) for path in paths}):
        current = file_mode(directory)
        if current is None or current == DIR_MODE:
            continue
        reasons.append(f"mode of {directory} is {current:04o}, want {DIR_MODE:04o}")
        if not check_mode:
            os.chmod(directory, DIR_MODE)
    return reasons


def write_file_atomic(module: AnsibleModule, path: str, content: bytes, mode: int) -> None:
    """Write via a temp file in the same directory and ``atomic_move``; the file never has a wider mode."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    ensure_directory(directory)
    # atomic_move keeps the attributes of an existing destination but gives a
    # new one the umask's mode after the rename; a placeholder with the final
    # mode means a key is never readable by others, not even for a moment.
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    os.chmod(path, mode)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    module.add_cleanup_file(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    os.chmod(path, mode)
