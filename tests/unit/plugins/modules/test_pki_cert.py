from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import socket
import stat
import subprocess
import time
import typing as t
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from ansible_collections.airgap.k8s.plugins.module_utils import _pki
from ansible_collections.airgap.k8s.plugins.modules import pki_cert

HOUR = datetime.timedelta(hours=1)


def run(run_module, args, **kwargs):
    return run_module(pki_cert.main, args, **kwargs)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, check=False)


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


@pytest.fixture(scope="module")
def pki(tmp_path_factory, run_module):
    """A cluster CA (module defaults: RSA 2048, 10 years) and an unrelated CA."""
    base = tmp_path_factory.mktemp("pki")
    ca = {"ca_cert": str(base / "ca.crt"), "ca_key": str(base / "ca.key")}
    created = run(
        run_module, {"path": ca["ca_cert"], "privatekey_path": ca["ca_key"], "cn": "airgap-ca", "is_ca": True}
    )
    assert not created.failed, created.result
    other = {"ca_cert": str(base / "other" / "ca.crt"), "ca_key": str(base / "other" / "ca.key")}
    created_other = run(
        run_module,
        {
            "path": other["ca_cert"],
            "privatekey_path": other["ca_key"],
            "cn": "other-ca",
            "is_ca": True,
            "key": {"algo": "ecdsa", "size": 384},
        },
    )
    assert not created_other.failed, created_other.result
    return {"dir": base, "ca": ca, "other": other, "ca_result": created.result}


def leaf_args(tmp_path, ca, name="leaf", **over):
    args = {
        "path": str(tmp_path / f"{name}.crt"),
        "privatekey_path": str(tmp_path / f"{name}.key"),
        "cn": name,
        **ca,
    }
    args.update(over)
    return args


# --- CA ----------------------------------------------------------------------


def test_ca_is_self_signed_with_ca_extensions(pki):
    ca_cert, ca_key = pki["ca"]["ca_cert"], pki["ca"]["ca_key"]
    result = pki["ca_result"]
    assert result["changed"] is True
    assert mode(ca_key) == 0o600
    assert mode(ca_cert) == 0o644
    assert openssl("verify", "-CAfile", ca_cert, ca_cert).stdout.strip() == f"{ca_cert}: OK"
    text = openssl("x509", "-in", ca_cert, "-noout", "-text").stdout
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE" in text
    assert "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign" in text
    assert "X509v3 Subject Key Identifier" in text
    assert "X509v3 Authority Key Identifier" in text
    assert "Public-Key: (2048 bit)" in text
    assert result["subject"] == result["issuer"] == "CN=airgap-ca"
    # Returned values are what openssl reads from the file.
    assert openssl("x509", "-in", ca_cert, "-noout", "-serial").stdout.strip() == f"serial={result['serial']}"
    fingerprint = openssl("x509", "-in", ca_cert, "-noout", "-fingerprint", "-sha256").stdout.strip()
    assert fingerprint.split("=", 1)[1] == result["sha256_fingerprint"]
    cert = load(ca_cert)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(hours=87600, minutes=5)
    assert _pki.iso(cert.not_valid_after_utc) == result["not_after"]
    assert "BEGIN RSA PRIVATE KEY" in Path(ca_key).read_text()


def test_ca_second_run_unchanged(pki, run_module):
    ca = pki["ca"]
    before = os.stat(ca["ca_cert"])
    again = run(run_module, {"path": ca["ca_cert"], "privatekey_path": ca["ca_key"], "cn": "airgap-ca", "is_ca": True})
    assert again.result["changed"] is False
    assert again.result["reasons"] == []
    assert again.result["sha256_fingerprint"] == pki["ca_result"]["sha256_fingerprint"]
    assert os.stat(ca["ca_cert"]).st_ino == before.st_ino  # not rewritten


# --- leaf certificates -------------------------------------------------------


def test_server_and_client_cert_verify_with_openssl(pki, tmp_path, run_module):
    args = leaf_args(
        tmp_path,
        pki["ca"],
        "apiserver",
        hosts=["kubernetes", "kubernetes.default.svc.cluster.local", "10.96.0.1", "192.0.2.10"],
        names=[{"O": "system:masters"}, {"O": "system:nodes", "C": "DE"}],
    )
    result = run(run_module, args).result
    assert result["changed"] is True
    ca = pki["ca"]["ca_cert"]
    for purpose in ("sslserver", "sslclient"):
        verified = openssl("verify", "-CAfile", ca, "-purpose", purpose, args["path"])
        assert verified.stdout.strip() == f"{args['path']}: OK", verified.stderr
    sans = openssl("x509", "-in", args["path"], "-noout", "-ext", "subjectAltName").stdout
    assert (
        "DNS:kubernetes, DNS:kubernetes.default.svc.cluster.local, IP Address:10.96.0.1, IP Address:192.0.2.10" in sans
    )
    usage = openssl("x509", "-in", args["path"], "-noout", "-ext", "keyUsage,extendedKeyUsage").stdout
    assert "X509v3 Key Usage: critical\n    Digital Signature, Key Encipherment" in usage
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in usage
    subject = openssl("x509", "-in", args["path"], "-noout", "-subject", "-nameopt", "RFC2253").stdout.strip()
    assert subject == "subject=CN=apiserver,O=system:nodes,O=system:masters,C=DE"
    assert result["subject"] == "CN=apiserver,O=system:nodes,O=system:masters,C=DE"
    assert result["issuer"] == "CN=airgap-ca"
    assert result["sans"] == ["kubernetes", "kubernetes.default.svc.cluster.local", "10.96.0.1", "192.0.2.10"]
    cert = load(args["path"])
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(hours=8760, minutes=5)
    assert mode(args["privatekey_path"]) == 0o600
    assert mode(args["path"]) == 0o644


