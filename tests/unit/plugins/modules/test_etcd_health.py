from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils import _health
from ansible_collections.airgap.k8s.plugins.modules import etcd_health
from ansible_collections.airgap.k8s.plugins.modules.etcd_health import EndpointProbe, evaluate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "health" / "etcd"
E1, E2, E3 = "https://192.0.2.11:2379", "https://192.0.2.12:2379", "https://192.0.2.13:2379"


def load(name: str) -> list[EndpointProbe]:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    return [EndpointProbe(**p) for p in doc["probes"]]


def by_name(report) -> dict:
    return {m.name: m for m in report.members}


# --- the pure decision, on recorded answers ----------------------------------


def test_healthy_cluster():
    report = evaluate(load("healthy"), expected_members=3)
    assert report.healthy
    assert report.problems == []
    assert (report.leader, report.leader_id) == ("etcd2", "8e9e05c52164694d")
    assert (report.healthy_count, report.member_count) == (3, 3)
    members = by_name(report)
    assert [m.name for m in report.members] == ["etcd1", "etcd2", "etcd3"]
    # IDs come as uint64 decimal strings; they are returned in hex like etcdctl prints them.
    assert members["etcd1"].id == "91bc3c398fb3c146"
    assert [m.is_leader for m in report.members] == [False, True, False]
    assert members["etcd3"].raft_index == 1844
    assert members["etcd1"].db_size == 2469888
    assert {m.version for m in report.members} == {"3.6.4"}
    assert all(m.healthy and m.error is None for m in report.members)


def test_recorded_etcd_34_answers_are_understood():
    # Recorded from Debian's etcd 3.4.23: no "reason" in /health, members listed out of order.
    report = evaluate(load("healthy_etcd34"), expected_members=3)
    assert report.healthy, report.problems
    assert report.leader == "etcd-a"
    assert [m.name for m in report.members] == ["etcd-a", "etcd-b", "etcd-c"]
    assert report.members[0].version == "3.4.23"


def test_stopped_member_is_named_from_the_others_member_list():
    report = evaluate(load("member_down"), expected_members=3)
    assert not report.healthy
    members = by_name(report)
    down = members["etcd3"]
    assert (down.healthy, down.error, down.endpoint, down.id) == (False, "connection refused", E3, None)
    assert members["etcd1"].healthy and members["etcd2"].healthy
    assert (report.leader, report.healthy_count, report.member_count) == ("etcd2", 2, 3)
    assert report.problems == [f"etcd3 ({E3}): connection refused"]


def test_lost_quorum_means_no_leader():
    report = evaluate(load("no_leader"), expected_members=3)
    assert not report.healthy
    assert report.leader is None and report.leader_id is None
    assert report.healthy_count == 0
    members = by_name(report)
    assert "RAFT NO LEADER" in members["etcd1"].error
    assert "etcdserver: no leader" in members["etcd1"].error
    assert members["etcd2"].error == "connection refused"
    assert members["etcd3"].error == "timed out"
    assert not any(m.is_leader for m in report.members)
    assert report.problems[-1].startswith("no member knows a leader")


def test_members_that_disagree_on_the_leader():
    report = evaluate(load("leader_disagreement"), expected_members=3)
    assert not report.healthy
    assert report.leader is None
    members = by_name(report)
    # The odd one out is blamed; the majority is otherwise fine.
    assert members["etcd3"].error == "sees leader etcd1, the others see etcd2"
    assert members["etcd1"].healthy and members["etcd2"].healthy
    assert any(p.startswith("members disagree on the leader") for p in report.problems)


def test_member_that_runs_its_own_cluster():
    report = evaluate(load("stale_member"), expected_members=3)
    assert not report.healthy
    stale = by_name(report)["etcd3"]
    assert not stale.healthy
    assert "belongs to another cluster" in stale.error
    assert "member list differs" in stale.error
    assert stale.id == "516d514f0bc8fc4b"
    assert report.member_count == 3  # the majority's list


def test_unstarted_member_counts_against_expected_members():
    probes = load("unstarted_member")
    report = evaluate(probes, expected_members=3)
    assert not report.healthy
    assert report.member_count == 4
    assert report.healthy_count == 3
    assert report.problems == [
        "the member list has 4 members (516d514f0bc8fc4b (not started), etcd1, etcd2, etcd3), expected 3"
    ]
    # Without expected_members, four members that agree are healthy.
    assert evaluate(probes).healthy


def test_refused_client_certificate_names_every_endpoint():
    report = evaluate(load("tls_error"), expected_members=3)
    assert not report.healthy
    assert [m.name for m in report.members] == [E1, E2, E3]
    assert all(m.error.startswith("TLS error") for m in report.members)
    # Nobody answered, so there is no member list to count: no extra noise about it.
    assert len(report.problems) == 3
    assert report.problems[0].startswith(f"{E1}: TLS error")


def test_nospace_alarm_is_unhealthy_everywhere():
    report = evaluate(load("alarm_nospace"), expected_members=3)
    assert not report.healthy
    assert report.leader == "etcd2"  # a leader exists, the cluster is still unhealthy
    assert report.healthy_count == 0
    assert all("alarm:NOSPACE" in m.error and "ALARM NOSPACE" in m.error for m in report.members)


