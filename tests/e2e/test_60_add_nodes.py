"""Day-2: add a worker, then an etcd member that is also a control plane, to the running cluster.

Fixture contract: tests/e2e/day2.py. Leaves for test_78_remove_nodes: the
first spare a worker, the second an etcd member and control plane, both in
the day-2 inventory (day2.DAY2_INVENTORY next to the cluster's).
"""

from __future__ import annotations

import json

import pytest

from . import day2
from .conftest import Cluster, run_playbook, tail

pytestmark = pytest.mark.day2

# The only tasks allowed to change a host that is already in the cluster
# when a worker joins (docs/day2.md, "What changes on the other hosts").
WORKER_ADD_CHANGES_ELSEWHERE = {"airgap.k8s.os_prepare : List every cluster host in /etc/hosts"}


@pytest.fixture(scope="module")
def spares(cluster: Cluster) -> tuple[str, str]:
    if len(cluster.spares) < 2:
        pytest.fail("the day-2 tests need 2 spare hosts: see tests/e2e/day2.py")
    worker, control_plane = list(cluster.spares)[:2]
    return worker, control_plane


def test_an_unreachable_host_is_refused_before_any_change(cluster: Cluster, spares):
    worker, _ = spares
    # An address in the sandbox's network that no host has.
    nowhere = cluster.spares[worker].rsplit(".", 1)[0] + ".250"
    inventory = day2.write_inventory(cluster, {"kube_node": [worker]}, ssh_address={worker: nowhere})
    run = run_playbook(
        inventory, "add_nodes.yml", "day2-refuse-unreachable", "-e", f"nodes={worker}", "-e", "day2_connect_timeout=5"
    )
    log = run.log.read_text(errors="replace")
    assert run.rc != 0
    assert f"Refusing to add {worker}: unreachable over SSH: {worker} (" in log, tail(run.log)
    assert "TASK [airgap.k8s.day2 : Refuse when a host the change needs does not answer]" in log
    assert run.changed == 0, run.changed_tasks()
    assert worker not in day2.node_names(cluster)


def test_add_a_worker(cluster: Cluster, spares):
    worker, _ = spares
    inventory = day2.write_inventory(cluster, {"kube_node": [worker]})
    run = run_playbook(inventory, "add_nodes.yml", "day2-add-worker", "-e", f"nodes={worker}")
    assert run.rc == 0 and run.failed == 0, tail(run.log)

    # Only the new host was prepared; the others changed nothing but their /etc/hosts line.
    changed = day2.changed_tasks_by_host(run)
    assert changed.get(worker), "the new worker reported no change: was it prepared at all?"
    elsewhere = {h: set(t) - WORKER_ADD_CHANGES_ELSEWHERE for h, t in changed.items() if h != worker}
    assert not any(elsewhere.values()), f"hosts already in the cluster changed: {elsewhere}"
    assert day2.ready(cluster).get(worker) is True


def test_the_new_worker_runs_pods_that_reach_pods_elsewhere(cluster: Cluster, spares):
    worker, _ = spares
    image = day2.agnhost_image()
    other = cluster.groups["kube_node"][0]
    pods = {
        "day2-new": worker,
        "day2-old": other,
    }
    for name, node in pods.items():
        manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "day2-probe"}},
            "spec": {
                "nodeName": node,
                "containers": [
                    {
                        "name": "agnhost",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "args": ["netexec", "--http-port=8080"],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                    }
                ],
            },
        }
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    try:
        for name in pods:
            cluster.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=180s", timeout=200)
        old_ip = cluster.kubectl_json("get", "pod", "day2-old")["status"]["podIP"]
        new_ip = cluster.kubectl_json("get", "pod", "day2-new")["status"]["podIP"]
        for src, dst in (("day2-new", old_ip), ("day2-old", new_ip)):
            out = cluster.kubectl("exec", src, "--", "/agnhost", "connect", f"{dst}:8080", "--timeout=5s", check=False)
            assert out.returncode == 0, f"{src} -> {dst}: {out.stdout} {out.stderr}"
    finally:
        cluster.kubectl("delete", "pod", *pods, "--wait=false", check=False)


def test_adding_the_worker_again_changes_nothing(cluster: Cluster, spares):
    """Re-running the same command is how an interrupted add is finished: on a finished one it is a no-op."""
    worker, _ = spares
    inventory = cluster.inventory.parent / day2.DAY2_INVENTORY
    run = run_playbook(inventory, "add_nodes.yml", "day2-add-worker-again", "-e", f"nodes={worker}")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert run.changed == 0, "changed on the second add:\n" + "\n".join(run.changed_tasks())