def test_profile_usages_and_expiry_as_asked(pki, tmp_path, run_module):
    args = leaf_args(
        tmp_path,
        pki["ca"],
        "admin",
        key={"algo": "ecdsa", "size": 256},
        names=[{"O": "system:masters"}],
        profile={"expiry": "90d", "usages": ["signing", "client auth"]},
    )
    assert run(run_module, args).result["changed"] is True
    ca = pki["ca"]["ca_cert"]
    assert openssl("verify", "-CAfile", ca, "-purpose", "sslclient", args["path"]).returncode == 0
    # Not a server certificate: openssl refuses it for that purpose.
    assert openssl("verify", "-CAfile", ca, "-purpose", "sslserver", args["path"]).returncode != 0
    text = openssl("x509", "-in", args["path"], "-noout", "-text").stdout
    assert "Digital Signature\n" in text
    assert "Key Encipherment" not in text
    assert "TLS Web Client Authentication\n" in text
    assert "Public Key Algorithm: id-ecPublicKey" in text
    assert "NIST CURVE: P-256" in text
    cert = load(args["path"])
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=90, minutes=5)


def test_second_run_unchanged_even_with_reordered_hosts(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], hosts=["etcd1", "10.0.0.11"])
    first = run(run_module, args).result
    cert_bytes, key_bytes = Path(args["path"]).read_bytes(), Path(args["privatekey_path"]).read_bytes()
    again = run(run_module, {**args, "hosts": ["10.0.0.11", "ETCD1", "etcd1"]}).result
    assert again["changed"] is False, again["reasons"]
    assert again["serial"] == first["serial"]
    assert Path(args["path"]).read_bytes() == cert_bytes
    assert Path(args["privatekey_path"]).read_bytes() == key_bytes


def test_adding_a_san_reissues_and_keeps_the_key(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], hosts=["etcd1", "10.0.0.11"])
    first = run(run_module, args).result
    key_bytes = Path(args["privatekey_path"]).read_bytes()
    second = run(run_module, {**args, "hosts": ["etcd1", "10.0.0.11", "10.0.0.12"]}).result
    assert second["changed"] is True
    assert second["reasons"] == ["SANs differ: add 10.0.0.12"]
    assert second["serial"] != first["serial"]
    assert second["sans"] == ["etcd1", "10.0.0.11", "10.0.0.12"]
    assert Path(args["privatekey_path"]).read_bytes() == key_bytes
    assert _pki.same_public_key(load(args["path"]), _pki.load_private_key(args["privatekey_path"]))
    assert openssl("verify", "-CAfile", pki["ca"]["ca_cert"], args["path"]).returncode == 0


def test_regenerate_key_and_key_spec_change_rotate_the_key(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"])
    run(run_module, args)
    key_bytes = Path(args["privatekey_path"]).read_bytes()
    regenerated = run(run_module, {**args, "regenerate_key": True}).result
    assert regenerated["reasons"] == ["regenerate_key: a new private key was requested"]
    assert Path(args["privatekey_path"]).read_bytes() != key_bytes
    switched = run(run_module, {**args, "key": {"algo": "ecdsa", "size": 384}}).result
    assert switched["reasons"] == ["private key is rsa 2048, want ecdsa 384"]
    assert _pki.key_spec_of(load(args["path"]).public_key()) == _pki.KeySpec("ecdsa", 384)
    assert _pki.same_public_key(load(args["path"]), _pki.load_private_key(args["privatekey_path"]))
    assert run(run_module, {**args, "key": {"algo": "ecdsa", "size": 384}}).result["changed"] is False


def test_force_reissues_with_same_key(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], key={"algo": "ecdsa"})
    first = run(run_module, args).result
    key_bytes = Path(args["privatekey_path"]).read_bytes()
    forced = run(run_module, {**args, "force": True}).result
    assert forced["changed"] is True
    assert forced["reasons"] == ["force: re-issue requested"]
    assert forced["serial"] != first["serial"]
    assert Path(args["privatekey_path"]).read_bytes() == key_bytes


def test_near_expiry_is_reissued(pki, tmp_path, run_module, monkeypatch):
    args = leaf_args(tmp_path, pki["ca"], key={"algo": "ecdsa"})
    first = run(run_module, args).result
    not_after = load(args["path"]).not_valid_after_utc
    # 31 days before the end: still outside the 720h window.
    monkeypatch.setattr(pki_cert, "utcnow", lambda: not_after - 31 * 24 * HOUR)
    assert run(run_module, args).result["changed"] is False
    # 29 days before the end: renewed, with the same key.
    later = not_after - 29 * 24 * HOUR
    monkeypatch.setattr(pki_cert, "utcnow", lambda: later)
    renewed = run(run_module, args).result
    assert renewed["changed"] is True
    assert renewed["reasons"] == [f"expires in 696h (at {first['not_after']}), less than renew_before 720h"]
    cert = load(args["path"])
    assert cert.not_valid_before_utc == later - datetime.timedelta(minutes=5)
    assert cert.not_valid_after_utc == later + datetime.timedelta(hours=8760)
    assert _pki.same_public_key(cert, _pki.load_private_key(args["privatekey_path"]))


def test_signed_by_another_ca_is_reissued(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["other"], key={"algo": "ecdsa"})
    run(run_module, args)
    moved = run(run_module, {**args, **pki["ca"]}).result
    assert moved["changed"] is True
    assert moved["reasons"] == ["issuer: issuer is 'CN=other-ca', want 'CN=airgap-ca'"]
    assert openssl("verify", "-CAfile", pki["ca"]["ca_cert"], args["path"]).returncode == 0


def test_intermediate_ca_chain_verifies(pki, tmp_path, run_module):
    inter = leaf_args(tmp_path, pki["ca"], "intermediate", is_ca=True, key={"algo": "ecdsa"})
    assert not run(run_module, inter).failed
    leaf = leaf_args(
        tmp_path,
        {"ca_cert": inter["path"], "ca_key": inter["privatekey_path"]},
        "leaf",
        hosts=["node1"],
        key={"algo": "ecdsa"},
    )
    assert not run(run_module, leaf).failed
    verified = openssl("verify", "-CAfile", pki["ca"]["ca_cert"], "-untrusted", inter["path"], leaf["path"])
    assert verified.returncode == 0, verified.stderr


