"""airgap.k8s.pki_cert_report through main()."""

from __future__ import annotations

from unittest import mock

import pytest
from _pkifactory import DAY, NOW, ca, leaf

from ansible_collections.airgap.k8s.plugins.module_utils import _pki
from ansible_collections.airgap.k8s.plugins.modules import pki_cert_report


@pytest.fixture(autouse=True)
def clock():
    with mock.patch.object(pki_cert_report, "utcnow", return_value=NOW):
        yield


@pytest.fixture(scope="module")
def found():
    root = ca()
    return {
        "controller": [{"location": "/c/pki/ca.crt", "kind": "file", "index": 0, "pem": root.pem}],
        "node1": [
            {"location": "/etc/kubernetes/pki/apiserver.crt", "kind": "file", "index": 0, "pem": leaf(root, "kube-apiserver", days=20).pem},
            {"location": "https://10.0.0.11:6443", "kind": "endpoint", "index": 0, "pem": leaf(root, "kube-apiserver", days=300).pem},
        ],
    }  # fmt: skip


def test_report_rows_and_lines(run_module, found):
    run = run_module(pki_cert_report.main, {"certificates": found})
    assert not run.failed, run.output
    assert [(r["host"], r["days_left"]) for r in run.result["rows"]] == [
        ("node1", 20),
        ("node1", 300),
        ("controller", 3650),
    ]
    assert run.result["lines"][0].split()[:3] == ["days", "not", "after"]
    assert len(run.result["lines"]) == 4 and run.result["expiring"] == []


def test_fails_when_one_expires_within_n_days_after_reporting(run_module, found):
    run = run_module(pki_cert_report.main, {"certificates": found, "fail_within_days": 30})
    assert run.failed
    assert run.result["msg"].startswith(
        "1 certificate(s) expire within 30 days: node1:/etc/kubernetes/pki/apiserver.crt"
    )
    assert "certs_renew=true" in run.result["msg"]
    assert len(run.result["rows"]) == 3, "the whole report comes with the failure"
    ok = run_module(pki_cert_report.main, {"certificates": found, "fail_within_days": 19})
    assert not ok.failed


def test_a_ca_within_the_window_says_renewal_does_not_cover_it(run_module, found):
    run = run_module(pki_cert_report.main, {"certificates": found, "fail_within_days": 4000})
    assert run.failed and "CA rotation" in run.result["msg"]


def test_bad_input_is_refused(run_module, found):
    negative = run_module(pki_cert_report.main, {"certificates": found, "fail_within_days": -1})
    assert negative.failed and negative.result["msg"].startswith("fail_within_days: -1 is negative")
    wrong = run_module(pki_cert_report.main, {"certificates": {"node1": "text"}})
    assert wrong.failed and wrong.result["msg"].startswith(
        "certificates.node1: expected the list pki_cert_info returns"
    )


def test_expiry_counts_from_the_controllers_clock(run_module, found):
    with mock.patch.object(pki_cert_report, "utcnow", return_value=NOW + 25 * DAY):
        run = run_module(pki_cert_report.main, {"certificates": found, "fail_within_days": 0})
    assert run.failed and run.result["expiring"][0]["days_left"] == -5
    assert _pki.iso(NOW + 20 * DAY) == run.result["expiring"][0]["not_after"]


def test_docs_match_the_argument_spec(documented_spec):
    documented, actual = documented_spec(pki_cert_report)
    assert documented == actual
