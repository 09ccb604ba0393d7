"""HA: a control-plane change rolls through the apiservers; losing the leaders' node is survived.

Lifecycle shape only (3 control planes). The rolling restart re-runs only
the stage it changes (playbooks/control_plane.yml) while a client keeps
asking through a worker's node-local load balancer. The failover test kills
(SIGKILL, `podman kill`) the node that holds the kube-controller-manager
lease, checks that a survivor takes the lease and reconciles a Deployment,
then starts the node again and sees it rejoin.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest

from .conftest import NS, Cluster, Prober, Workload, podman, probe, tail

pytestmark = pytest.mark.ha


@pytest.fixture(scope="module")
def worker(cluster: Cluster) -> str:
    assert len(cluster.control_planes) >= 3, (
        f"the HA tests need 3 control planes: E2E_SHAPE=lifecycle, not {cluster.control_planes}"
    )
    return next(w for w in cluster.workers if w not in cluster.control_planes)


def test_rolling_restart_of_the_control_plane_stage(cluster: Cluster, worker: str):
    """A control-plane change restarts one apiserver at a time; clients never notice."""
    maxage = 29 if cluster.inv.vars.get("control_plane_audit_log_maxage") != 29 else 28
    cluster.set_vars(control_plane_audit_log_maxage=maxage)  # kept: later runs see a converged cluster
    with Prober(cluster, [worker]) as prober:
        run = cluster.playbook("control_plane.yml", "control-plane-rolling", hosts=cluster.control_planes)
    assert run.ok, tail(run.log)
    restarted = [t for t in run.changed_tasks() if "Restart kube-apiserver" in t]
    assert len(restarted) == len(cluster.control_planes), run.changed_tasks()
    # One at a time: each apiserver came up (was restarted) at a different moment.
    starts = []
    for host in cluster.control_planes:
        unit = cluster.ssh(host, "systemctl show kube-apiserver -p ExecStart -p ActiveEnterTimestampMonotonic").stdout
        assert f"--audit-log-maxage={maxage}" in unit, (host, unit)
        starts.append(int(unit.split("ActiveEnterTimestampMonotonic=")[1].split()[0]))
    starts.sort()
    assert all(b - a >= 2_000_000 for a, b in itertools.pairwise(starts)), f"apiservers restarted together: {starts}"
    assert prober.answered(worker) >= 20, f"only {prober.answered(worker)} requests during the rolling restart"
    assert not prober.failures(), f"requests through {worker}'s LB failed: {prober.failures()}"


def holder(cluster: Cluster, lease: str, server: str | None = None) -> str:
    """The node whose component holds LEASE (holderIdentity is <node>_<uuid>)."""
    spec = cluster.kubectl_json("-n", "kube-system", "get", "lease", lease, server=server)["spec"]
    return spec.get("holderIdentity", "").split("_")[0]


def etcd_leader(cluster: Cluster, via: str) -> str:
    # A dead member makes etcdctl exit 1; the others' status is still printed.
    proc = cluster.etcdctl(via, "endpoint status --cluster -w json --command-timeout=5s", check=False)
    status = json.loads(proc.stdout or "[]")
    leader = next(s for s in status if s["Status"]["header"]["member_id"] == s["Status"]["leader"])
    ip = leader["Endpoint"].split("//")[1].split(":")[0]
    return next(h for h, a in cluster.hosts.items() if a == ip)


def test_killing_the_leaders_node_fails_over_and_it_rejoins(cluster: Cluster, worker: str, workload: Workload):
    victim = holder(cluster, "kube-controller-manager")
    assert victim in cluster.control_planes, victim
    held = {
        "kube-controller-manager": victim,
        "kube-scheduler": holder(cluster, "kube-scheduler"),
        "etcd": etcd_leader(cluster, victim),
    }
    survivor = next(cp for cp in cluster.control_planes if cp != victim)
    ok, out = probe(cluster, worker)
    assert ok, f"the probe through {worker}'s load balancer failed before anything was killed: {out}"

    with Prober(cluster, [worker]) as prober:
        killed = time.monotonic()
        podman("kill", victim)
        # A Deployment created now needs a controller-manager (ReplicaSet, pods) and a scheduler.
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "failover", "namespace": NS},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "failover"}},
                "template": {
                    "metadata": {"labels": {"app": "failover"}},
                    "spec": {"containers": [{"name": "pause", "image": cluster.image("agnhost"),
                                             "imagePullPolicy": "Never", "args": ["pause"]}]},
                },
            },
        }  # fmt: skip
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(deployment), server=survivor)
        new_holder = cluster.wait_for(
            "a surviving controller-manager takes the lease",
            lambda: (h := holder(cluster, "kube-controller-manager", server=survivor)) != victim and h,
            timeout=120,
        )
        cluster.wait_for(
            "the Deployment reconciled",
            lambda: (
                cluster.kubectl_json("-n", NS, "get", "deployment", "failover", server=survivor)["status"].get(
                    "availableReplicas"
                )
                == 2
            ),
            timeout=240,
        )
        # Past the node-monitor grace period (40 s) the workers, whose kubelets reach
        # the API only through their load balancers, are still Ready.
        time.sleep(max(0.0, 50 - (time.monotonic() - killed)))
    assert new_holder in cluster.control_planes and new_holder != victim
    failures = prober.failures()
    assert not failures, f"with {victim} killed (it held {held}), requests through {worker}'s LB failed: {failures}"
    ready = cluster.kubectl_json("get", "nodes", server=survivor)["items"]
    states = {n["metadata"]["name"]: next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready")
              for n in ready}  # fmt: skip
    assert all(states[w] == "True" for w in cluster.workers), states
    assert etcd_leader(cluster, survivor) != victim

    # The victim comes back by itself once its machine runs again.
    started = time.time()
    podman("start", victim)
    cluster.wait_for(
        f"{victim} Ready again", lambda: cluster.ready_since([victim], started, server=survivor)[victim], timeout=420
    )
    cluster.wait_for("etcd healthy with every member", lambda: cluster.etcd_healthy(survivor), timeout=180)
    cluster.wait_for(
        f"{victim}'s apiserver ready", lambda: cluster.kubectl("get", "--raw", "/readyz", server=victim).stdout == "ok"
    )
    cluster.kubectl("-n", NS, "delete", "deployment", "failover")
    # A node just back answers on its NodePort once kube-proxy and the pod network have synced, after Ready.
    cluster.wait_for(f"the workload answering on every node, {victim} too", lambda: answering(workload), timeout=120)


def answering(workload: Workload) -> bool:
    """True when the workload answers on every node; raises with the answers otherwise."""
    assert workload.answering(), workload.answers()
    return True