def test_ca_renewed_with_same_key_keeps_its_certificates(tmp_path, run_module):
    ca = leaf_args(tmp_path, {}, "short-ca", is_ca=True, key={"algo": "ecdsa"}, profile={"expiry": "2000h"})
    run(run_module, ca)
    signer = {"ca_cert": ca["path"], "ca_key": ca["privatekey_path"]}
    leaf = leaf_args(tmp_path, signer, "leaf", key={"algo": "ecdsa"})
    issued = run(run_module, leaf)
    assert issued.warnings == [
        f"{leaf['path']} is valid until {issued.result['not_after']}, after its CA {ca['path']} expires "
        f"({_pki.iso(load(ca['path']).not_valid_after_utc)}); renew the CA (same key) before then"
    ]
    renewed_ca = run(run_module, {**ca, "force": True, "profile": {"expiry": "87600h"}})
    assert renewed_ca.result["changed"] is True
    again = run(run_module, leaf)
    assert again.result["changed"] is False
    assert again.warnings == []
    assert openssl("verify", "-CAfile", ca["path"], leaf["path"]).returncode == 0


# --- files, modes, check mode, diff ------------------------------------------


def test_new_directories_and_modes_ignore_a_permissive_umask(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], key={"algo": "ecdsa"})
    args["path"] = str(tmp_path / "etcd" / "server.crt")
    args["privatekey_path"] = str(tmp_path / "etcd" / "keys" / "server.key")
    old = os.umask(0)
    try:
        assert run(run_module, args).result["changed"] is True
    finally:
        os.umask(old)
    assert mode(tmp_path / "etcd") == 0o700
    assert mode(tmp_path / "etcd" / "keys") == 0o700
    assert mode(args["privatekey_path"]) == 0o600
    assert mode(args["path"]) == 0o644
    assert [p for p in os.listdir(tmp_path / "etcd") if p.endswith(".tmp")] == []


def test_wrong_modes_are_corrected_without_reissue(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], key={"algo": "ecdsa"})
    first = run(run_module, args).result
    os.chmod(args["privatekey_path"], 0o644)
    os.chmod(args["path"], 0o600)
    fixed = run(run_module, args).result
    assert fixed["changed"] is True
    assert fixed["reasons"] == [
        f"mode of {args['privatekey_path']} is 0644, want 0600",
        f"mode of {args['path']} is 0600, want 0644",
    ]
    assert fixed["serial"] == first["serial"]
    assert mode(args["privatekey_path"]) == 0o600
    assert mode(args["path"]) == 0o644


def test_a_wider_directory_is_set_back_to_0700(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], key={"algo": "ecdsa"})
    args["path"] = str(tmp_path / "etcd" / "server.crt")
    args["privatekey_path"] = str(tmp_path / "etcd" / "server.key")
    first = run(run_module, args).result
    os.chmod(tmp_path / "etcd", 0o755)
    predicted = run(run_module, args, check_mode=True).result
    assert predicted["reasons"] == [f"mode of {tmp_path / 'etcd'} is 0755, want 0700"]
    assert mode(tmp_path / "etcd") == 0o755
    fixed = run(run_module, args).result
    assert fixed["changed"] is True
    assert fixed["reasons"] == predicted["reasons"]
    assert fixed["serial"] == first["serial"]
    assert mode(tmp_path / "etcd") == 0o700
    assert run(run_module, args).result["changed"] is False


def test_check_mode_writes_nothing(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], hosts=["etcd1"], key={"algo": "ecdsa"})
    args["path"] = str(tmp_path / "new" / "leaf.crt")
    args["privatekey_path"] = str(tmp_path / "new" / "leaf.key")
    predicted = run(run_module, args, check_mode=True).result
    assert predicted["changed"] is True
    assert predicted["serial"] is None
    assert predicted["sha256_fingerprint"] is None
    assert predicted["sans"] == ["etcd1"]
    assert predicted["issuer"] == "CN=airgap-ca"
    assert not (tmp_path / "new").exists()

    run(run_module, args)
    snapshot = {p: (Path(p).read_bytes(), os.stat(p).st_ino) for p in (args["path"], args["privatekey_path"])}
    would = run(run_module, {**args, "hosts": ["etcd1", "etcd2"]}, check_mode=True).result
    assert would["changed"] is True
    assert would["reasons"] == ["SANs differ: add etcd2"]
    os.chmod(args["privatekey_path"], 0o640)
    assert run(run_module, args, check_mode=True).result["changed"] is True
    assert mode(args["privatekey_path"]) == 0o640
    os.chmod(args["privatekey_path"], 0o600)
    assert run(run_module, args, check_mode=True).result["changed"] is False
    assert snapshot == {p: (Path(p).read_bytes(), os.stat(p).st_ino) for p in snapshot}


def test_diff_summarises_and_never_shows_the_key(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], hosts=["etcd1"])
    created = run(run_module, args, diff=True)
    assert created.result["diff"]["before"] == ""
    after = created.result["diff"]["after"]
    assert "subject: CN=leaf\n" in after
    assert "sans: etcd1\n" in after
    assert f"not_after: {created.result['not_after']}\n" in after
    assert f"sha256_fingerprint: {created.result['sha256_fingerprint']}\n" in after
    changed = run(run_module, {**args, "hosts": ["etcd1", "10.0.0.11"]}, diff=True)
    assert "sans: etcd1\n" in changed.result["diff"]["before"]
    assert "sans: etcd1, 10.0.0.11\n" in changed.result["diff"]["after"]
    key_pem = Path(args["privatekey_path"]).read_text()
    key_body = "".join(key_pem.splitlines()[1:-1])
    for output in (created.output, changed.output):
        assert "PRIVATE KEY" not in output
        assert key_body[:64] not in output.replace("\\n", "")


