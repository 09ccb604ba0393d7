from __future__ import annotations

import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from ansible_collections.airgap.k8s.plugins.module_utils import _pki
from ansible_collections.airgap.k8s.plugins.module_utils._pki import (
    KeySpec,
    PkiError,
    build_request,
    check_certificate,
    format_duration,
    generate_private_key,
    issue_certificate,
    parse_duration,
    parse_host,
    parse_hosts,
    parse_key_spec,
    parse_names,
    parse_usages,
    verify_issued_by,
)

NOW = datetime.datetime(2026, 11, 22, 8, 0, 0, tzinfo=datetime.timezone.utc)  # noqa: UP017
HOUR = datetime.timedelta(hours=1)


def request(**params):
    return build_request(params)[0]


@pytest.fixture(scope="module")
def ca():
    req = request(cn="test-ca", is_ca=True, key={"algo": "ecdsa", "size": 256})
    key = generate_private_key(req.key)
    return issue_certificate(req, key, now=NOW), key


@pytest.fixture(scope="module")
def leaf_key():
    return generate_private_key(KeySpec("ecdsa", 256))


LEAF = {
    "cn": "etcd-server",
    "hosts": ["etcd1", "10.0.0.11"],
    "key": {"algo": "ecdsa", "size": 256},
    "names": [{"O": "airgap"}],
}


@pytest.fixture(scope="module")
def leaf(ca, leaf_key):
    ca_cert, ca_key = ca
    return issue_certificate(request(**LEAF), leaf_key, now=NOW, issuer_cert=ca_cert, issuer_key=ca_key)


# --- request parsing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8760h", datetime.timedelta(days=365)),
        ("87600h", datetime.timedelta(days=3650)),
        ("1h30m", datetime.timedelta(minutes=90)),
        ("90s", datetime.timedelta(seconds=90)),
        ("1.5h", datetime.timedelta(minutes=90)),
        ("365", datetime.timedelta(days=365)),
        (365, datetime.timedelta(days=365)),
        ("30d", datetime.timedelta(days=30)),
    ],
)
def test_parse_duration_cfssl_and_days(value, expected):
    assert parse_duration(value, "profile.expiry") == expected


@pytest.mark.parametrize("value", ["1y", "h", "8760 h", "-5h", "", "P1Y"])
def test_parse_duration_rejects_other_forms(value):
    with pytest.raises(PkiError, match=r"profile\.expiry: .* is not a duration; use the cfssl form"):
        parse_duration(value, "profile.expiry")


def test_format_duration_round_trips_hours():
    assert format_duration(datetime.timedelta(days=30)) == "720h"
    assert format_duration(datetime.timedelta(hours=719, minutes=59, seconds=30)) == "719h59m"


def test_key_spec_defaults_and_sizes():
    assert parse_key_spec(None) == KeySpec("rsa", 2048)
    assert parse_key_spec({"algo": "ecdsa"}) == KeySpec("ecdsa", 256)
    assert parse_key_spec({"algo": "RSA", "size": "4096"}) == KeySpec("rsa", 4096)
    assert parse_key_spec({"algo": "ecdsa", "size": 384}) == KeySpec("ecdsa", 384)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"algo": "dsa"}, "key.algo: unknown algorithm 'dsa'; use one of: rsa, ecdsa"),
        ({"algo": "rsa", "size": 1024}, "key.size: 1024 is not supported for rsa; use one of: 2048, 3072, 4096"),
        ({"algo": "ecdsa", "size": 2048}, "key.size: 2048 is not supported for ecdsa; use one of: 256, 384"),
        ({"algo": "rsa", "size": "big"}, "key.size: 'big' is not a number"),
    ],
)
def test_key_spec_errors(spec, message):
    with pytest.raises(PkiError) as exc_info:
        parse_key_spec(spec)
    assert str(exc_info.value) == message


def test_usages_map_cfssl_names():
    key_usage, ext = parse_usages(["signing", "Key  Encipherment", "server auth", "client auth"])
    assert key_usage == {"digital_signature", "key_encipherment"}
    assert ext == {ExtendedKeyUsageOID.SERVER_AUTH.dotted_string, ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string}
    assert _pki.usage_names(key_usage, ext) == ["digital signature", "key encipherment", "server auth", "client auth"]


