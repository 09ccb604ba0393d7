"""Day-2: refusals, then remove a worker and an etcd member/control plane, then add them again.

Fixture contract: tests/e2e/day2.py. Starts where test_60_add_nodes ends (the
two spares in the cluster, listed in day2.DAY2_INVENTORY) and leaves the
cluster as the fixture made it: both spares removed again, clean.
"""

from __future__ import annotations

import json

import pytest

from . import day2
from .conftest import Cluster, run_playbook, tail

pytestmark = pytest.mark.day2

# The refusal task of playbooks/remove_nodes.yml (roles/day2/tasks/plan.yml):
# a refusal must come from it, before any other task ran.
REFUSAL_TASK = "TASK [airgap.k8s.day2 : Refuse an unknown or unsafe request]"
WORKLOAD = "day2-web"


@pytest.fixture(scope="module")
def spares(cluster: Cluster) -> tuple[str, str]:
    if len(cluster.spares) < 2:
        pytest.fail("the day-2 tests need 2 spare hosts: see tests/e2e/day2.py")
    worker, control_plane = list(cluster.spares)[:2]
    nodes = day2.node_names(cluster)
    if not {worker, control_plane} <= nodes:
        pytest.fail(f"test_60_add_nodes must run first: {worker} and {control_plane} are not nodes ({nodes})")
    return worker, control_plane


@pytest.fixture(scope="module")
def inventory(cluster: Cluster, spares) -> object:
    return cluster.inventory.parent / day2.DAY2_INVENTORY


def refused(cluster: Cluster, inventory, name: str, *extra: str) -> str:
    """Run remove_nodes.yml that must be refused by its plan: returns the refusal message."""
    run = run_playbook(inventory, "remove_nodes.yml", name, *extra)
    log = run.log.read_text(errors="replace")
    assert run.rc != 0, f"remove_nodes.yml was not refused: {tail(run.log)}"
    assert REFUSAL_TASK in log, f"failed elsewhere than the refusal: {tail(run.log)}"
    after_refusal = log.split(REFUSAL_TASK, 1)[1]
    assert "TASK [" not in after_refusal.split("PLAY RECAP", 1)[0], "tasks ran after the refusal"
    assert run.changed == 0, run.changed_tasks()
    return after_refusal


def test_removing_the_last_control_plane_is_refused_before_any_change(cluster: Cluster, inventory, spares):
    every_cp = [*cluster.groups["kube_control_plane"], spares[1]]
    out = refused(cluster, inventory, "day2-refuse-last-cp", "-e", "nodes=" + ",".join(every_cp))
    assert "would remove the last control-plane node: the cluster would have no API server left" in out
    assert set(every_cp) <= {n for n, ok in day2.ready(cluster).items() if ok}


def test_breaking_etcd_quorum_is_refused_before_any_change(cluster: Cluster, inventory, spares):
    # With the second spare, N members need N // 2 + 1: removing one more than N // 2 of them breaks quorum.
    members = [*cluster.groups["etcd"], spares[1]]
    quorum = len(members) // 2 + 1
    leaving = members[quorum - 1 :][::-1]
    if len(leaving) < 2:
        pytest.fail(f"{len(members)} etcd members: quorum can only be broken by removing several (need 3 or more)")
    if len(leaving) < 2:
        pytest.fail(f"{len(members)} etcd members: quorum can only be broken by removing several (need 3 or more)")
    out = refused(cluster, inventory, "day2-refuse-quorum", "-e", "nodes=" + ",".join(leaving))
    assert (
        f"removing {', '.join(leaving)} would break etcd quorum: {len(members)} members need {quorum}, "
        f"{quorum - 1} would remain"
    ) in out
    addresses = {**cluster.hosts, **cluster.spares}
    assert day2.etcd_members(cluster, members[0], members, addresses).get("healthy") is True


def test_an_unknown_host_is_refused(cluster: Cluster, inventory):
    out = refused(cluster, inventory, "day2-refuse-unknown", "-e", "nodes=no-such-host")
    assert "not in the inventory: no-such-host" in out


@pytest.fixture(scope="module")
def workload(cluster: Cluster, spares):
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
                    "containers": [
                        {
                            "name": "agnhost",
                            "image": day2.agnhost_image(),
                            "imagePullPolicy": "Never",
                            "args": ["netexec", "--http-port=8080"],
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                        }
                    ],
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