# --- errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"key": {"algo": "dsa"}}, "value of algo must be one of: rsa, ecdsa, got: dsa"),
        ({"key": {"size": 1024}}, "key.size: 1024 is not supported for rsa; use one of: 2048, 3072, 4096"),
        ({"key": {"algo": "ecdsa", "size": 521}}, "key.size: 521 is not supported for ecdsa; use one of: 256, 384"),
        ({"hosts": ["10.0.0.300"]}, "hosts: '10.0.0.300' is neither an IP address nor a valid DNS name"),
        ({"hosts": ["under_score.example"]}, "hosts: 'under_score.example' is neither an IP address nor a valid DNS"),
        ({"hosts": ["*.example.com"]}, "hosts: '*.example.com' is a wildcard; set allow_wildcards: true"),
        ({"cn": ""}, "cn: a common name is required (for CA and leaf certificates)"),
        ({"profile": {"usages": ["server auth", "serverauth"]}}, "profile.usages: unknown usage 'serverauth'"),
        ({"profile": {"expiry": "1y"}}, "profile.expiry: '1y' is not a duration"),
        ({"names": [{"C": "Germany"}]}, "names[0].C: 'Germany' is not a two-letter country code"),
        ({"ca_cert": None, "ca_key": None}, "is_ca is False but all of the following are missing: ca_cert, ca_key"),
        ({"csr_json": "/nonexistent/csr.json"}, "parameters are mutually exclusive: csr_json|cn"),
    ],
)
def test_bad_requests_fail_clearly_and_write_nothing(pki, tmp_path, run_module, over, message):
    args = {k: v for k, v in leaf_args(tmp_path, pki["ca"], **over).items() if v is not None}
    outcome = run(run_module, args)
    assert outcome.failed
    assert message in outcome.result["msg"]
    assert not os.path.exists(args["path"])
    assert not os.path.exists(args["privatekey_path"])


def test_ca_problems_fail_clearly(pki, tmp_path, run_module):
    missing = run(
        run_module, leaf_args(tmp_path, {"ca_cert": str(tmp_path / "no.crt"), "ca_key": str(tmp_path / "no.key")})
    )
    assert missing.failed
    assert f"ca_cert: {tmp_path / 'no.crt'} does not exist; create the CA first" in missing.result["msg"]
    mismatched = {"ca_cert": pki["ca"]["ca_cert"], "ca_key": pki["other"]["ca_key"]}
    outcome = run(run_module, leaf_args(tmp_path, mismatched))
    assert outcome.failed
    assert f"ca_key: {pki['other']['ca_key']} does not match ca_cert {pki['ca']['ca_cert']}" in outcome.result["msg"]
    leaf = leaf_args(tmp_path, pki["ca"], "plain", key={"algo": "ecdsa"})
    run(run_module, leaf)
    not_a_ca = run(run_module, leaf_args(tmp_path, {"ca_cert": leaf["path"], "ca_key": leaf["privatekey_path"]}))
    assert not_a_ca.failed
    assert "is not a CA certificate (basicConstraints CA:FALSE)" in not_a_ca.result["msg"]


def test_unreadable_existing_key_is_not_overwritten(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], key={"algo": "ecdsa"})
    with open(args["privatekey_path"], "w") as handle:
        handle.write("not a key\n")
    outcome = run(run_module, args)
    assert outcome.failed
    assert "is not a PEM private key; remove the file or set regenerate_key: true" in outcome.result["msg"]
    assert Path(args["privatekey_path"]).read_text() == "not a key\n"
    assert run(run_module, {**args, "regenerate_key": True}).result["changed"] is True


def test_missing_cryptography_is_reported(monkeypatch, tmp_path, run_module):
    monkeypatch.setattr(pki_cert, "HAS_CRYPTOGRAPHY", False)
    outcome = run(
        run_module, {"path": str(tmp_path / "c"), "privatekey_path": str(tmp_path / "k"), "cn": "x", "is_ca": True}
    )
    assert outcome.failed
    assert "Failed to import the required Python library (cryptography)" in outcome.result["msg"]


def test_documentation_matches_argument_spec(documented_spec):
    documented, spec = documented_spec(pki_cert)
    assert documented == spec


def test_return_values_are_documented(pki, tmp_path, run_module):
    documented = yaml.safe_load(pki_cert.RETURN)
    # The single form returns what it always did; the list form only `results`, each with the single form's values.
    assert set(documented) - {"results", "key_pairs"} == set(pki["ca_result"]) - {"changed", "invocation"}
    listed = run(run_module, {**pki["ca"], "certs": [leaf_args(tmp_path, {}, "one")]})
    assert set(listed.result) - {"changed", "invocation"} == {"results"}
    assert set(documented["results"]["contains"]) == set(listed.result["results"][0])
    pair = {"privatekey_path": str(tmp_path / "sa.key"), "public_path": str(tmp_path / "sa.pub")}
    paired = run(run_module, {**pki["ca"], "certs": [leaf_args(tmp_path, {}, "one")], "key_pairs": [pair]})
    assert set(paired.result) - {"changed", "invocation"} == {"results", "key_pairs"}
    assert set(documented["key_pairs"]["contains"]) == set(paired.result["key_pairs"][0])


# --- key pairs without a certificate (key_pairs) ---------------------------------


def sa_pair(directory: Path) -> dict[str, str]:
    return {"privatekey_path": str(directory / "sa.key"), "public_path": str(directory / "sa.pub")}


def test_key_pairs_made_once_and_kept(pki, tmp_path, run_module):
    certs = [leaf_args(tmp_path, pki["ca"], "one")]
    pair = sa_pair(tmp_path / "sa")
    made = run(run_module, {"certs": certs, "key_pairs": [{**pair, "key": {"algo": "rsa", "size": 2048}}]})
    assert not made.failed, made.result
    assert made.result["changed"] and made.result["key_pairs"][0]["changed"]
    key = _pki.load_private_key(pair["privatekey_path"])
    assert _pki.key_spec_of(key) == _pki.KeySpec("rsa", 2048)
    # The public key openssl derives from the private key, byte for byte.
    derived = openssl("pkey", "-in", pair["privatekey_path"], "-pubout")
    assert derived.returncode == 0 and Path(pair["public_path"]).read_text() == derived.stdout
    assert (mode(pair["privatekey_path"]), mode(pair["public_path"]), mode(tmp_path / "sa")) == (0o600, 0o644, 0o700)

    again = run(run_module, {"certs": certs, "key_pairs": [pair]})
    assert not again.failed and not again.result["changed"], again.result
    assert again.result["key_pairs"] == [{**pair, "changed": False, "reasons": []}]

    # Another key type asked for: the existing key stays (tokens signed with it keep verifying).
    other = run(run_module, {"certs": certs, "key_pairs": [{**pair, "key": {"algo": "ecdsa", "size": 256}}]})
    assert not other.result["changed"], other.result
    assert _pki.same_public_key(_pki.load_private_key(pair["privatekey_path"]), key)