def test_no_endpoints():
    report = evaluate([])
    assert not report.healthy
    assert report.problems == ["no endpoints given"]


def test_garbage_answers_do_not_crash():
    probes = load("healthy")
    probes[0].status = {**probes[0].status, "header": {"member_id": "not-a-number"}}
    report = evaluate(probes, expected_members=3)
    assert not report.healthy
    assert "unexpected answer" in report.members[0].error


def test_answers_that_are_not_objects_do_not_crash():
    probes = load("healthy")
    probes[1].health = ["true"]
    probes[2].member_list = "members"
    report = evaluate(probes, expected_members=3)
    assert not report.healthy
    assert "unexpected health answer" in report.members[1].error
    assert "unexpected member_list answer" in report.members[2].error
    assert report.members[0].healthy


def test_report_dict_has_the_documented_keys():
    result = evaluate(load("member_down")).as_dict()
    assert set(result) == {"healthy", "members", "leader", "leader_id", "healthy_count", "member_count", "problems"}
    assert set(result["members"][0]) == {
        "endpoint",
        "name",
        "id",
        "healthy",
        "is_leader",
        "version",
        "db_size",
        "raft_index",
        "error",
    }


# --- the module --------------------------------------------------------------


@pytest.fixture
def serve(monkeypatch):
    """Answer probes from fixtures: serve(["member_down", "healthy"]) gives one fixture per round."""
    calls = []

    def install(rounds: list[str]):
        answers = [{p.endpoint: p for p in load(name)} for name in rounds]

        def probe(endpoint, context, timeout=_health.REQUEST_TIMEOUT):
            calls.append(endpoint)
            rnd = min((len(calls) - 1) // 3, len(answers) - 1)
            return answers[rnd][endpoint]

        monkeypatch.setattr(etcd_health, "probe", probe)
        monkeypatch.setattr(_health, "tls_context", lambda *args: object())
        return calls

    return install


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
    "endpoints": [E1, E2, E3],
    "ca_cert": "/etc/kubernetes/pki/etcd/ca.crt",
    "client_cert": "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
    "client_key": "/etc/kubernetes/pki/etcd/healthcheck-client.key",
    "expected_members": 3,
}


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(etcd_health)
    assert docs == spec


def test_main_healthy(run_module, serve, fake_time):
    serve(["healthy"])
    run = run_module(etcd_health.main, ARGS)
    assert run.rc == 0, run.result
    assert run.result["changed"] is False
    assert run.result["healthy"] is True
    assert run.result["leader"] == "etcd2"
    assert run.result["member_count"] == 3
    assert fake_time.sleeps == []
    # The key path is no_log: masked even in the echoed arguments.
    assert ARGS["client_key"] not in run.output


def test_main_waits_until_healthy(run_module, serve, fake_time):
    calls = serve(["no_leader", "member_down", "healthy"])
    run = run_module(etcd_health.main, {**ARGS, "wait_sleep": 5})
    assert run.rc == 0, run.result
    assert run.result["healthy_count"] == 3
    assert fake_time.sleeps == [5, 5]
    assert len(calls) == 9


def test_main_fails_after_timeout_naming_the_member(run_module, serve, fake_time):
    serve(["member_down"])
    run = run_module(etcd_health.main, {**ARGS, "wait_timeout": 10, "wait_sleep": 3})
    assert run.failed
    assert run.result["msg"] == f"etcd is not healthy after waiting 10s: etcd3 ({E3}): connection refused"
    assert run.result["healthy_count"] == 2
    assert fake_time.now == 10
    assert run.result["changed"] is False


def test_main_report_without_failing(run_module, serve, fake_time):
    serve(["member_down"])
    run = run_module(etcd_health.main, {**ARGS, "wait_timeout": 0, "fail_on_unhealthy": False})
    assert run.rc == 0
    assert run.result["healthy"] is False
    assert [m["name"] for m in run.result["members"] if not m["healthy"]] == ["etcd3"]


def test_main_runs_in_check_mode(run_module, serve, fake_time):
    serve(["healthy"])
    run = run_module(etcd_health.main, ARGS, check_mode=True)
    assert run.rc == 0
    assert run.result["healthy"] is True
    assert not run.result.get("skipped")


def test_main_rejects_plain_http(run_module, serve):
    serve(["healthy"])
    run = run_module(etcd_health.main, {**ARGS, "endpoints": ["http://192.0.2.11:2379"]})
    assert run.failed
    assert "https://" in run.result["msg"]


def test_main_wants_cert_and_key_together(run_module, serve):
    serve(["healthy"])
    args = {k: v for k, v in ARGS.items() if k != "client_key"}
    run = run_module(etcd_health.main, args)
    assert run.failed
    assert "client_cert" in run.result["msg"]


def test_main_fails_fast_on_an_unreadable_ca(run_module, tmp_path):
    run = run_module(etcd_health.main, {**ARGS, "ca_cert": str(tmp_path / "missing-ca.crt"), "wait_timeout": 0})
    assert run.failed
    assert run.result["msg"].startswith("ca_cert cannot be loaded")
