"""Day-2 slot, add: a worker, then an etcd member that is also a control plane, join the running cluster.

Leaves for the modules after it (docs/testing.md, "The day-2 slot"): both
spares in the cluster's inventory (`cluster.add_host`), the first a worker,
the second an etcd member and control plane: 4 etcd members, 4 control
planes, 3 workers.
"""

from __future__ import annotations

import json

import pytest

from . import day2
from .conftest import Cluster, Prober, probe, refused_on, tail

pytestmark = [pytest.mark.ha, pytest.mark.day2]

# The only tasks allowed to change a host that is already in the cluster
# when a worker joins (docs/day2.md, "What changes on the hosts already in the cluster").
WORKER_ADD_CHANGES_ELSEWHERE = {"airgap.k8s.os_prepare : List every cluster host in /etc/hosts"}


@pytest.fixture(scope="module")
def spares(cluster: Cluster) -> tuple[str, str]:
    worker, control_plane = day2.day2_hosts(cluster)
    joined = [h for h in (worker, control_plane) if h not in cluster.spares]
    if joined:
        pytest.fail(f"{joined} are in the inventory already: the day-2 slot starts with both spares out")
    day2.require_whole(cluster)
    return worker, control_plane


def test_an_unreachable_host_is_refused_before_any_change(cluster: Cluster, spares):
    worker, _ = spares
    # The inventory's SSH address of the new host: the sandbox's dead-end gateway, which nobody holds.
    cluster.add_host(worker, ["kube_node"], ansible_host=cluster.sandbox.gateway)
    try:
        run = cluster.playbook(
            "add_nodes.yml",
            "day2-refuse-unreachable",
            "-e",
            f"nodes={worker}",
            "-e",
            "day2_connect_timeout=5",
            hosts=refused_on(cluster.inv),
        )
    finally:
        cluster.remove_host(worker)
    log = run.text()
    assert run.rc != 0, tail(run.log)
    assert f"Refusing to add {worker}: unreachable over SSH: {worker} (" in log, tail(run.log)
    assert "TASK [airgap.k8s.day2 : Refuse when a host the change needs does not answer]" in log, tail(run.log)
    assert run.changed == 0, run.changed_tasks()
    assert worker not in cluster.node_ready()


def test_add_a_worker(cluster: Cluster, spares):
    worker, _ = spares
    cluster.add_host(worker, ["kube_node"])
    run = day2.add_nodes(cluster, "day2-add-worker", [worker])
    assert run.ok, tail(run.log)

    # Only the new host was prepared; the others changed nothing but their /etc/hosts line.
    changed = run.changed_by_host()
    assert changed.get(worker), "the new worker reported no change: was it prepared at all?"
    elsewhere = {h: set(t) - WORKER_ADD_CHANGES_ELSEWHERE for h, t in changed.items() if h != worker}
    assert not any(elsewhere.values()), f"hosts already in the cluster changed: {elsewhere}"
    assert cluster.node_ready().get(worker) is True


def test_the_new_worker_runs_pods_that_reach_pods_elsewhere(cluster: Cluster, spares):
    worker, _ = spares
    other = next(w for w in cluster.workers if w != worker)
    pods = {"day2-new": worker, "day2-old": other}
    for name, node in pods.items():
        manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "day2-probe"}},
            "spec": {
                "nodeName": node,
                "containers": [day2.netexec(cluster)],
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


def test_site_with_limit_runs_the_controller_side_plays_and_a_changed_binary_restarts_its_service(
    cluster: Cluster, spares
):
    """The lifecycle contract on the new worker: --limit keeps preflight, bundle check and PKI;
    a binary that differs from the bundle's is copied again and restarts its service."""
    worker, _ = spares
    # A changed copy renamed over it (the running binary itself cannot be written: ETXTBSY).
    cluster.ssh(
        worker,
        "cp -p /usr/local/bin/kube-proxy /usr/local/bin/.kube-proxy.e2e && printf x >> /usr/local/bin/.kube-proxy.e2e"
        " && mv /usr/local/bin/.kube-proxy.e2e /usr/local/bin/kube-proxy",
    )
    before = cluster.ssh(worker, "systemctl show kube-proxy -p ExecMainStartTimestampMonotonic --value").stdout
    run = cluster.playbook("site.yml", "day2-site-limit", "--limit", worker, hosts=[worker])
    assert run.ok, tail(run.log)
    log = run.text()
    for task in (
        "airgap.k8s.preflight : Check networks, groups, hosts and choices",
        "airgap.k8s.preflight : Verify the bundle holds every file this inventory needs",
        "airgap.k8s.pki : Create the certificate authorities",
    ):
        assert f"TASK [{task}]" in log, f"--limit skipped {task!r}"
    changed = run.changed_by_host()
    assert set(changed) == {worker}, changed
    assert "airgap.k8s.kube_node : Install kube-proxy, its kubeconfig, configuration and unit" in changed[worker]
    assert "airgap.k8s.kube_node : Restart kube-proxy" in changed[worker], changed[worker]
    # Only what reads the changed file restarts.
    assert "airgap.k8s.kube_node : Restart kubelet" not in changed[worker], changed[worker]
    after = cluster.ssh(worker, "systemctl show kube-proxy -p ExecMainStartTimestampMonotonic --value").stdout
    assert after != before, "kube-proxy was not restarted"


def test_add_an_etcd_member_and_control_plane_while_the_api_keeps_answering(cluster: Cluster, spares):
    _, new_cp = spares
    nodes_before = cluster.nodes
    cluster.add_host(new_cp, ["etcd", "kube_control_plane"])
    with Prober(cluster, nodes_before) as prober:
        run = day2.add_nodes(cluster, "day2-add-control-plane", [new_cp])
    assert run.ok, tail(run.log)

    # Every request through every node's load balancer during the change was answered.
    for host in nodes_before:
        assert prober.answered(host) >= 20, f"{host}: only {prober.answered(host)} requests during the add"
    assert not prober.failures(), f"requests failed during the add: {prober.failures()}"

    # etcd: one more healthy member, seen from an old member; every balancer has the new apiserver, up.
    day2.check_members_and_balancers(cluster)
    # The API answers through every node's load balancer.
    for host in cluster.nodes:
        ok, out = probe(cluster, host)
        assert ok, f"{host}: {out}"
    assert cluster.node_ready().get(new_cp) is True


def test_adding_both_again_changes_nothing(cluster: Cluster, spares):
    """Re-running the same command is how an interrupted add is finished: on finished ones it is a no-op,
    for the worker and for the member that joined already (one run for both)."""
    worker, new_cp = spares
    run = day2.add_nodes(cluster, "day2-add-again", [worker, new_cp])
    assert run.ok, tail(run.log)
    assert run.changed == 0, "changed on the second add:\n" + "\n".join(run.changed_tasks())