def test_usages_unknown_name_lists_the_vocabulary():
    with pytest.raises(
        PkiError, match=r"profile\.usages: unknown usage 'serverauth'; cfssl usage names are: .*server auth"
    ):
        parse_usages(["server auth", "serverauth"])
    with pytest.raises(PkiError, match="need 'key agreement'"):
        parse_usages(["encipher only"])


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("Kubernetes.Default.svc", "kubernetes.default.svc"),
        ("localhost", "localhost"),
        ("node-1.cluster.local", "node-1.cluster.local"),
    ],
)
def test_hosts_normalised(host, expected):
    assert parse_host(host) == expected


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("10.0.0.300", "hosts: '10.0.0.300' is neither an IP address nor a valid DNS name"),
        ("010.0.0.1", "is neither an IP address nor a valid DNS name"),
        ("bad_name.example", "is neither an IP address nor a valid DNS name"),
        ("-lead.example", "is neither an IP address nor a valid DNS name"),
        ("a..b", "is neither an IP address nor a valid DNS name"),
        ("a" * 64 + ".example", "is neither an IP address nor a valid DNS name"),
        ("example.com.", "without the trailing dot"),
        ("", "hosts: empty entry"),
        ("*.example.com", "is a wildcard; set allow_wildcards: true"),
        ("foo.*.example.com", "a wildcard must be the whole leftmost label"),
        ("f*.example.com", "a wildcard must be the whole leftmost label"),
        ("fe80::1%eth0", "an IPv6 zone"),
    ],
)
def test_hosts_rejected_with_reason(host, message):
    with pytest.raises(PkiError) as exc_info:
        parse_host(host)
    assert message in str(exc_info.value)


def test_wildcards_only_when_allowed():
    assert parse_host("*.apps.example.com", allow_wildcards=True) == "*.apps.example.com"
    with pytest.raises(PkiError, match="at least two labels"):
        parse_host("*.com", allow_wildcards=True)


def test_hosts_deduplicated_in_order():
    assert parse_hosts(["b.example", "10.0.0.1", "B.example", "10.0.0.1"]) == ("b.example", "10.0.0.1")


def test_names_in_cfssl_order_with_repeated_o():
    names = parse_names([{"O": "system:masters", "C": "DE"}, {"O": "system:nodes", "OU": "ops", "L": None}])
    assert names == (("C", "DE"), ("O", "system:masters"), ("O", "system:nodes"), ("OU", "ops"))


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([{"CN": "x"}], "names[0]: unknown field 'CN'; use C, ST, L, O, OU"),
        ([{"C": "Germany"}], "names[0].C: 'Germany' is not a two-letter country code"),
        ([{"O": ""}], "names[0].O: expected a non-empty string"),
        (["O=x"], "names[0]: expected a mapping"),
    ],
)
def test_names_errors(names, message):
    with pytest.raises(PkiError) as exc_info:
        parse_names(names)
    assert message in str(exc_info.value)


def test_request_defaults_for_ca_and_leaf():
    ca_req = request(cn="ca", is_ca=True)
    assert ca_req.expiry == datetime.timedelta(hours=87600)
    assert ca_req.usage_names == ["cert sign", "crl sign"]
    assert ca_req.renew_before is None  # 10% of the CA's lifetime
    assert ca_req.key == KeySpec("rsa", 2048)
    leaf_req = request(cn="leaf")
    assert leaf_req.expiry == datetime.timedelta(hours=8760)
    assert leaf_req.renew_before == datetime.timedelta(hours=720)
    assert leaf_req.usage_names == ["digital signature", "key encipherment", "server auth", "client auth"]
    # Short-lived: renewed in the last third of the lifetime, not 720h before its end.
    assert request(cn="leaf", profile={"expiry": "168h"}).renew_before == datetime.timedelta(hours=56)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cn": " "}, "cn: a common name is required (for CA and leaf certificates)"),
        ({"cn": "ca", "is_ca": True, "profile": {"usages": ["crl sign"]}}, "a CA (is_ca: true) needs 'cert sign'"),
        ({"cn": "x", "profile": {"usages": ["cert sign"]}}, "'cert sign' is only valid with is_ca: true"),
        ({"cn": "x", "profile": {"expiry": "0h"}}, "profile.expiry: must be longer than zero"),
        ({"cn": "x", "profile": {"expiry": "24h"}, "renew_before": "24h"}, "renew_before (24h) must be shorter"),
        ({"cn": "x", "renew_before": "9000h"}, "renew_before (9000h) must be shorter than the expiry (8760h)"),
    ],
)
def test_request_errors(params, message):
    with pytest.raises(PkiError) as exc_info:
        build_request(params)
    assert message in str(exc_info.value)