def test_key_pairs_public_key_and_modes_are_repaired(pki, tmp_path, run_module):
    certs = [leaf_args(tmp_path, pki["ca"], "one")]
    pair = sa_pair(tmp_path)
    assert not run(run_module, {"certs": certs, "key_pairs": [pair]}).failed
    key_before = Path(pair["privatekey_path"]).read_bytes()
    # A public key of another key pair, and a private key readable by others.
    other = _pki.generate_private_key(_pki.KeySpec("rsa", 2048))
    Path(pair["public_path"]).write_bytes(_pki.serialize_public_key(other))
    os.chmod(pair["privatekey_path"], 0o644)
    fixed = run(run_module, {"certs": certs, "key_pairs": [pair]})
    assert fixed.result["changed"], fixed.result
    reasons = fixed.result["key_pairs"][0]["reasons"]
    assert f"{pair['public_path']} is not the public key of {pair['privatekey_path']}" in reasons
    assert f"mode of {pair['privatekey_path']} is 0644, want 0600" in reasons
    assert Path(pair["privatekey_path"]).read_bytes() == key_before
    assert mode(pair["privatekey_path"]) == 0o600
    key = _pki.load_private_key(pair["privatekey_path"])
    assert _pki.same_public_key(key, _pki.parse_public_key(Path(pair["public_path"]).read_bytes(), "sa.pub"))


def test_key_pairs_check_mode_writes_nothing(pki, tmp_path, run_module):
    certs = [leaf_args(tmp_path / "c", pki["ca"], "one")]
    pair = sa_pair(tmp_path / "sa")
    checked = run(run_module, {"certs": certs, "key_pairs": [pair]}, check_mode=True)
    assert checked.result["changed"] and checked.result["key_pairs"][0]["reasons"] == [
        f"private key {pair['privatekey_path']} is missing or empty",
        f"public key {pair['public_path']} is missing or empty",
    ]
    assert not (tmp_path / "sa").exists() and not (tmp_path / "c").exists()


def test_key_pairs_an_unreadable_key_fails_before_any_write(pki, tmp_path, run_module):
    certs = [leaf_args(tmp_path / "c", pki["ca"], "one")]
    pair = sa_pair(tmp_path)
    Path(pair["privatekey_path"]).write_text("not a key\n")
    failed = run(run_module, {"certs": certs, "key_pairs": [pair]})
    assert failed.failed
    assert failed.result["msg"] == (
        f"key_pairs[0] ({pair['privatekey_path']}): privatekey_path: {pair['privatekey_path']} is not a PEM private "
        "key; remove the file to make a new key pair"
    )
    assert Path(pair["privatekey_path"]).read_text() == "not a key\n"
    assert not Path(pair["public_path"]).exists() and not (tmp_path / "c").exists()


def test_key_pairs_need_certs(tmp_path, run_module):
    failed = run(run_module, {"path": str(tmp_path / "x.crt"), "privatekey_path": str(tmp_path / "x.key"),
                              "cn": "x", "is_ca": True, "key_pairs": [sa_pair(tmp_path)]})  # fmt: skip
    assert failed.failed and "key_pairs" in failed.result["msg"] and "certs" in failed.result["msg"]
    assert not list(tmp_path.iterdir())


# --- several certificates in one call (certs) ----------------------------------

RunModule = t.Callable[..., t.Any]


def cert_paths(directory: Path, name: str) -> dict[str, str]:
    return {"path": str(directory / f"{name}.crt"), "privatekey_path": str(directory / f"{name}.key")}


