from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils import _health
from ansible_collections.airgap.k8s.plugins.module_utils._health import FetchError
from ansible_collections.airgap.k8s.plugins.modules import k8s_pods_ready
from ansible_collections.airgap.k8s.plugins.modules.k8s_pods_ready import evaluate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "health" / "pods"
URL = "https://127.0.0.1:6443"


def load(name: str) -> list[dict]:
    return json.loads((FIXTURES / f"{name}.json").read_text())["responses"]


def reasons(report) -> dict[str, tuple[str, str]]:
    return {p["name"]: (p["reason"], p["message"]) for p in report.not_ready}


# --- the pure decision --------------------------------------------------------


def test_ready_namespace_with_a_completed_job():
    report = evaluate(load("kube_system_ready"), min_pods=3)
    assert report.ready, report.problems
    assert report.not_ready == []
    job = next(p for p in report.pods if p.phase == "Succeeded")
    assert job.ready is True  # Completed Job pods count as done, not as broken
    coredns = next(p for p in report.pods if p.name == "coredns-7c65d6cfc9-w8qzt")
    assert (coredns.namespace, coredns.node, coredns.phase, coredns.restarts) == (
        "kube-system",
        "worker1",
        "Running",
        1,
    )


def test_pods_are_sorted_by_namespace_and_name():
    report = evaluate(load("broken"))
    keys = [(p.namespace, p.name) for p in report.pods]
    assert keys == sorted(keys)
    assert keys[0][0] == "kube-flannel"


def test_broken_pods_say_why():
    report = evaluate(load("broken"))
    assert not report.ready
    why = reasons(report)
    assert why["coredns-7c65d6cfc9-4xk2p"][0] == "CrashLoopBackOff"
    assert why["coredns-7c65d6cfc9-4xk2p"][1].startswith("container coredns: back-off 5m0s restarting failed container")
    assert why["coredns-7c65d6cfc9-4xk2p"][1].endswith("(last exit: Error, code 1)")
    assert why["coredns-7c65d6cfc9-w8qzt"][0] == "Unschedulable"
    assert "untolerated taint {node.kubernetes.io/not-ready: }" in why["coredns-7c65d6cfc9-w8qzt"][1]
    assert why["metrics-server-5f8b6c7d9-2vtmn"] == (
        "ImagePullBackOff",
        'container metrics-server: Back-off pulling image "registry.k8s.io/metrics-server/metrics-server:v0.8.0"',
    )
    assert why["coredns-7c65d6cfc9-zt5lm"] == ("ContainersNotReady", "containers with unready status: [coredns]")
    assert why["metrics-server-5f8b6c7d9-x7d2k"][0] == "Evicted"
    assert why["coredns-7c65d6cfc9-bk9fw"] == ("Terminating", "the pod is being deleted")
    assert why["kube-flannel-ds-6rz8v"][0] == "Init:ErrImagePull"
    assert "container install-cni-plugin" in why["kube-flannel-ds-6rz8v"][1]
    # Ready ones are not listed: the flannel pod that initialised and the completed Job.
    assert "kube-flannel-ds-q2m4n" not in why
    assert "airgap-bootstrap-29384710-9kq4c" not in why
    assert len(report.not_ready) == 7


def test_restarts_and_unscheduled_node():
    report = evaluate(load("broken"))
    pods = {p.name: p for p in report.pods}
    assert pods["coredns-7c65d6cfc9-4xk2p"].restarts == 7
    assert pods["coredns-7c65d6cfc9-w8qzt"].node is None
    entry = next(p for p in report.not_ready if p["name"] == "coredns-7c65d6cfc9-w8qzt")
    assert entry["node"] is None and entry["phase"] == "Pending"


def test_problem_lines_name_namespace_pod_and_node():
    report = evaluate(load("broken"))
    assert "kube-system/coredns-7c65d6cfc9-4xk2p on cp1: CrashLoopBackOff: container coredns:" in "\n".join(
        report.problems
    )
    assert any(p.startswith("kube-system/coredns-7c65d6cfc9-w8qzt: Unschedulable: 0/3 nodes") for p in report.problems)


def test_empty_namespace_is_ready_unless_min_pods():
    assert evaluate(load("empty")).ready
    report = evaluate(load("empty"), min_pods=2)
    assert not report.ready
    assert report.problems == ["found 0 pods, expected at least 2 (min_pods)"]


def test_running_pod_without_container_statuses_is_not_ready():
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "a", "ready": True, "restartCount": 0}]},
    }
    report = evaluate([{"items": [pod]}])
    assert not report.ready  # b has no status yet
    assert report.not_ready[0]["reason"] == "ContainersNotReady"


