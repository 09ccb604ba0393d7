"""airgap.k8s.pki_cert_info through main(): what it returns, and never."""

from __future__ import annotations

from _pkifactory import ca, kubeconfig, leaf

from ansible_collections.airgap.k8s.plugins.modules import pki_cert_info


def test_collects_files_and_kubeconfigs_and_lists_missing_paths(run_module, tmp_path):
    root = ca()
    client = leaf(root, "system:node:node1")
    etc = tmp_path / "kubernetes"
    root.write(etc / "pki", "ca")
    (etc / "kubelet.conf").write_text(kubeconfig(root, client))
    run = run_module(pki_cert_info.main, {"paths": [str(etc), str(tmp_path / "haproxy")]})
    assert not run.failed, run.output
    result = run.result
    assert result["changed"] is False
    assert sorted(c["location"] for c in result["certificates"]) == [
        f"{etc}/kubelet.conf#certificate-authority-data",
        f"{etc}/kubelet.conf#client-certificate-data",
        f"{etc}/pki/ca.crt",
    ]
    assert result["missing"] == [str(tmp_path / "haproxy")] and result["errors"] == []
    assert "PRIVATE KEY" not in run.output, "no key material in the result"


def test_unreachable_endpoint_is_an_error_not_a_failure(run_module):
    run = run_module(pki_cert_info.main, {"endpoints": ["127.0.0.1:1"], "timeout": 2})
    assert not run.failed
    (error,) = run.result["errors"]
    assert error["path"] == "127.0.0.1:1" and error["error"]


def test_relative_path_is_refused(run_module):
    run = run_module(pki_cert_info.main, {"paths": ["etc/kubernetes"]})
    assert run.failed and "is not an absolute path" in run.result["msg"]


def test_docs_match_the_argument_spec(documented_spec):
    documented, actual = documented_spec(pki_cert_info)
    assert documented == actual