def files_in(directory: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_certs_issues_a_ca_and_what_it_signs_in_one_call_in_order(tmp_path: Path, run_module: RunModule) -> None:
    ca = cert_paths(tmp_path, "ca")
    signer = {"ca_cert": ca["path"], "ca_key": ca["privatekey_path"]}
    args = {
        # Top-level defaults of every element.
        "key": {"algo": "ecdsa", "size": 256},
        "names": [{"O": "system:nodes"}],
        "profile": {"expiry": "2000h", "usages": ["digital signature", "client auth"]},
        "certs": [
            {**ca, "cn": "batch-ca", "is_ca": True, "names": [], "profile": {"usages": ["cert sign", "crl sign"]}},
            {**cert_paths(tmp_path, "client"), **signer, "cn": "system:node:n1"},
            {
                **cert_paths(tmp_path, "serving"),
                **signer,
                "cn": "system:node:n1",
                "hosts": ["n1", "10.0.0.21"],
                "key": {"algo": "ecdsa", "size": 384},
                "profile": {"usages": ["digital signature", "server auth"]},
            },
        ],
    }
    first = run(run_module, args)
    assert not first.failed, first.result
    assert first.result["changed"] is True
    results = first.result["results"]
    assert [r["path"] for r in results] == [ca["path"], str(tmp_path / "client.crt"), str(tmp_path / "serving.crt")]
    assert [r["changed"] for r in results] == [True, True, True]
    assert results[0]["subject"] == results[0]["issuer"] == "CN=batch-ca"  # the element's empty names won
    assert results[1]["subject"] == "CN=system:node:n1,O=system:nodes"  # top-level names
    assert results[1]["issuer"] == results[2]["issuer"] == "CN=batch-ca"
    assert results[2]["sans"] == ["n1", "10.0.0.21"]
    # The CA made by the first element signed the others, in the same call.
    for name, purpose in (("client", "sslclient"), ("serving", "sslserver")):
        verified = openssl("verify", "-CAfile", ca["path"], "-purpose", purpose, str(tmp_path / f"{name}.crt"))
        assert verified.returncode == 0, verified.stderr
    client, serving = load(tmp_path / "client.crt"), load(tmp_path / "serving.crt")
    # Top-level key and profile apply where the element has none; an element's own replaces them whole.
    assert _pki.key_spec_of(client.public_key()) == _pki.KeySpec("ecdsa", 256)
    assert _pki.key_spec_of(serving.public_key()) == _pki.KeySpec("ecdsa", 384)
    assert client.not_valid_after_utc - client.not_valid_before_utc == datetime.timedelta(hours=2000, minutes=5)
    assert serving.not_valid_after_utc - serving.not_valid_before_utc == datetime.timedelta(hours=8760, minutes=5)
    assert _pki.certificate_usages(client)[1] == frozenset({"1.3.6.1.5.5.7.3.2"})  # client auth only
    assert _pki.certificate_usages(serving)[1] == frozenset({"1.3.6.1.5.5.7.3.1"})  # server auth only

    snapshot = files_in(tmp_path)
    again = run(run_module, args)
    assert again.result["changed"] is False
    assert [(r["changed"], r["reasons"]) for r in again.result["results"]] == [(False, [])] * 3
    assert [r["serial"] for r in again.result["results"]] == [r["serial"] for r in results]
    assert files_in(tmp_path) == snapshot


def test_certs_check_mode_writes_nothing_and_predicts_each_certificate(tmp_path: Path, run_module: RunModule) -> None:
    ca = cert_paths(tmp_path / "pki", "ca")
    args = {
        "key": {"algo": "ecdsa"},
        "certs": [
            {**ca, "cn": "planned-ca", "is_ca": True},
            {
                **cert_paths(tmp_path / "pki", "leaf"),
                "cn": "leaf",
                "ca_cert": ca["path"],
                "ca_key": ca["privatekey_path"],
            },
        ],
    }
    predicted = run(run_module, args, check_mode=True, diff=True)
    assert not predicted.failed, predicted.result
    assert predicted.result["changed"] is True
    assert not (tmp_path / "pki").exists()
    ca_result, leaf_result = predicted.result["results"]
    assert ca_result["changed"] is leaf_result["changed"] is True
    assert ca_result["serial"] is leaf_result["serial"] is None
    # The CA does not exist yet: the one the first element would make is assumed.
    assert leaf_result["issuer"] == "CN=planned-ca"
    assert leaf_result["reasons"][0] == f"its CA {ca['path']} does not exist yet; it is created earlier in this call"
    assert [d["after_header"] for d in predicted.result["diff"]] == [ca["path"], leaf_result["path"]]

    assert run(run_module, args).result["changed"] is True
    snapshot = files_in(tmp_path)
    # A changed element is predicted, the others are not; one diff per changed certificate.
    leaf = args["certs"][1]
    would = run(
        run_module, {**args, "certs": [args["certs"][0], {**leaf, "hosts": ["n1"]}]}, check_mode=True, diff=True
    )
    assert would.result["changed"] is True
    assert [(r["changed"], r["reasons"]) for r in would.result["results"]] == [
        (False, []),
        (True, ["SANs differ: add n1"]),
    ]
    assert [d["after_header"] for d in would.result["diff"]] == [leaf["path"]]
    assert "sans: n1\n" in would.result["diff"][0]["after"]
    assert files_in(tmp_path) == snapshot


def test_certs_loads_each_ca_once_and_again_after_rewriting_it(
    pki: dict[str, t.Any], tmp_path: Path, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real_load_ca = _pki.load_ca

    def counting_load_ca(cert_path: str, key_path: str) -> t.Any:
        loads.append(cert_path)
        return real_load_ca(cert_path, key_path)

    monkeypatch.setattr(_pki, "load_ca", counting_load_ca)
    certs = [{**cert_paths(tmp_path, name), "cn": name} for name in ("a", "b", "c")]
    assert not run(run_module, {**pki["ca"], "key": {"algo": "ecdsa"}, "certs": certs}).failed
    assert loads == [pki["ca"]["ca_cert"]]

    # A CA rewritten (new key) by an element is loaded again for the elements after it.
    ca = {**cert_paths(tmp_path, "ca"), "cn": "rekeyed-ca", "is_ca": True, "key": {"algo": "ecdsa"}}
    assert not run(run_module, ca).failed
    signer = {"ca_cert": ca["path"], "ca_key": ca["privatekey_path"]}
    loads.clear()
    rekeyed = run(
        run_module,
        {
            "key": {"algo": "ecdsa"},
            "certs": [
                {**cert_paths(tmp_path, "before"), **signer, "cn": "before"},
                {**ca, "regenerate_key": True},
                {**cert_paths(tmp_path, "after"), **signer, "cn": "after"},
            ],
        },
    )
    assert not rekeyed.failed, rekeyed.result
    assert loads == [ca["path"], ca["path"]]
    assert openssl("verify", "-CAfile", ca["path"], str(tmp_path / "after.crt")).returncode == 0
    assert openssl("verify", "-CAfile", ca["path"], str(tmp_path / "before.crt")).returncode != 0


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"privatekey_path": "x.key"}, "certs[1]: missing required arguments: path"),
        ({"path": "{d}/x.crt"}, "certs[1] ({d}/x.crt): missing required arguments: privatekey_path"),
        ({"path": "{d}/x.crt", "privatekey_path": "{d}/x.key", "ca_cert": None, "ca_key": None},
         "certs[1] ({d}/x.crt): is_ca is False but all of the following are missing: ca_cert, ca_key"),
        ({"path": "{d}/x.crt", "privatekey_path": "{d}/x.key", "ca_key": None},
         "certs[1] ({d}/x.crt): parameters are required together: ca_cert, ca_key"),
        ({"path": "{d}/x.crt", "privatekey_path": "{d}/x.key", "csr_json": "{d}/x.json"},
         "certs[1] ({d}/x.crt): parameters are mutually exclusive: csr_json|cn"),
        ({"path": "{d}/x.crt", "privatekey_path": "{d}/x.key", "hosts": ["10.0.0.300"]},
         "certs[1] ({d}/x.crt): hosts: '10.0.0.300' is neither an IP address nor a valid DNS name"),
    ],
)  # fmt: skip
def test_certs_a_bad_element_is_named_and_nothing_is_written(
    pki: dict[str, t.Any], tmp_path: Path, run_module: RunModule, element: dict[str, t.Any], message: str
) -> None:
    """Every element is checked (top-level defaults filled in) before any certificate is written."""
    good = {**cert_paths(tmp_path, "good"), **pki["ca"]}
    bad = {**pki["ca"], **element}
    bad = {k: v.format(d=tmp_path) if isinstance(v, str) else v for k, v in bad.items() if v is not None}
    outcome = run(run_module, {"cn": "x", "certs": [good, bad]})
    assert outcome.failed
    assert outcome.result["msg"] == message.format(d=tmp_path)
    assert files_in(tmp_path) == {}