def test_a_disruption_budget_that_blocks_the_drain_stops_the_removal_and_is_named(
    cluster: Cluster, inventory, spares, workload
):
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
        run = run_playbook(
            inventory, "remove_nodes.yml", "day2-remove-blocked", "-e", f"nodes={worker}", "-e", "day2_drain_timeout=20"
        )
    finally:
        cluster.kubectl("delete", "pdb", WORKLOAD, "--ignore-not-found")
    log = run.log.read_text(errors="replace")
    assert run.rc != 0
    assert f"Draining {worker} did not finish within 20s" in log, tail(run.log)
    assert f"default/{on_worker[0]}" in log and "disruption budget" in log, tail(run.log)
    node = cluster.kubectl_json("get", "node", worker)
    assert not node["spec"].get("unschedulable"), "the node was left cordoned"
    assert worker in day2.node_names(cluster)


def test_remove_a_worker_and_an_etcd_member(cluster: Cluster, inventory, spares, workload):
    worker, member = spares
    assert pods_by_node(cluster).get(worker), "no replica on the worker being removed: the drain would prove nothing"

    members_after = len(cluster.groups["etcd"])
    run = run_playbook(
        inventory, "remove_nodes.yml", "day2-remove", "-e", f"nodes={worker},{member}", *day2.allow_even(members_after)
    )
    assert run.rc == 0 and run.failed == 0, tail(run.log)

    # The operator deletes the hosts from the inventory: from here on the fixture's inventory is the cluster's.
    assert worker not in day2.node_names(cluster) and member not in day2.node_names(cluster)
    assert all(day2.ready(cluster).values()), day2.ready(cluster)
    health = day2.etcd_members(cluster, cluster.groups["etcd"][0], cluster.groups["etcd"], cluster.hosts)
    assert health.get("healthy") is True, health.get("msg", health)
    assert sorted(m["name"] for m in health["members"]) == sorted(cluster.groups["etcd"])
    for host in cluster.hosts:
        assert set(day2.lb_backends(cluster, host)) == set(cluster.groups["kube_control_plane"]), host

    # The workload was rescheduled: every replica runs, none on the removed hosts.
    cluster.kubectl("rollout", "status", f"deployment/{WORKLOAD}", "--timeout=180s", timeout=200)
    placed = pods_by_node(cluster)
    assert sum(len(p) for p in placed.values()) == 3, placed
    assert not {worker, member} & set(placed), placed


@pytest.mark.parametrize("which", [0, 1], ids=["worker", "etcd-member-control-plane"])
def test_a_removed_host_holds_nothing_of_the_cluster(cluster: Cluster, spares, which):
    host = spares[which]
    assert day2.leftovers(cluster, host) == {}


def test_the_cluster_is_converged_after_the_removal(cluster: Cluster):
    run = run_playbook(cluster.inventory, "site.yml", "day2-site-after-remove")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert run.changed == 0, "site.yml changed after the removal:\n" + "\n".join(run.changed_tasks())


def test_removed_hosts_join_again(cluster: Cluster, spares):
    """Remove really resets: both hosts are added again, the second one as an etcd member and control plane."""
    worker, member = spares
    inventory = day2.write_inventory(cluster, {"kube_node": [worker], "etcd": [member], "kube_control_plane": [member]})
    run = run_playbook(
        inventory,
        "add_nodes.yml",
        "day2-add-again",
        "-e",
        f"nodes={worker},{member}",
        *day2.allow_even(len(cluster.groups["etcd"]) + 1),
    )
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert day2.ready(cluster).get(worker) is True and day2.ready(cluster).get(member) is True
    addresses = {**cluster.hosts, **cluster.spares}
    health = day2.etcd_members(cluster, cluster.groups["etcd"][0], [*cluster.groups["etcd"], member], addresses)
    assert health.get("healthy") is True, health.get("msg", health)

    # Back to the fixture's shape for the modules after this one.
    run = run_playbook(
        inventory,
        "remove_nodes.yml",
        "day2-remove-again",
        "-e",
        f"nodes={worker},{member}",
        *day2.allow_even(len(cluster.groups["etcd"])),
    )
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert not {worker, member} & day2.node_names(cluster)
