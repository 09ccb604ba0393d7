from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils import _health
from ansible_collections.airgap.k8s.plugins.module_utils._health import FetchError
from ansible_collections.airgap.k8s.plugins.module_utils._upgrade import Observed
from ansible_collections.airgap.k8s.plugins.modules import k8s_versions_info
from ansible_collections.airgap.k8s.plugins.modules.k8s_versions_info import read

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "health" / "nodes"
CP1 = "https://192.0.2.11:6443"
CP2 = "https://192.0.2.12:6443"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())["response"]


@pytest.fixture
def serve(monkeypatch):
    """Answer GETs by URL; an Exception is raised instead. Records what was asked."""
    asked = []

    def install(answers):
        def get_json(url, context, timeout=_health.REQUEST_TIMEOUT):
            asked.append(url)
            answer = answers[url]
            if isinstance(answer, Exception):
                raise answer
            return answer

        monkeypatch.setattr(k8s_versions_info, "get_json", get_json)
        monkeypatch.setattr(_health, "tls_context", lambda *args: object())
        return asked

    return install


ALL_ANSWER = {
    f"{CP1}/api/v1/nodes": load("all_ready"),
    f"{CP1}/version": {"major": "1", "minor": "36", "gitVersion": "v1.36.3"},
    f"{CP2}/version": {"major": "1", "minor": "35", "gitVersion": "v1.35.9"},
}
ARGS = {
    "url": CP1,
    "apiservers": {"cp1": CP1, "cp2": CP2},
    "ca_cert": "/cluster/pki/ca.crt",
    "client_cert": "/cluster/pki/admin.crt",
    "client_key": "/cluster/pki/admin.key",
    "wait_timeout": 0,
}


def test_read_returns_the_node_list_and_each_version(serve):
    asked = serve(ALL_ANSWER)
    report = read(CP1, {"cp2": CP2, "cp1": CP1}, object())
    assert report.ok
    assert report.nodes == load("all_ready")
    assert report.apiservers == {"cp1": "v1.36.3", "cp2": "v1.35.9"}
    assert asked == [f"{CP1}/api/v1/nodes", f"{CP1}/version", f"{CP2}/version"]
    # What upgrade_plan reads from it, as from `kubectl get nodes -o json`.
    observed = Observed.from_api(report.nodes, report.apiservers)
    assert observed.kubelets == {"cp1": "v1.36.3", "worker1": "v1.36.3", "worker2": "v1.36.3"}


def test_read_reports_each_read_that_did_not_answer(serve):
    serve(
        {
            f"{CP1}/api/v1/nodes": {"kind": "Status", "status": "Failure"},
            f"{CP1}/version": {"gitVersion": "v1.36.3"},
            f"{CP2}/version": FetchError("connection refused"),
        }
    )
    report = read(CP1, {"cp1": CP1, "cp2": CP2}, object())
    assert not report.ok
    assert report.nodes == {}
    assert report.apiservers == {"cp1": "v1.36.3"}
    assert report.problems == [
        f"cannot list nodes from {CP1}: the answer is not a NodeList: {{'kind': 'Status', 'status': 'Failure'}}",
        f"apiserver cp2 ({CP2}): connection refused",
    ]


def test_version_without_git_version_is_a_problem(serve):
    serve({f"{CP1}/api/v1/nodes": load("all_ready"), f"{CP1}/version": {"major": "1"}})
    report = read(CP1, {"cp1": CP1}, object())
    assert report.apiservers == {}
    assert report.problems == [f"apiserver cp1 ({CP1}): /version has no gitVersion: {{'major': '1'}}"]


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(k8s_versions_info)
    assert docs == spec


def test_main_returns_what_it_read(run_module, serve):
    serve(ALL_ANSWER)
    run = run_module(k8s_versions_info.main, ARGS, check_mode=True)
    assert run.rc == 0, run.result
    assert run.result["changed"] is False
    assert run.result["ok"] is True
    assert run.result["apiservers"] == {"cp1": "v1.36.3", "cp2": "v1.35.9"}
    assert run.result["nodes"]["kind"] == "NodeList"
    assert ARGS["client_key"] not in run.output


def test_main_fails_when_a_read_does_not_answer(run_module, serve):
    serve({**ALL_ANSWER, f"{CP2}/version": FetchError("connection refused")})
    run = run_module(k8s_versions_info.main, ARGS)
    assert run.failed
    assert run.result["msg"] == (
        f"cannot read the cluster's versions after waiting 0s: apiserver cp2 ({CP2}): connection refused"
    )


def test_main_returns_what_answered_when_told_not_to_fail(run_module, serve):
    serve({**ALL_ANSWER, f"{CP2}/version": FetchError("connection refused")})
    run = run_module(k8s_versions_info.main, {**ARGS, "fail_on_error": False})
    assert run.rc == 0, run.result
    assert run.result["ok"] is False
    assert run.result["apiservers"] == {"cp1": "v1.36.3"}
    assert run.result["problems"] == [f"apiserver cp2 ({CP2}): connection refused"]


def test_main_refuses_apiserver_urls_that_are_not_https(run_module, serve):
    asked = serve(ALL_ANSWER)
    run = run_module(k8s_versions_info.main, {**ARGS, "apiservers": {"cp1": CP1, "cp2": "http://192.0.2.12:8080"}})
    assert run.failed
    assert run.result["msg"] == "apiservers must map names to https:// URLs of apiservers; not so for cp2"
    assert asked == []
