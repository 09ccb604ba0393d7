from __future__ import annotations

import base64
import datetime
import json
import os
import stat
import typing as t
from pathlib import Path

import pytest
import yaml

from ansible_collections.airgap.k8s.plugins.module_utils import _kubeconfig, _pki
from ansible_collections.airgap.k8s.plugins.modules import kubeconfig


def issue(directory, name, *, signer=None, **params):
    """Write <name>.crt/.key issued from ``params`` (ECDSA for speed) and return their paths."""
    request, _ = _pki.build_request({"cn": name, "key": {"algo": "ecdsa"}, **params})
    key = _pki.generate_private_key(request.key)
    issuer = {} if signer is None else {"issuer_cert": signer[0], "issuer_key": signer[1]}
    cert = _pki.issue_certificate(request, key, now=_pki.utcnow(), **issuer)
    paths = {"cert": str(directory / f"{name}.crt"), "key": str(directory / f"{name}.key")}
    with open(paths["cert"], "wb") as handle:
        handle.write(_pki.serialize_certificate(cert))
    with open(paths["key"], "wb") as handle:
        handle.write(_pki.serialize_private_key(key))
    os.chmod(paths["key"], 0o600)
    return paths, (cert, key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("kubeconfig-pki")
    ca, ca_pair = issue(base, "kubernetes", is_ca=True)
    admin, _ = issue(base, "kubernetes-admin", signer=ca_pair, names=[{"O": "system:masters"}])
    admin2, _ = issue(base, "kubernetes-admin-renewed", signer=ca_pair, names=[{"O": "system:masters"}])
    apiserver, _ = issue(base, "kube-apiserver", signer=ca_pair, hosts=["127.0.0.1", "localhost"])
    other, other_pair = issue(base, "other-ca", is_ca=True)
    stranger, _ = issue(base, "stranger", signer=other_pair)
    return {"ca": ca, "admin": admin, "admin2": admin2, "apiserver": apiserver, "other": other, "stranger": stranger}


def args_for(pki, path, client="admin", **over):
    args = {
        "path": str(path),
        "cluster_name": "airgap",
        "server": "https://127.0.0.1:6443",
        "ca_cert": pki["ca"]["cert"],
        "client_cert": pki[client]["cert"],
        "client_key": pki[client]["key"],
    }
    args.update(over)
    return args


def run(run_module, args, **kwargs):
    return run_module(kubeconfig.main, args, **kwargs)


def b64(path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def test_writes_embedded_kubeconfig(pki, tmp_path, run_module):
    path = tmp_path / "conf" / "admin.conf"
    outcome = run(run_module, args_for(pki, path))
    assert not outcome.failed, outcome.result
    assert outcome.result["changed"] is True
    assert outcome.result["user"] == "kubernetes-admin"  # the certificate's CN
    assert outcome.result["context"] == "kubernetes-admin@airgap"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == "kubernetes-admin@airgap"
    assert doc["clusters"] == [
        {
            "name": "airgap",
            "cluster": {"certificate-authority-data": b64(pki["ca"]["cert"]), "server": "https://127.0.0.1:6443"},
        }
    ]
    assert doc["users"] == [
        {
            "name": "kubernetes-admin",
            "user": {"client-certificate-data": b64(pki["admin"]["cert"]), "client-key-data": b64(pki["admin"]["key"])},
        }
    ]
    assert doc["contexts"] == [
        {"name": "kubernetes-admin@airgap", "context": {"cluster": "airgap", "user": "kubernetes-admin"}}
    ]
    assert "PRIVATE KEY" not in outcome.output
    assert b64(pki["admin"]["key"]) not in outcome.output


def test_second_run_and_reformatted_file_unchanged(pki, tmp_path, run_module):
    args = args_for(pki, tmp_path / "admin.conf", user="admin", context="default")
    assert run(run_module, args).result["changed"] is True
    again = run(run_module, args)
    assert again.result["changed"] is False
    assert again.result["reasons"] == []
    # Same content, other formatting (JSON is YAML too): still unchanged, the file is left alone.
    doc = yaml.safe_load(Path(args["path"]).read_text())
    with open(args["path"], "w") as handle:
        json.dump(dict(reversed(list(doc.items()))), handle, indent=4)
    before = Path(args["path"]).read_text()
    assert run(run_module, args).result["changed"] is False
    assert Path(args["path"]).read_text() == before


def test_renewed_client_cert_rewrites_and_diff_hides_the_key(pki, tmp_path, run_module):
    path = tmp_path / "admin.conf"
    run(run_module, args_for(pki, path, user="kubernetes-admin"))
    renewed = run(run_module, args_for(pki, path, client="admin2", user="kubernetes-admin"), diff=True)
    assert renewed.result["changed"] is True
    assert renewed.result["reasons"] == ["client-certificate-data differs", "client-key-data differs"]
    diff = renewed.result["diff"]
    assert "client-key-data: <private key, redacted>" in diff["before"]
    assert "client-key-data: <private key, redacted, changed>" in diff["after"]
    assert "client-certificate-data: <certificate CN=kubernetes-admin,O=system:masters" in diff["before"]
    assert "client-certificate-data: <certificate CN=kubernetes-admin-renewed,O=system:masters" in diff["after"]
    assert "certificate-authority-data: <certificate CN=kubernetes (until" in diff["after"]
    for key in (pki["admin"]["key"], pki["admin2"]["key"]):
        assert b64(key) not in renewed.output
    assert "PRIVATE KEY" not in renewed.output
    assert yaml.safe_load(path.read_text())["users"][0]["user"]["client-key-data"] == b64(pki["admin2"]["key"])


def test_server_change_and_check_mode(pki, tmp_path, run_module):
    new_path = tmp_path / "sub" / "admin.conf"
    predicted = run(run_module, args_for(pki, new_path), check_mode=True, diff=True)
    assert predicted.result["changed"] is True
    assert predicted.result["diff"]["before"] == ""
    assert not new_path.parent.exists()

    path = tmp_path / "admin.conf"
    run(run_module, args_for(pki, path))
    content = path.read_text()
    moved = run(run_module, args_for(pki, path, server="https://10.0.0.10:6443"), check_mode=True, diff=True)
    assert moved.result["changed"] is True
    assert moved.result["reasons"] == ["server differs"]
    assert "server: https://10.0.0.10:6443" in moved.result["diff"]["after"]
    assert path.read_text() == content
    os.chmod(path, 0o644)
    assert run(run_module, args_for(pki, path), check_mode=True).result["changed"] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    fixed = run(run_module, args_for(pki, path))
    assert fixed.result["reasons"] == [f"mode of {path} is 0644, want 0600"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text() == content


def test_a_wider_directory_is_set_back_to_0700(pki, tmp_path, run_module):
    path = tmp_path / "kubeconfig" / "admin.conf"
    run(run_module, args_for(pki, path))
    os.chmod(path.parent, 0o750)
    predicted = run(run_module, args_for(pki, path), check_mode=True).result
    assert predicted["reasons"] == [f"mode of {path.parent} is 0750, want 0700"]
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o750
    fixed = run(run_module, args_for(pki, path)).result
    assert fixed["changed"] is True
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert run(run_module, args_for(pki, path)).result["changed"] is False


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"server": "http://10.0.0.10:6443"},
            "server: 'http://10.0.0.10:6443' is not a usable API server URL: the scheme",
        ),
        ({"server": "10.0.0.10:6443"}, "the scheme must be https"),
        ({"server": "https://:6443"}, "it has no host"),
        ({"server": "https://10.0.0.10:99999"}, "Port out of range"),
        ({"server": "https://user:pw@10.0.0.10:6443"}, "must not carry a query, a fragment or credentials"),
        ({"client_cert": "stranger", "client_key": "stranger"}, "is not signed by the CA in ca_cert"),
        ({"client_key": "admin2"}, "does not match client_cert"),
        ({"ca_cert": "/nonexistent/ca.crt"}, "ca_cert: /nonexistent/ca.crt does not exist"),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(pki, tmp_path, run_module, over, message):
    for option in ("client_cert", "client_key"):
        if over.get(option) in pki:
            over[option] = pki[over[option]]["cert" if option == "client_cert" else "key"]
    args = args_for(pki, tmp_path / "admin.conf", **over)
    outcome = run(run_module, args)
    assert outcome.failed
    assert message in outcome.result["msg"]
    assert not os.path.exists(args["path"])


def test_missing_cryptography_is_reported(monkeypatch, pki, tmp_path, run_module):
    monkeypatch.setattr(kubeconfig, "HAS_CRYPTOGRAPHY", False)
    outcome = run(run_module, args_for(pki, tmp_path / "admin.conf"))
    assert outcome.failed
    assert "Failed to import the required Python library (cryptography)" in outcome.result["msg"]


def test_documentation_matches_argument_spec(documented_spec):
    documented, spec = documented_spec(kubeconfig)
    assert documented == spec


def test_return_values_are_documented(pki, tmp_path, run_module):
    documented = yaml.safe_load(kubeconfig.RETURN)
    result = run(run_module, args_for(pki, tmp_path / "admin.conf")).result
    # The single form returns what it always did; the list form only `results`, each with the single form's values.
    assert set(documented) - {"results"} == set(result) - {"changed", "invocation"}
    top = args_for(pki, "unused")
    del top["path"]
    listed = run(run_module, {**top, "kubeconfigs": [{"path": str(tmp_path / "listed.conf")}]}).result
    assert set(listed) - {"changed", "invocation"} == {"results"}
    assert set(documented["results"]["contains"]) == set(listed["results"][0])


def test_redact_hides_keys_in_any_user_entry():
    doc = {"users": [{"name": "a", "user": {"client-key-data": "c2VjcmV0"}}, {"name": "b", "user": "odd"}], "x": 1}
    shown = _kubeconfig.redact(doc)
    assert shown["users"][0]["user"]["client-key-data"] == "<private key, redacted>"
    assert shown["users"][1]["user"] == "odd"
    assert doc["users"][0]["user"]["client-key-data"] == "c2VjcmV0"  # the original is untouched
    assert _kubeconfig.redact("text") == "text"
    # Compared with the file on disk, a different key is marked, an equal one is not.
    renewed = {"users": [{"name": "a", "user": {"client-key-data": "b3RoZXI="}}]}
    assert _kubeconfig.redact(renewed, doc)["users"][0]["user"]["client-key-data"] == "<private key, redacted, changed>"
    assert _kubeconfig.redact(doc, doc)["users"][0]["user"]["client-key-data"] == "<private key, redacted>"


def test_expired_client_cert_warns(pki, tmp_path, run_module, monkeypatch):
    monkeypatch.setattr(kubeconfig, "utcnow", lambda: _pki.utcnow() + datetime.timedelta(days=400))
    outcome = run(run_module, args_for(pki, tmp_path / "admin.conf"))
    assert not outcome.failed
    assert outcome.warnings == [f"client_cert: {pki['admin']['cert']} has expired; the API server will refuse it"]


# --- several kubeconfigs in one call (kubeconfigs) -----------------------------

RunModule = t.Callable[..., t.Any]


def shared(pki: dict[str, t.Any]) -> dict[str, str]:
    """Top-level defaults for every element: cluster, server, CA."""
    return {"cluster_name": "airgap", "server": "https://127.0.0.1:6443", "ca_cert": pki["ca"]["cert"]}


def client(pki: dict[str, t.Any], name: str) -> dict[str, str]:
    return {"client_cert": pki[name]["cert"], "client_key": pki[name]["key"]}


def files_in(directory: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_kubeconfigs_writes_several_in_one_call_in_order(
    pki: dict[str, t.Any], tmp_path: Path, run_module: RunModule
) -> None:
    args = {
        **shared(pki),
        "kubeconfigs": [
            {"path": str(tmp_path / "admin.conf"), **client(pki, "admin")},
            {
                "path": str(tmp_path / "kube" / "local.conf"),
                **client(pki, "admin2"),
                "server": "https://10.0.0.10:6443",
            },
            {"path": str(tmp_path / "named.conf"), **client(pki, "admin"), "user": "admin", "context": "default"},
        ],
    }
    first = run(run_module, args)
    assert not first.failed, first.result
    assert first.result["changed"] is True
    assert first.result["results"] == [
        {"path": str(tmp_path / "admin.conf"), "changed": True, "reasons": [f"{tmp_path / 'admin.conf'} is missing or empty"],
         "user": "kubernetes-admin", "context": "kubernetes-admin@airgap"},
        {"path": str(tmp_path / "kube" / "local.conf"), "changed": True,
         "reasons": [f"{tmp_path / 'kube' / 'local.conf'} is missing or empty"],
         "user": "kubernetes-admin-renewed", "context": "kubernetes-admin-renewed@airgap"},
        {"path": str(tmp_path / "named.conf"), "changed": True, "reasons": [f"{tmp_path / 'named.conf'} is missing or empty"],
         "user": "admin", "context": "default"},
    ]  # fmt: skip
    # The same file as a single call writes it: top-level defaults filled in, the element's server wins.
    single = run(run_module, args_for(pki, tmp_path / "single.conf", client="admin2", server="https://10.0.0.10:6443"))
    assert yaml.safe_load((tmp_path / "kube" / "local.conf").read_text()) == yaml.safe_load(
        (tmp_path / "single.conf").read_text()
    )
    assert single.result["changed"] is True
    assert yaml.safe_load((tmp_path / "admin.conf").read_text())["clusters"][0]["cluster"]["server"] == (
        "https://127.0.0.1:6443"
    )
    assert stat.S_IMODE(os.stat(tmp_path / "kube").st_mode) == 0o700

    snapshot = files_in(tmp_path)
    again = run(run_module, args)
    assert again.result["changed"] is False
    assert [(r["changed"], r["reasons"]) for r in again.result["results"]] == [(False, [])] * 3
    assert files_in(tmp_path) == snapshot


def test_kubeconfigs_check_mode_writes_nothing_and_diffs_only_what_changes(
    pki: dict[str, t.Any], tmp_path: Path, run_module: RunModule
) -> None:
    args = {
        **shared(pki),
        "kubeconfigs": [
            {"path": str(tmp_path / "a.conf"), **client(pki, "admin")},
            {"path": str(tmp_path / "b.conf"), **client(pki, "admin")},
        ],
    }
    predicted = run(run_module, args, check_mode=True, diff=True)
    assert predicted.result["changed"] is True
    assert [r["changed"] for r in predicted.result["results"]] == [True, True]
    assert [d["after_header"] for d in predicted.result["diff"]] == [str(tmp_path / "a.conf"), str(tmp_path / "b.conf")]
    assert files_in(tmp_path) == {}

    run(run_module, args)
    snapshot = files_in(tmp_path)
    renewed = {**args, "kubeconfigs": [args["kubeconfigs"][0], {**args["kubeconfigs"][1], **client(pki, "admin2")}]}
    would = run(run_module, renewed, check_mode=True, diff=True)
    assert would.result["changed"] is True
    assert [r["changed"] for r in would.result["results"]] == [False, True]
    assert [d["after_header"] for d in would.result["diff"]] == [str(tmp_path / "b.conf")]
    assert "client-key-data: <private key, redacted, changed>" in would.result["diff"][0]["after"]
    assert b64(pki["admin2"]["key"]) not in would.output
    assert files_in(tmp_path) == snapshot


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"server": "https://10.0.0.10:6443"}, "kubeconfigs[1]: missing required arguments: path"),
        ({"path": "{d}/b.conf", "client_cert": None},
         "kubeconfigs[1] ({d}/b.conf): missing required arguments: client_cert"),
        ({"path": "{d}/b.conf", "server": "http://10.0.0.10:6443"},
         "kubeconfigs[1] ({d}/b.conf): server: 'http://10.0.0.10:6443' is not a usable API server URL"),
        ({"path": "{d}/b.conf", "client_cert": "stranger", "client_key": "stranger"},
         "kubeconfigs[1] ({d}/b.conf): client_cert: "),
    ],
)  # fmt: skip
def test_kubeconfigs_a_bad_element_is_named_and_nothing_is_written(
    pki: dict[str, t.Any], tmp_path: Path, run_module: RunModule, element: dict[str, t.Any], message: str
) -> None:
    """Every element is checked (top-level defaults filled in) before any file is written."""
    good = {"path": str(tmp_path / "a.conf"), **client(pki, "admin")}
    bad = {**client(pki, "admin"), **element}
    for option in ("client_cert", "client_key"):
        if bad.get(option) in pki:
            bad[option] = pki[bad[option]]["cert" if option == "client_cert" else "key"]
    bad = {k: v.format(d=tmp_path) for k, v in bad.items() if v is not None}
    outcome = run(run_module, {**shared(pki), "kubeconfigs": [good, bad]})
    assert outcome.failed
    assert outcome.result["msg"].startswith(message.format(d=tmp_path))
    assert files_in(tmp_path) == {}


def test_kubeconfigs_and_a_top_level_path_exclude_each_other(
    pki: dict[str, t.Any], tmp_path: Path, run_module: RunModule
) -> None:
    both = run(run_module, {**args_for(pki, tmp_path / "a.conf"), "kubeconfigs": []})
    assert both.failed
    assert "parameters are mutually exclusive: kubeconfigs|path" in both.result["msg"]
    neither = run(run_module, shared(pki))
    assert neither.failed
    assert neither.result["msg"] == (
        "missing required arguments: client_cert, client_key, path (or list the files in kubeconfigs)"
    )