# --- cfssl JSON inputs -------------------------------------------------------


def write_json(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


CSR = {
    "CN": "system:node:node1",
    "hosts": ["node1", "10.0.0.21"],
    "key": {"algo": "ecdsa", "size": 384},
    "names": [{"C": "DE", "O": "system:nodes"}],
}
CA_CONFIG = {
    "signing": {
        "default": {"expiry": "168h", "usages": ["signing", "key encipherment"]},
        "profiles": {
            "kubelet": {"usages": ["signing", "key encipherment", "client auth"]},
            "ca": {"expiry": "43800h", "usages": ["cert sign", "crl sign"], "ca_constraint": {"is_ca": True}},
            "odd": {"expiry": "8760h", "auth_key": "k"},
        },
    }
}


def test_csr_json_and_ca_config_profile(tmp_path):
    req, warnings = build_request(
        {
            "csr_json": write_json(tmp_path / "csr.json", CSR),
            "ca_config_json": write_json(tmp_path / "ca-config.json", CA_CONFIG),
            "profile_name": "kubelet",
        }
    )
    assert warnings == []
    assert req.cn == "system:node:node1"
    assert req.hosts == ("node1", "10.0.0.21")
    assert req.key == KeySpec("ecdsa", 384)
    assert req.names == (("C", "DE"), ("O", "system:nodes"))
    assert req.expiry == datetime.timedelta(hours=168)  # from signing.default
    assert req.renew_before == datetime.timedelta(hours=56)
    assert req.usage_names == ["digital signature", "key encipherment", "client auth"]


def test_csr_json_ca_expiry_and_ca_constraint(tmp_path):
    csr = write_json(tmp_path / "csr.json", {"CN": "etcd-ca", "ca": {"expiry": "26280h"}})
    assert request(csr_json=csr, is_ca=True).expiry == datetime.timedelta(hours=26280)
    config = write_json(tmp_path / "ca-config.json", CA_CONFIG)
    assert request(csr_json=csr, is_ca=True, ca_config_json=config, profile_name="ca").expiry == datetime.timedelta(
        hours=43800
    )
    with pytest.raises(PkiError, match=r"ca_constraint\.is_ca is True but is_ca is False"):
        build_request({"cn": "x", "ca_config_json": config, "profile_name": "ca"})


def test_ca_config_ignored_fields_warn(tmp_path):
    config = write_json(tmp_path / "ca-config.json", CA_CONFIG)
    _req, warnings = build_request({"cn": "x", "ca_config_json": config, "profile_name": "odd"})
    assert len(warnings) == 1
    assert "'auth_key' is not implemented" in warnings[0]


@pytest.mark.parametrize(
    ("csr", "message"),
    [
        ({"CN": "x", "extensions": []}, "unsupported field(s) extensions; this module understands CN, hosts, key"),
        ({"hosts": ["a"]}, "csr.json: CN: a common name is required"),
        ({"CN": "x", "hosts": "a,b"}, "hosts must be a list of strings"),
        ({"CN": "x", "key": {"algo": "rsa", "size": 2048, "curve": "p"}}, "key must be an object with algo and size"),
        ({"CN": "x", "ca": {"pathlen": 1}}, "ca supports only 'expiry'"),
        ({"CN": "x", "key": {"algo": "ed25519"}}, "key.algo: unknown algorithm 'ed25519'"),
        ("{not json", "is not valid JSON"),
        ([1], "expected a JSON object"),
    ],
)
def test_csr_json_errors(tmp_path, csr, message):
    path = write_json(tmp_path / "csr.json", csr)
    with pytest.raises(PkiError) as exc_info:
        build_request({"csr_json": path})
    assert message in str(exc_info.value)


def test_csr_json_exclusive_and_missing(tmp_path):
    path = write_json(tmp_path / "csr.json", CSR)
    with pytest.raises(PkiError, match="csr_json is mutually exclusive with cn"):
        build_request({"csr_json": path, "cn": "x"})
    with pytest.raises(PkiError, match=r"csr_json: .*/absent.json: No such file"):
        build_request({"csr_json": str(tmp_path / "absent.json")})


def test_ca_config_unknown_profile_lists_available(tmp_path):
    config = write_json(tmp_path / "ca-config.json", CA_CONFIG)
    with pytest.raises(PkiError, match=r"no profile 'kubernetes' in signing.profiles \(available: ca, kubelet, odd\)"):
        build_request({"cn": "x", "ca_config_json": config, "profile_name": "kubernetes"})
    with pytest.raises(PkiError, match="expected an object with a 'signing' object"):
        build_request({"cn": "x", "ca_config_json": write_json(tmp_path / "bad.json", {"profiles": {}})})


# --- issuing -----------------------------------------------------------------


def ext(cert, oid):
    return cert.extensions.get_extension_for_oid(oid)


def test_ca_extensions(ca):
    cert, key = ca
    constraints = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert constraints.critical
    assert constraints.value.ca is True
    usage = ext(cert, ExtensionOID.KEY_USAGE)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == ski.digest
    assert cert.issuer == cert.subject
    assert verify_issued_by(cert, cert) is None


def test_leaf_extensions_and_validity(ca, leaf):
    ca_cert, _ = ca
    assert verify_issued_by(leaf, ca_cert) is None
    assert ext(leaf, ExtensionOID.BASIC_CONSTRAINTS).critical
    assert ext(leaf, ExtensionOID.BASIC_CONSTRAINTS).value.ca is False
    assert ext(leaf, ExtensionOID.KEY_USAGE).critical
    eku = ext(leaf, ExtensionOID.EXTENDED_KEY_USAGE).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    sans = ext(leaf, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert sans.get_values_for_type(x509.DNSName) == ["etcd1"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.11"]
    ca_ski = ext(ca_cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    assert ext(leaf, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == ca_ski
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "airgap"
    assert leaf.not_valid_before_utc == NOW - datetime.timedelta(minutes=5)
    assert leaf.not_valid_after_utc == NOW + datetime.timedelta(hours=8760)
    assert 0 < leaf.serial_number < 2**159
    assert leaf.signature_hash_algorithm.name == "sha256"


def test_serials_are_random(ca, leaf_key):
    ca_cert, ca_key = ca
    serials = {
        issue_certificate(request(**LEAF), leaf_key, now=NOW, issuer_cert=ca_cert, issuer_key=ca_key).serial_number
        for _ in range(5)
    }
    assert len(serials) == 5
    # 159 random bits: at least one of five serials uses more than 150 bits.
    assert max(s.bit_length() for s in serials) > 150


def test_p384_ca_signs_with_sha384():
    req = request(cn="ca384", is_ca=True, key={"algo": "ecdsa", "size": 384})
    cert = issue_certificate(req, generate_private_key(req.key), now=NOW)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)


def test_subject_order_like_cfssl():
    req = request(cn="admin", names=[{"O": "system:masters", "C": "DE"}, {"O": "ops"}])
    subject = _pki.build_subject(req)
    assert [a.rfc4514_attribute_name for a in subject] == ["C", "O", "O", "CN"]
    assert subject.rfc4514_string() == "CN=admin,O=ops,O=system:masters,C=DE"


# --- deciding whether to keep a certificate ----------------------------------


def test_matching_certificate_is_kept(ca, leaf, leaf_key):
    ca_cert, _ = ca
    assert check_certificate(leaf, request(**LEAF), now=NOW, key=leaf_key, issuer_cert=ca_cert) == []
    # Order and case of hosts do not matter.
    same = {**LEAF, "hosts": ["10.0.0.11", "ETCD1", "etcd1"]}
    assert check_certificate(leaf, request(**same), now=NOW + 100 * 24 * HOUR, issuer_cert=ca_cert) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"hosts": ["etcd1", "10.0.0.11", "10.0.0.12"]}, "SANs differ: add 10.0.0.12"),
        ({"hosts": ["etcd1"]}, "SANs differ: remove 10.0.0.11"),
        ({"cn": "etcd-peer"}, "subject is 'CN=etcd-server,O=airgap', want 'CN=etcd-peer,O=airgap'"),
        ({"names": [{"O": "airgap"}, {"O": "system:masters"}]}, "want 'CN=etcd-server,O=system:masters,O=airgap'"),
        (
            {"profile": {"usages": ["digital signature", "server auth"]}},
            "usages are [digital signature, key encipherment, server auth, client auth], "
            "want [digital signature, server auth]",
        ),
        ({"profile": {"expiry": "2160h"}}, "longer than the expiry 2160h"),
    ],
)
def test_changed_request_gives_reason(ca, leaf, change, reason):
    ca_cert, _ = ca
    reasons = check_certificate(leaf, request(**{**LEAF, **change}), now=NOW, issuer_cert=ca_cert)
    assert len(reasons) == 1, reasons
    assert reason in reasons[0]


