from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils import _health
from ansible_collections.airgap.k8s.plugins.module_utils._health import FetchError
from ansible_collections.airgap.k8s.plugins.modules import k8s_nodes_ready
from ansible_collections.airgap.k8s.plugins.modules.k8s_nodes_ready import evaluate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "health" / "nodes"
URL = "https://127.0.0.1:6443"
CNI_MESSAGE = (
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
    "message:Network plugin returns error: cni plugin not initialized"
)


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())["response"]


# --- the pure decision --------------------------------------------------------


def test_all_ready():
    report = evaluate(load("all_ready"), ["cp1", "worker1", "worker2"])
    assert report.ready
    assert report.not_ready == []
    assert report.problems == []
    cp1 = report.nodes[0]
    assert cp1.name == "cp1"
    assert cp1.roles == ["control-plane"]
    assert cp1.internal_ip == "192.0.2.11"
    assert cp1.kubelet_version == "v1.36.3"
    assert cp1.container_runtime_version == "containerd://2.1.4"
    assert cp1.schedulable is True
    assert [n.roles for n in report.nodes[1:]] == [[], []]


def test_without_expected_nodes_every_registered_node_must_be_ready():
    assert evaluate(load("all_ready")).ready
    assert not evaluate(load("cni_not_ready")).ready


def test_nodes_without_cni_are_not_ready_with_the_kubelet_message():
    report = evaluate(load("cni_not_ready"), ["cp1", "worker1", "worker2"])
    assert not report.ready
    assert [n["name"] for n in report.not_ready] == ["cp1", "worker1", "worker2"]
    assert report.not_ready[0] == {"name": "cp1", "reason": "KubeletNotReady", "message": CNI_MESSAGE}
    assert report.problems[0] == f"cp1: KubeletNotReady: {CNI_MESSAGE}"


def test_lost_and_missing_nodes():
    report = evaluate(load("node_lost"), ["cp1", "worker1", "worker2", "worker3"])
    assert not report.ready
    assert report.not_ready == [
        {"name": "worker2", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."},
        {
            "name": "worker3",
            "reason": "NotRegistered",
            "message": "no node of this name is registered: is its kubelet running and is the name right?",
        },
    ]
    worker1 = next(n for n in report.nodes if n.name == "worker1")
    # Cordoned is not NotReady: it is reported, and does not block.
    assert (worker1.ready, worker1.schedulable, worker1.container_runtime_version) == (True, False, "docker://28.5.1")


def test_only_expected_nodes_decide():
    report = evaluate(load("node_lost"), ["cp1", "worker1"])
    assert report.ready
    assert len(report.nodes) == 3  # worker2 is still reported
    assert next(n for n in report.nodes if n.name == "worker2").ready is False


def test_no_nodes_registered_is_not_ready():
    empty = {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "120"}, "items": []}
    report = evaluate(empty)
    assert not report.ready
    assert report.problems == ["no nodes are registered yet"]


def test_node_without_ready_condition_yet():
    doc = load("all_ready")
    doc["items"][1]["status"]["conditions"] = []
    report = evaluate(doc, ["worker1"])
    assert report.not_ready == [
        {
            "name": "worker1",
            "reason": "NoReadyCondition",
            "message": "the kubelet has not reported a Ready condition yet",
        }
    ]


def test_legacy_role_label_and_missing_fields():
    node = {"metadata": {"name": "old", "labels": {"kubernetes.io/role": "master"}}, "status": {}}
    info = k8s_nodes_ready.node_info(node)
    assert (info.roles, info.internal_ip, info.kubelet_version, info.ready) == (["master"], None, None, False)


def test_api_error_is_reported():
    report = evaluate(None, ["cp1"], error="HTTP 403: nodes is forbidden")
    assert not report.ready
    assert report.problems == ["cannot list nodes: HTTP 403: nodes is forbidden"]


def test_answer_that_is_not_a_node_list():
    report = evaluate({"kind": "Status", "status": "Failure"}, ["cp1"])
    assert not report.ready
    assert report.problems[0].startswith("cannot list nodes: the answer is not a NodeList")


def test_report_dict_has_the_documented_keys():
    result = evaluate(load("node_lost"), ["worker2"]).as_dict()
    assert set(result) == {"ready", "nodes", "not_ready", "problems"}
    assert set(result["nodes"][0]) == {
        "name",
        "ready",
        "kubelet_version",
        "internal_ip",
        "roles",
        "container_runtime_version",
        "schedulable",
    }
    assert set(result["not_ready"][0]) == {"name", "reason", "message"}


# --- the module -----------------------------------------------------------------


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(_health, "time", clock)
    return clock


@pytest.fixture
def serve(monkeypatch):
    """Answer GET /api/v1/nodes from fixtures, one per round (an Exception is raised instead)."""
    asked = []

    def install(rounds):
        def get_json(url, context, timeout=_health.REQUEST_TIMEOUT):
            asked.append(url)
            answer = rounds[min(len(asked), len(rounds)) - 1]
            if isinstance(answer, Exception):
                raise answer
            return load(answer)

        monkeypatch.setattr(k8s_nodes_ready, "get_json", get_json)
        monkeypatch.setattr(_health, "tls_context", lambda *args: object())
        return asked

    return install


ARGS = {
    "url": URL,
    "ca_cert": "/etc/kubernetes/pki/ca.crt",
    "client_cert": "/etc/kubernetes/pki/admin.crt",
    "client_key": "/etc/kubernetes/pki/admin.key",
    "expected_nodes": ["cp1", "worker1", "worker2"],
}


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(k8s_nodes_ready)
    assert docs == spec


def test_main_waits_until_the_cni_makes_nodes_ready(run_module, serve, fake_time):
    asked = serve([FetchError("connection refused"), "cni_not_ready", "all_ready"])
    run = run_module(k8s_nodes_ready.main, ARGS)
    assert run.rc == 0, run.result
    assert run.result["changed"] is False
    assert run.result["ready"] is True
    assert asked == [f"{URL}/api/v1/nodes"] * 3
    assert fake_time.sleeps == [2, 2]
    assert ARGS["client_key"] not in run.output


def test_main_fails_naming_each_node_and_why(run_module, serve, fake_time):
    serve(["node_lost"])
    run = run_module(k8s_nodes_ready.main, {**ARGS, "expected_nodes": ["worker2", "worker3"], "wait_timeout": 6})
    assert run.failed
    assert run.result["msg"] == (
        "nodes are not ready after waiting 6s: worker2: NodeStatusUnknown: Kubelet stopped posting node status.; "
        "worker3: NotRegistered: no node of this name is registered: is its kubelet running and is the name right?"
    )
    assert [n["name"] for n in run.result["not_ready"]] == ["worker2", "worker3"]
    assert fake_time.now == 6


def test_main_runs_in_check_mode(run_module, serve, fake_time):
    serve(["all_ready"])
    run = run_module(k8s_nodes_ready.main, ARGS, check_mode=True)
    assert run.rc == 0
    assert not run.result.get("skipped")