def test_certs_stops_at_a_failing_element_and_reports_the_ones_before(
    pki: dict[str, t.Any], tmp_path: Path, run_module: RunModule
) -> None:
    missing_ca = {"ca_cert": str(tmp_path / "no-ca.crt"), "ca_key": str(tmp_path / "no-ca.key")}
    bad = {**cert_paths(tmp_path, "bad"), **missing_ca}
    outcome = run(run_module, {**pki["ca"], "cn": "x", "certs": [cert_paths(tmp_path, "done"), bad]})
    assert outcome.failed
    assert outcome.result["msg"].startswith(
        f"certs[1] ({bad['path']}): ca_cert: {missing_ca['ca_cert']} does not exist"
    )
    assert outcome.result["changed"] is True
    assert [r["path"] for r in outcome.result["results"]] == [str(tmp_path / "done.crt")]


def test_certs_and_a_top_level_path_exclude_each_other(tmp_path: Path, run_module: RunModule) -> None:
    both = run(run_module, {**cert_paths(tmp_path, "top"), "cn": "x", "is_ca": True, "certs": []})
    assert both.failed
    assert "parameters are mutually exclusive: certs|path" in both.result["msg"]
    neither = run(run_module, {"cn": "x", "is_ca": True})
    assert neither.failed
    assert neither.result["msg"] == ("missing required arguments: path, privatekey_path (or list the files in certs)")


# --- cfssl -------------------------------------------------------------------

CFSSL = shutil.which("cfssl")


def require(found: str | None, tool: str, package: str) -> None:
    """The interop tests need real tools; requirements/debian.txt lists them, so a missing one fails."""
    if found is None:
        pytest.fail(f"{tool} is not installed: apt-get install {package} (requirements/debian.txt, `make prereqs`)")


@pytest.fixture
def cfssl_installed() -> None:
    require(CFSSL, "cfssl", "golang-cfssl")


needs_cfssl = pytest.mark.usefixtures("cfssl_installed")


