"""Reboots: one worker, then every node at once. No manual step afterwards.

`podman restart` is a reboot of the node (systemd shuts down, /run and /tmp
are empty again, the network is set up anew). Each node must come back on
its own: services enabled, etcd re-forming its quorum, the kubelet Ready with
a heartbeat from after the reboot, the workload answering on every node.
"""

from __future__ import annotations

import datetime
import json
import time

from .conftest import Cluster, Workload, podman


def started_after(cluster: Cluster, host: str, unit: str, moment: float) -> bool:
    out = cluster.ssh(host, f"systemctl show {unit} -p ActiveEnterTimestamp --timestamp=unix", check=False).stdout
    value = out.strip().partition("=@")[2]
    return bool(value) and float(value) > moment


def kube_system_ready(cluster: Cluster) -> bool:
    pods = cluster.kubectl_json("-n", "kube-system", "get", "pods")["items"]
    return bool(pods) and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])) for p in pods
    )


def recovered(cluster: Cluster, workload: Workload, hosts: list[str], moment: float) -> bool:
    """True once every rebooted host is back; raises naming what is still missing."""
    for host in hosts:
        assert host not in cluster.nodes or started_after(cluster, host, "kubelet", moment), (
            f"{host}: kubelet not started"
        )
    beats = cluster.ready_since(hosts, moment)
    assert all(beats.values()), f"not Ready since the reboot: {[h for h, ok in beats.items() if not ok]}"
    assert cluster.etcd_healthy(), "etcd not healthy"
    assert kube_system_ready(cluster), "kube-system pods not Ready"
    # The workload's pods on rebooted nodes run again (new containers, Ready), and it answers everywhere.
    for pod in workload.pods():
        if pod["spec"]["nodeName"] in hosts:
            status = (pod["status"].get("containerStatuses") or [{}])[0]
            started = status.get("state", {}).get("running", {}).get("startedAt", "1970-01-01T00:00:00Z")
            since = datetime.datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
            assert status.get("ready") and since > moment, f"{pod['metadata']['name']} not restarted: {status}"
    assert workload.answering(), f"workload: {workload.answers()}"
    return True


def test_a_rebooted_worker_comes_back(cluster: Cluster, workload: Workload):
    assert workload.answering(), workload.answers()
    # The Docker worker when there is one: dockerd and cri-dockerd must come back too.
    worker = next((w for w in cluster.workers if cluster.runtime(w) == "docker"), cluster.workers[-1])
    moment = time.time()
    podman("restart", "--time", "30", worker)
    cluster.wait_for(f"{worker} back", lambda: recovered(cluster, workload, [worker], moment), timeout=420)


def test_every_node_rebooted_at_once_comes_back(cluster: Cluster, workload: Workload):
    """A cold restart of the whole cluster: etcd re-forms its quorum, nothing needs a hand."""
    moment = time.time()
    podman("restart", "--time", "30", *cluster.hosts, timeout=600)
    hosts = list(cluster.hosts)
    cluster.wait_for("every node back", lambda: recovered(cluster, workload, hosts, moment), timeout=720)
    members = json.loads(cluster.etcdctl(cluster.etcd_members[0], "member list -w json").stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(cluster.etcd_members)
