"""Day-2 slot, remove: refusals, then remove the worker and the etcd member/control plane test_70 added.

Starts where test_70_add_nodes ends (both spares in the cluster). Leaves
both removed and clean (`cluster.remove_host`): 3 etcd members, 3 control
planes, 2 workers. test_79_reset deploys a cluster of its own onto the
worker, resets it, and adds both back in one add_nodes.yml run (remove
really resets: the etcd member joins again under its old name); the
site.yml run after the removal is test_85's, at the end of the order.
"""

from __future__ import annotations

import json

import pytest

from . import day2
from .conftest import Cluster, refused_on, tail

pytestmark = [pytest.mark.ha, pytest.mark.day2]

# The refusal task of playbooks/remove_nodes.yml (roles/day2/tasks/plan.yml):
# a refusal must come from it, before any other task ran.
REFUSAL_TASK = "TASK [airgap.k8s.day2 : Refuse an unknown or unsafe request]"
WORKLOAD = "day2-web"


@pytest.fixture(scope="module")
def spares(cluster: Cluster) -> tuple[str, str]:
    worker, control_plane = day2.day2_hosts(cluster)
    if worker not in cluster.workers or control_plane not in cluster.etcd_members:
        pytest.fail(f"test_70_add_nodes must run first: {worker} is no worker or {control_plane} no etcd member")
    day2.require_whole(cluster)
    return worker, control_plane


def refused(cluster: Cluster, name: str, *extra: str) -> str:
    """Run remove_nodes.yml that must be refused by its plan: returns the refusal message."""
    run = cluster.playbook("remove_nodes.yml", name, *extra, hosts=refused_on(cluster.inv))
    log = run.text()
    assert run.rc != 0, f"remove_nodes.yml was not refused: {tail(run.log)}"
    assert REFUSAL_TASK in log, f"failed elsewhere than the refusal: {tail(run.log)}"
    after_refusal = log.split(REFUSAL_TASK, 1)[1]
    assert "TASK [" not in after_refusal.split("PLAY RECAP", 1)[0], "tasks ran after the refusal"
    assert run.changed == 0, run.changed_tasks()
    return after_refusal


def test_removing_the_last_control_plane_is_refused_before_any_change(cluster: Cluster, spares):
    every_cp = cluster.control_planes
    out = refused(cluster, "day2-refuse-last-cp", "-e", "nodes=" + ",".join(every_cp))
    assert "would remove the last control-plane node: the cluster would have no API server left" in out
    assert set(every_cp) <= {n for n, ok in cluster.node_ready().items() if ok}


def test_breaking_etcd_quorum_is_refused_before_any_change(cluster: Cluster, spares):
    # N members need N // 2 + 1: removing one more than N // 2 of them breaks quorum.
    members = list(cluster.etcd_members)
    quorum = len(members) // 2 + 1
    leaving = members[quorum - 1 :][::-1]
    if len(leaving) < 2:
        pytest.fail(f"{len(members)} etcd members: quorum can only be broken by removing several (need 3 or more)")
    out = refused(cluster, "day2-refuse-quorum", "-e", "nodes=" + ",".join(leaving))
    assert (
        f"removing {', '.join(leaving)} would break etcd quorum: {len(members)} members need {quorum}, "
        f"{quorum - 1} would remain"
    ) in out
    assert cluster.etcd_healthy()


def test_an_unknown_host_is_refused(cluster: Cluster, spares):
    out = refused(cluster, "day2-refuse-unknown", "-e", "nodes=no-such-host")
    assert "not in the inventory: no-such-host" in out


@pytest.fixture(scope="module")
def drained(cluster: Cluster, spares):
    """Replicas that prefer the worker being removed, so the drain has something to move."""
    worker, _ = spares
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": WORKLOAD, "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": WORKLOAD}},
            "template": {
                "metadata": {"labels": {"app": WORKLOAD}},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "preference": {
                                        "matchExpressions": [
                                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [worker]}
                                        ]
                                    },
                                }
                            ]
                        }
                    },
                    "containers": [day2.netexec(cluster)],
                },
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    cluster.kubectl("rollout", "status", f"deployment/{WORKLOAD}", "--timeout=180s", timeout=200)
    yield
    cluster.kubectl("delete", "deployment", WORKLOAD, "--wait=false", check=False)


def pods_by_node(cluster: Cluster) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pod in cluster.kubectl_json("get", "pods", "-l", f"app={WORKLOAD}")["items"]:
        if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp"):
            out.setdefault(pod["spec"].get("nodeName", ""), []).append(pod["metadata"]["name"])
    return out


def test_a_disruption_budget_that_blocks_the_drain_stops_the_removal_and_is_named(cluster: Cluster, spares, drained):
    worker, _ = spares
    on_worker = pods_by_node(cluster).get(worker)
    assert on_worker, "no replica on the worker being removed: the drain would prove nothing"
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": WORKLOAD, "namespace": "default"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": WORKLOAD}}},
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(budget))
    try:
        run = cluster.playbook(
            "remove_nodes.yml",
            "day2-remove-blocked",
            "-e",
            f"nodes={worker}",
            "-e",
            "day2_drain_timeout=20",
            hosts=[*refused_on(cluster.inv), worker],
        )
    finally:
        cluster.kubectl("delete", "pdb", WORKLOAD, "--ignore-not-found")
    log = run.text()
    assert run.rc != 0
    assert f"Draining {worker} did not finish within 20s" in log, tail(run.log)
    assert f"default/{on_worker[0]}" in log and "disruption budget" in log, tail(run.log)
    node = cluster.kubectl_json("get", "node", worker)
    assert not node["spec"].get("unschedulable"), "the node was left cordoned"
    assert worker in cluster.node_ready()


def test_remove_a_worker_and_an_etcd_member(cluster: Cluster, spares, drained):
    worker, member = spares
    assert pods_by_node(cluster).get(worker), "no replica on the worker being removed: the drain would prove nothing"

    members_after = len(cluster.etcd_members) - 1
    run = cluster.playbook(
        "remove_nodes.yml", "day2-remove", "-e", f"nodes={worker},{member}", *day2.allow_even(members_after)
    )
    assert run.ok, tail(run.log)

    # The operator deletes the hosts from the inventory: from here on it is the cluster's again.
    cluster.remove_host(worker)
    cluster.remove_host(member)
    ready = cluster.node_ready()
    assert worker not in ready and member not in ready, ready
    assert ready == dict.fromkeys(cluster.nodes, True), ready
    assert cluster.etcd_member_names() == sorted(cluster.etcd_members)
    assert cluster.etcd_healthy()
    for host in cluster.nodes:
        assert set(cluster.lb_backends(host)) == set(cluster.control_planes), host

    # The workload was rescheduled: every replica runs, none on the removed hosts.
    cluster.kubectl("rollout", "status", f"deployment/{WORKLOAD}", "--timeout=180s", timeout=200)
    placed = pods_by_node(cluster)
    assert sum(len(p) for p in placed.values()) == 3, placed
    assert not {worker, member} & set(placed), placed


@pytest.mark.parametrize("which", [0, 1], ids=["worker", "etcd-member-control-plane"])
def test_a_removed_host_holds_nothing_of_the_cluster(cluster: Cluster, spares, which):
    host = spares[which]
    assert host in cluster.spares, f"{host} is still in the inventory: the removal failed"
    assert day2.leftovers(cluster, host) == {}