def test_other_ca_other_key_and_ca_flag(ca, leaf):
    ca_cert, _ = ca
    req = request(**LEAF)
    other_req = request(cn="test-ca", is_ca=True, key={"algo": "ecdsa"})
    other_ca = issue_certificate(other_req, generate_private_key(other_req.key), now=NOW)
    # Same subject as the real CA, different key: the signature decides.
    assert check_certificate(leaf, req, now=NOW, issuer_cert=other_ca) == [
        "issuer: signature does not verify with the key of 'CN=test-ca'"
    ]
    assert check_certificate(leaf, req, now=NOW, issuer_cert=ca_cert, key=generate_private_key(req.key)) == [
        "certificate does not match the private key"
    ]
    ca_req = request(cn="etcd-server", is_ca=True, names=[{"O": "airgap"}], key={"algo": "ecdsa"})
    reasons = check_certificate(leaf, ca_req, now=NOW, issuer_cert=ca_cert)
    assert "is_ca is False, want True" in reasons


def test_renewal_window(ca, leaf):
    ca_cert, _ = ca
    req = request(**LEAF)
    not_after = leaf.not_valid_after_utc
    assert check_certificate(leaf, req, now=not_after - 721 * HOUR, issuer_cert=ca_cert) == []
    reasons = check_certificate(leaf, req, now=not_after - 719 * HOUR, issuer_cert=ca_cert)
    assert reasons == [f"expires in 719h (at {_pki.iso(not_after)}), less than renew_before 720h"]
    assert check_certificate(leaf, req, now=not_after + HOUR, issuer_cert=ca_cert) == [
        f"expired at {_pki.iso(not_after)}"
    ]


def test_ca_renews_in_last_tenth_of_its_life(ca):
    cert, key = ca
    req = request(cn="test-ca", is_ca=True, key={"algo": "ecdsa"})
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert check_certificate(cert, req, now=cert.not_valid_after_utc - lifetime / 10 - HOUR, key=key) == []
    reasons = check_certificate(cert, req, now=cert.not_valid_after_utc - lifetime / 10 + HOUR, key=key)
    assert len(reasons) == 1
    assert "less than renew_before" in reasons[0]


def test_not_yet_valid_is_reissued(leaf, ca):
    reasons = check_certificate(leaf, request(**LEAF), now=NOW - HOUR, issuer_cert=ca[0])
    assert f"not valid before {_pki.iso(leaf.not_valid_before_utc)}, which is in the future" in reasons
