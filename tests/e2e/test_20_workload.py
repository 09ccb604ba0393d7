"""A workload on the cluster: one pod per worker (both runtimes), pod-to-pod, Service DNS, NodePort.

`web` (the session's workload fixture) stays up for the later tests (reboot, failover).
"""

from __future__ import annotations

import itertools
import time

from .conftest import NS, Cluster, Workload


def test_one_replica_on_every_worker(cluster: Cluster, workload: Workload):
    pods = workload.ready_pods()
    placed = sorted(p["spec"]["nodeName"] for p in pods)
    assert placed == sorted(cluster.workers), placed


def test_exec_and_logs_work_on_every_worker(cluster: Cluster, workload: Workload):
    """The kubelet streams exec and reads logs through each runtime (cri-dockerd's streaming too)."""
    for pod in workload.ready_pods():
        name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
        out = cluster.kubectl("-n", NS, "exec", name, "--", "/agnhost", "dns-suffix", check=False)
        assert out.returncode == 0 and "cluster.local" in out.stdout, (node, cluster.runtime(node), out.stderr)
        logs = cluster.kubectl("-n", NS, "logs", name, check=False)
        assert logs.returncode == 0 and "Started HTTP server" in logs.stdout + logs.stderr, (node, logs.stderr)


def test_pods_reach_each_other_across_nodes_and_runtimes(cluster: Cluster, workload: Workload):
    """Every pod connects to every other pod (Docker <-> containerd in the lifecycle shape)."""
    pods = workload.ready_pods()
    runtimes = {cluster.runtime(p["spec"]["nodeName"]) for p in pods}
    if len(cluster.workers) > 1 and any(cluster.runtime(w) == "docker" for w in cluster.workers):
        assert runtimes == {"containerd", "docker"}, runtimes
    for a, b in itertools.permutations(pods, 2):
        out = cluster.kubectl(
            "-n", NS, "exec", a["metadata"]["name"], "--", "/agnhost", "connect",
            f"{b['status']['podIP']}:8080", "--timeout=5s", check=False,
        )  # fmt: skip
        assert out.returncode == 0, (a["spec"]["nodeName"], b["spec"]["nodeName"], out.stderr)


def test_service_reachable_by_dns_name_from_every_pod(cluster: Cluster, workload: Workload):
    name = f"web.{NS}.svc.cluster.local"
    for pod in workload.ready_pods():
        deadline = time.monotonic() + 60
        while True:
            proc = cluster.kubectl(
                "-n", NS, "exec", pod["metadata"]["name"], "--", "/agnhost", "connect", f"{name}:80", "--timeout=5s",
                check=False,
            )  # fmt: skip
            if proc.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert proc.returncode == 0, (pod["spec"]["nodeName"], proc.stderr)


def test_nodeport_answers_on_every_node(cluster: Cluster, workload: Workload):
    answers = workload.answers()
    names = {p["metadata"]["name"] for p in workload.ready_pods()}
    assert all(a in names for a in answers.values()), answers