def test_site_with_limit_runs_the_controller_side_plays_and_a_changed_binary_restarts_its_service(
    cluster: Cluster, spares
):
    """The lifecycle contract on the new worker: --limit keeps preflight, bundle check and PKI;
    a binary that differs from the bundle's is copied again and restarts its service."""
    worker, _ = spares
    inventory = cluster.inventory.parent / day2.DAY2_INVENTORY
    cluster.ssh(worker, "printf x >> /usr/local/bin/kube-proxy")
    before = cluster.ssh(worker, "systemctl show kube-proxy -p ExecMainStartTimestampMonotonic --value").stdout
    run = run_playbook(inventory, "site.yml", "day2-site-limit", "--limit", worker)
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    log = run.log.read_text(errors="replace")
    for task in (
        "airgap.k8s.preflight : Check networks, groups, hosts and choices",
        "airgap.k8s.preflight : Verify the bundle holds every file this inventory needs",
        "airgap.k8s.pki : Create the certificate authorities",
    ):
        assert f"TASK [{task}]" in log, f"--limit skipped {task!r}"
    changed = day2.changed_tasks_by_host(run)
    assert set(changed) == {worker}, changed
    assert "airgap.k8s.bundle_install : Install files from the bundle" in changed[worker]
    assert "airgap.k8s.kube_node : Restart kube-proxy" in changed[worker], changed[worker]
    after = cluster.ssh(worker, "systemctl show kube-proxy -p ExecMainStartTimestampMonotonic --value").stdout
    assert after != before, "kube-proxy was not restarted"


def test_add_an_etcd_member_and_control_plane_while_the_api_keeps_answering(cluster: Cluster, spares):
    worker, new_cp = spares
    inventory = day2.write_inventory(cluster, {"kube_node": [worker], "etcd": [new_cp], "kube_control_plane": [new_cp]})
    nodes_before = [*cluster.hosts, worker]
    probes = day2.LbProbes(cluster, nodes_before).start()
    try:
        run = run_playbook(
            inventory,
            "add_nodes.yml",
            "day2-add-control-plane",
            "-e",
            f"nodes={new_cp}",
            *day2.allow_even(len(cluster.groups["etcd"]) + 1),
        )
    finally:
        results = probes.stop()
    assert run.rc == 0 and run.failed == 0, tail(run.log)

    # Every request through every node's load balancer during the change was answered.
    for host in nodes_before:
        assert host in results, f"no probe result from {host}"
        assert results[host]["ok"] >= 20, f"{host}: only {results[host]['ok']} requests during the add"
        assert not results[host]["errors"], f"{host}: requests failed during the add: {results[host]['errors'][:5]}"

    # etcd: one more healthy member, seen from an old member.
    control_planes = [*cluster.groups["kube_control_plane"], new_cp]
    addresses = {**cluster.hosts, **cluster.spares}
    health = day2.etcd_members(cluster, cluster.groups["etcd"][0], [*cluster.groups["etcd"], new_cp], addresses)
    assert health.get("healthy") is True, health.get("msg", health)
    assert sorted(m["name"] for m in health["members"]) == sorted([*cluster.groups["etcd"], new_cp])

    # The API answers through every node's load balancer, which has the new apiserver as a backend, up.
    for host in [*nodes_before, new_cp]:
        ok, out = day2.lb_answers(cluster, host)
        assert ok, f"{host}: {out}"
        backends = day2.lb_backends(cluster, host)
        assert set(backends) == set(control_planes), f"{host}: {backends}"
        assert backends[new_cp] == 2, f"{host}: the new apiserver is not up in haproxy: {backends}"
    assert day2.ready(cluster).get(new_cp) is True


def test_adding_the_control_plane_again_changes_nothing(cluster: Cluster, spares):
    """The join of a member that has joined already only converges it: nothing changes anywhere."""
    _, new_cp = spares
    inventory = cluster.inventory.parent / day2.DAY2_INVENTORY
    run = run_playbook(
        inventory,
        "add_nodes.yml",
        "day2-add-control-plane-again",
        "-e",
        f"nodes={new_cp}",
        *day2.allow_even(len(cluster.groups["etcd"]) + 1),
    )
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert run.changed == 0, "changed on the second add:\n" + "\n".join(run.changed_tasks())


def test_the_cluster_is_converged_after_the_adds(cluster: Cluster, spares):
    inventory = cluster.inventory.parent / day2.DAY2_INVENTORY
    run = run_playbook(inventory, "site.yml", "day2-site-after-add")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert run.changed == 0, "site.yml changed after the adds:\n" + "\n".join(run.changed_tasks())