def cfssl(*args: str, cwd=None) -> dict:
    done = subprocess.run([CFSSL, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_cfssl
def test_cfssl_certinfo_reads_our_certificates(pki, tmp_path, run_module):
    args = leaf_args(tmp_path, pki["ca"], "node1", hosts=["node1", "10.0.0.21"], names=[{"O": "system:nodes"}])
    result = run(run_module, args).result
    info = cfssl("certinfo", "-cert", args["path"])
    assert info["subject"]["common_name"] == "node1"
    assert info["subject"]["organization"] == "system:nodes"
    assert info["issuer"]["common_name"] == "airgap-ca"
    assert sorted(info["sans"]) == ["10.0.0.21", "node1"]
    assert int(info["serial_number"]) == int(result["serial"], 16)
    assert info["not_after"] == result["not_after"]
    ca_info = cfssl("certinfo", "-cert", pki["ca"]["ca_cert"])
    assert ca_info["subject"]["common_name"] == "airgap-ca"


@needs_cfssl
def test_cfssl_json_inputs_match_cfssl_gencert(pki, tmp_path, run_module):
    """The same CSR and ca-config give the same certificate content as cfssl itself, with our CA key."""
    csr = {"CN": "system:node:node1", "hosts": ["node1", "10.0.0.21"], "key": {"algo": "ecdsa", "size": 256},
           "names": [{"C": "DE", "O": "system:nodes"}]}  # fmt: skip
    config = {"signing": {"default": {"expiry": "8760h"}, "profiles": {"kubelet": {
        "expiry": "4380h", "usages": ["signing", "key encipherment", "server auth", "client auth"]}}}}  # fmt: skip
    (tmp_path / "csr.json").write_text(json.dumps(csr))
    (tmp_path / "ca-config.json").write_text(json.dumps(config))
    args = {
        "path": str(tmp_path / "ours.crt"),
        "privatekey_path": str(tmp_path / "ours.key"),
        "csr_json": str(tmp_path / "csr.json"),
        "ca_config_json": str(tmp_path / "ca-config.json"),
        "profile_name": "kubelet",
        **pki["ca"],
    }
    result = run(run_module, args).result
    assert result["changed"] is True
    assert run(run_module, args).result["changed"] is False
    # A profile field this module does not implement is named, not silently dropped.
    config["signing"]["profiles"]["kubelet"]["auth_key"] = "key1"
    (tmp_path / "ca-config-auth.json").write_text(json.dumps(config))
    warned = run(run_module, {**args, "ca_config_json": str(tmp_path / "ca-config-auth.json")})
    assert warned.result["changed"] is False
    assert warned.warnings == [
        f"ca_config_json: {tmp_path / 'ca-config-auth.json'}: profile field 'auth_key' is not implemented by "
        "airgap.k8s.pki_cert and is ignored"
    ]
    ca = pki["ca"]
    theirs = cfssl(
        "gencert", "-ca", ca["ca_cert"], "-ca-key", ca["ca_key"], "-config", str(tmp_path / "ca-config.json"),
        "-profile", "kubelet", str(tmp_path / "csr.json"),
    )  # fmt: skip
    cfssl_cert = x509.load_pem_x509_certificate(theirs["cert"].encode())
    ours = load(args["path"])
    assert ours.subject == cfssl_cert.subject
    assert ours.issuer == cfssl_cert.issuer
    assert sorted(_pki.certificate_sans(ours)) == sorted(_pki.certificate_sans(cfssl_cert))
    assert _pki.certificate_usages(ours) == _pki.certificate_usages(cfssl_cert)
    assert _pki.is_ca_certificate(ours) == _pki.is_ca_certificate(cfssl_cert) is False
    lifetime = ours.not_valid_after_utc - ours.not_valid_before_utc
    cfssl_lifetime = cfssl_cert.not_valid_after_utc - cfssl_cert.not_valid_before_utc
    assert abs(lifetime - cfssl_lifetime) <= datetime.timedelta(minutes=10)  # backdating differs
    # cfssl's certificate passes our idempotency check: a migration keeps it.
    request, _ = _pki.build_request(args)
    now = _pki.utcnow()
    key = x509.load_pem_x509_certificate(theirs["cert"].encode()).public_key()
    assert _pki.check_certificate(cfssl_cert, request, now=now, issuer_cert=load(ca["ca_cert"])) == []
    assert _pki.key_spec_of(key) == _pki.KeySpec("ecdsa", 256)


# --- etcd interop ------------------------------------------------------------

ETCD, ETCDCTL = shutil.which("etcd"), shutil.which("etcdctl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def etcdctl_args(endpoint: str, ca: str, cert: str | None, key: str | None, timeout: str = "5s") -> list[str]:
    args = [ETCDCTL, f"--endpoints={endpoint}", f"--cacert={ca}", "--dial-timeout=2s", f"--command-timeout={timeout}"]
    if cert:
        args += [f"--cert={cert}", f"--key={key}"]
    return args


ETCDCTL_ENV = {**os.environ, "ETCDCTL_API": "3"}


def etcdctl(*args: str, **kwargs) -> subprocess.CompletedProcess:
    command = etcdctl_args(*args[:4], **kwargs) + list(args[4:])
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env=ETCDCTL_ENV, check=False)


def etcdctl_refusals(calls: list[tuple]) -> list[tuple[int, str]]:
    """Run calls that should fail at the same time: each waits out its own timeout."""
    procs = [
        subprocess.Popen(
            etcdctl_args(*call[:4], timeout="2s") + list(call[4:]),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ETCDCTL_ENV,
        )
        for call in calls
    ]
    results = []
    for proc in procs:
        output = proc.communicate(timeout=30)[0]
        results.append((proc.returncode, output))
    return results


@contextlib.contextmanager
def etcd_server(endpoint: str, data_dir, log_path, server: dict, trusted_ca: str):
    """A single-member etcd serving TLS on ``endpoint`` that requires client certificates; always stopped."""
    peer = f"http://127.0.0.1:{free_port()}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                ETCD,
                "--name=test",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={endpoint}",
                f"--advertise-client-urls={endpoint}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=test={peer}",
                f"--cert-file={server['path']}",
                f"--key-file={server['privatekey_path']}",
                "--client-cert-auth",
                f"--trusted-ca-file={trusted_ca}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_real_etcd_accepts_our_certificates(pki, tmp_path, run_module):
    require(ETCD, "etcd", "etcd-server")
    require(ETCDCTL, "etcdctl", "etcd-client")
    etcd_ca = leaf_args(tmp_path, {}, "etcd-ca", is_ca=True, key={"algo": "ecdsa"})
    assert not run(run_module, etcd_ca).failed
    signer = {"ca_cert": etcd_ca["path"], "ca_key": etcd_ca["privatekey_path"]}
    server = leaf_args(tmp_path, signer, "etcd-server", hosts=["localhost", "127.0.0.1"])
    client = leaf_args(
        tmp_path, signer, "etcd-client", key={"algo": "ecdsa"}, profile={"usages": ["digital signature", "client auth"]}
    )
    # Same CN, signed by the unrelated CA: etcd must refuse it.
    stranger = leaf_args(tmp_path, pki["other"], "etcd-client-other", cn="etcd-client", key={"algo": "ecdsa"})
    for args in (server, client, stranger):
        assert not run(run_module, args).failed

    endpoint = f"https://127.0.0.1:{free_port()}"
    log_path = tmp_path / "etcd.log"
    with etcd_server(endpoint, tmp_path / "etcd-data", log_path, server, etcd_ca["path"]) as proc:
        ca = etcd_ca["path"]
        deadline = time.monotonic() + 30
        while True:
            health = etcdctl(endpoint, ca, client["path"], client["privatekey_path"], "endpoint", "health")
            if health.returncode == 0 or time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.5)
        assert health.returncode == 0, (health.stderr, log_path.read_text()[-3000:])
        put = etcdctl(endpoint, ca, client["path"], client["privatekey_path"], "put", "airgap", "ok")
        assert put.returncode == 0, put.stderr
        got = etcdctl(endpoint, ca, client["path"], client["privatekey_path"], "get", "airgap")
        assert got.stdout.split() == ["airgap", "ok"]

        refusals = etcdctl_refusals(
            [
                (endpoint, ca, stranger["path"], stranger["privatekey_path"], "get", "airgap"),
                (endpoint, ca, None, None, "get", "airgap"),
                # The client checks the server too: under the other CA, etcd's certificate is not trusted.
                (endpoint, pki["other"]["ca_cert"], client["path"], client["privatekey_path"], "get", "airgap"),
            ]
        )
        for returncode, output in refusals:
            assert returncode != 0, output
            assert "ok" not in output.split()
        # etcd says why it refused each one.
        log_text = log_path.read_text()
        assert "failed to verify client certificate: x509: certificate signed by unknown authority" in log_text
        assert "client didn't provide a certificate" in log_text
        assert "remote error: tls: bad certificate" in log_text