def test_list_errors_make_it_not_ready():
    report = evaluate([], min_pods=1, errors=["cannot list pods in namespace kube-system: HTTP 403: forbidden"])
    assert not report.ready
    # The error explains the missing pods; no second complaint about min_pods.
    assert report.problems == ["cannot list pods in namespace kube-system: HTTP 403: forbidden"]


def test_answer_that_is_not_a_pod_list():
    report = evaluate([["not", "a", "list"]], min_pods=1)
    assert not report.ready
    assert report.problems == ["cannot list pods: the answer is not a PodList: ['not', 'a', 'list']"]


def test_report_dict_has_the_documented_keys():
    result = evaluate(load("broken")).as_dict()
    assert set(result) == {"ready", "pods", "not_ready", "problems"}
    assert set(result["pods"][0]) == {"name", "namespace", "node", "phase", "ready", "restarts"}
    assert set(result["not_ready"][0]) == {"name", "namespace", "node", "phase", "reason", "message"}


# --- requests and the module -----------------------------------------------------


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
    """Answer pod lists by namespace from a fixture (one PodList per namespace, in order)."""
    asked = []

    def install(name: str, namespaces=("kube-system",), fail=()):
        docs = dict(zip(namespaces, load(name), strict=False))

        def get_json(url, context, timeout=_health.REQUEST_TIMEOUT):
            asked.append(url)
            ns = url.split("/namespaces/", 1)[1].split("/", 1)[0]
            if ns in fail:
                raise FetchError("HTTP 403: pods is forbidden")
            return docs.get(ns, {"kind": "PodList", "items": []})

        monkeypatch.setattr(k8s_pods_ready, "get_json", get_json)
        monkeypatch.setattr(_health, "tls_context", lambda *args: object())
        return asked

    return install


def test_check_asks_each_namespace_with_the_selector(serve):
    asked = serve("kube_system_ready", namespaces=("kube-system", "kube-flannel"))
    report = k8s_pods_ready.check(URL, object(), ["kube-system", "kube-flannel"], label_selector="k8s-app=kube-dns")
    assert asked == [
        f"{URL}/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-dns",
        f"{URL}/api/v1/namespaces/kube-flannel/pods?labelSelector=k8s-app%3Dkube-dns",
    ]
    assert report.ready


def test_check_reports_a_namespace_it_cannot_list(serve):
    serve("kube_system_ready", fail=("kube-system",))
    report = k8s_pods_ready.check(URL, object(), ["kube-system"])
    assert report.problems == ["cannot list pods in namespace kube-system: HTTP 403: pods is forbidden"]


ARGS = {
    "url": URL,
    "ca_cert": "/etc/kubernetes/pki/ca.crt",
    "client_cert": "/etc/kubernetes/pki/admin.crt",
    "client_key": "/etc/kubernetes/pki/admin.key",
}


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(k8s_pods_ready)
    assert docs == spec


def test_main_defaults_to_kube_system(run_module, serve, fake_time):
    asked = serve("kube_system_ready")
    run = run_module(k8s_pods_ready.main, ARGS)
    assert run.rc == 0, run.result
    assert run.result["changed"] is False
    assert asked == [f"{URL}/api/v1/namespaces/kube-system/pods"]
    assert len(run.result["pods"]) == 4
    assert ARGS["client_key"] not in run.output


def test_main_fails_with_the_reasons(run_module, serve, fake_time):
    serve("broken", namespaces=("kube-system", "kube-flannel"))
    run = run_module(
        k8s_pods_ready.main, {**ARGS, "namespaces": ["kube-system", "kube-flannel"], "wait_timeout": 4, "wait_sleep": 2}
    )
    assert run.failed
    assert run.result["msg"].startswith(
        "pods are not ready after waiting 4s: kube-flannel/kube-flannel-ds-6rz8v on cp1"
    )
    for reason in ("CrashLoopBackOff", "ImagePullBackOff", "Unschedulable", "Init:ErrImagePull"):
        assert reason in run.result["msg"]
    assert fake_time.sleeps == [2, 2]


def test_main_waits_for_min_pods(run_module, serve, fake_time):
    serve("empty")
    run = run_module(k8s_pods_ready.main, {**ARGS, "min_pods": 2, "wait_timeout": 0})
    assert run.failed
    assert run.result["msg"] == "pods are not ready after waiting 0s: found 0 pods, expected at least 2 (min_pods)"


def test_main_runs_in_check_mode(run_module, serve, fake_time):
    serve("kube_system_ready")
    run = run_module(k8s_pods_ready.main, ARGS, check_mode=True)
    assert run.rc == 0
    assert not run.result.get("skipped")


def test_main_rejects_no_namespaces(run_module):
    run = run_module(k8s_pods_ready.main, {**ARGS, "namespaces": []})
    assert run.failed
    assert "namespaces is empty" in run.result["msg"]
