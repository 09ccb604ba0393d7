from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils import _health
from ansible_collections.airgap.k8s.plugins.module_utils._health import FetchError
from ansible_collections.airgap.k8s.plugins.modules import apiserver_health
from ansible_collections.airgap.k8s.plugins.modules.apiserver_health import Answer, evaluate, failed_check_names

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "health" / "apiserver"
URL = "https://127.0.0.1:6443"


def load(name: str) -> dict[str, Answer | None]:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    return {k: Answer(**doc[k]) if doc[k] else None for k in ("livez", "readyz", "version")}


def run_eval(name: str):
    a = load(name)
    return evaluate(a["livez"], a["readyz"], a["version"])


# --- the pure decision --------------------------------------------------------


def test_healthy():
    report = run_eval("healthy")
    assert (report.healthy, report.live, report.ready) == (True, True, True)
    assert report.failed_checks == []
    assert report.version == "v1.36.3"
    assert report.problems == []


def test_starting_names_the_unfinished_post_start_hooks():
    report = run_eval("starting")
    assert not report.healthy
    assert (report.live, report.ready) == (False, False)
    assert report.failed_checks == [
        "poststarthook/start-service-ip-repair-controllers",
        "poststarthook/rbac/bootstrap-roles",
        "poststarthook/scheduling/bootstrap-system-priority-classes",
    ]
    assert report.problems[0].startswith("readyz: HTTP 500, failing checks: poststarthook/start-service-ip-repair")


def test_etcd_down_lists_each_check_once():
    report = run_eval("etcd_down")
    assert report.failed_checks == ["etcd", "etcd-readiness"]
    assert report.problems == [
        "readyz: HTTP 500, failing checks: etcd, etcd-readiness",
        "livez: HTTP 500, failing checks: etcd",
    ]


def test_shutting_down_is_live_but_not_ready():
    report = run_eval("shutting_down")
    assert (report.healthy, report.live, report.ready) == (False, True, False)
    assert report.failed_checks == ["shutdown"]


def test_unauthorized_says_what_to_fix():
    report = run_eval("unauthorized")
    assert not report.healthy
    assert report.version is None
    assert report.failed_checks == []
    assert report.problems[0] == (
        "readyz: HTTP 401: Unauthorized (check client_cert/client_key: the user must be allowed to read this)"
    )


def test_connection_refused_is_one_problem():
    report = run_eval("refused")
    assert (report.healthy, report.live, report.ready) == (False, False, False)
    assert report.problems == ["livez: connection refused"]


def test_version_that_is_not_json_is_ignored():
    a = load("healthy")
    report = evaluate(a["livez"], a["readyz"], Answer(status=200, body="<html>"))
    assert report.healthy
    assert report.version is None


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n", ["etcd"]),
        ("[-]poststarthook/rbac/bootstrap-roles failed: not finished\n", ["poststarthook/rbac/bootstrap-roles"]),
        ("  [-]informer-sync failed: reason withheld  \r\n", ["informer-sync"]),
        ("[+]ping ok\nlivez check passed\n", []),
        ("ok", []),
    ],
)
def test_failed_check_names(body, names):
    assert failed_check_names(body) == names


# --- one round of requests ------------------------------------------------------


@pytest.fixture
def serve(monkeypatch):
    """Answer GETs by path from a fixture; returns the list of URLs asked."""
    asked = []

    def install(name: str):
        doc = json.loads((FIXTURES / f"{name}.json").read_text())
        by_path = {"/livez?verbose": doc["livez"], "/readyz?verbose": doc["readyz"], "/version": doc["version"]}

        def fetch(url, context, method="GET", body=None, timeout=_health.REQUEST_TIMEOUT):
            asked.append(url)
            answer = by_path[url[len(URL) :]]
            if answer.get("error"):
                raise FetchError(answer["error"])
            return answer["status"], answer["body"]

        monkeypatch.setattr(apiserver_health, "fetch", fetch)
        monkeypatch.setattr(_health, "tls_context", lambda *args: object())
        return asked

    return install


def test_check_asks_the_three_paths(serve):
    asked = serve("healthy")
    assert apiserver_health.check(URL, object()).healthy
    assert asked == [f"{URL}/livez?verbose", f"{URL}/readyz?verbose", f"{URL}/version"]


def test_check_stops_when_nothing_listens(serve):
    asked = serve("refused")
    report = apiserver_health.check(URL, object())
    assert asked == [f"{URL}/livez?verbose"]
    assert report.problems == ["livez: connection refused"]


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


ARGS = {
    "url": URL,
    "ca_cert": "/etc/kubernetes/pki/ca.crt",
    "client_cert": "/etc/kubernetes/pki/admin.crt",
    "client_key": "/etc/kubernetes/pki/admin.key",
}


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(apiserver_health)
    assert docs == spec


def test_main_healthy(run_module, serve, fake_time):
    serve("healthy")
    run = run_module(apiserver_health.main, ARGS)
    assert run.rc == 0, run.result
    assert run.result["changed"] is False
    assert run.result["version"] == "v1.36.3"
    assert run.result["failed_checks"] == []
    assert ARGS["client_key"] not in run.output


def test_main_fails_after_timeout_with_the_failing_checks(run_module, serve, fake_time):
    serve("etcd_down")
    run = run_module(apiserver_health.main, {**ARGS, "wait_timeout": 30, "wait_sleep": 10})
    assert run.failed
    assert run.result["msg"].startswith(
        f"kube-apiserver at {URL} is not healthy after waiting 30s: readyz: HTTP 500, failing checks: etcd, "
    )
    assert run.result["failed_checks"] == ["etcd", "etcd-readiness"]
    assert fake_time.sleeps == [10, 10, 10]


def test_main_waits_through_startup(run_module, monkeypatch, fake_time):
    rounds = iter(["refused", "starting", "healthy"])

    def check(url, context, timeout=_health.REQUEST_TIMEOUT):
        return run_eval(next(rounds))

    monkeypatch.setattr(apiserver_health, "check", check)
    monkeypatch.setattr(_health, "tls_context", lambda *args: object())
    run = run_module(apiserver_health.main, ARGS)
    assert run.rc == 0, run.result
    assert fake_time.sleeps == [2, 2]


def test_main_runs_in_check_mode(run_module, serve, fake_time):
    serve("healthy")
    run = run_module(apiserver_health.main, ARGS, check_mode=True)
    assert run.rc == 0
    assert not run.result.get("skipped")


def test_main_rejects_plain_http(run_module):
    run = run_module(apiserver_health.main, {**ARGS, "url": "http://127.0.0.1:8080"})
    assert run.failed
    assert "https://" in run.result["msg"]
