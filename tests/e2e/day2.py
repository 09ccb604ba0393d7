"""What the day-2 end-to-end modules (test_64 ... test_85) share.

The slot contract (docs/testing.md, "The day-2 slot"): test_64 (backup
and restore) and test_68 (certificates) run on the deployed cluster and
leave it as they found it; test_70_add_nodes adds the lifecycle shape's
two spares to the cluster, the first as a worker, the second as an etcd
member and control plane; test_78_remove_nodes removes both and leaves them
clean; test_79_reset deploys a one-host cluster of its own on the first
spare, resets it and adds both spares back in one run; test_85 (controller
state) runs site.yml on every host last.
"""

from __future__ import annotations

import pytest

from .conftest import Cluster, PlaybookRun


def day2_hosts(cluster: Cluster) -> tuple[str, str]:
    """The shape's spares the day-2 tests add and remove: (the worker, the etcd member and control plane)."""
    spares = cluster.sandbox.shape.spares
    if len(spares) < 2:
        pytest.fail(f"the day-2 tests need the lifecycle shape's two spares, not {spares} (E2E_SHAPE=lifecycle)")
    return cluster.sandbox.name(spares[0]), cluster.sandbox.name(spares[1])


def allow_even(members_after: int) -> list[str]:
    """The extra variable a change needs when it leaves an even number of etcd members."""
    return ["-e", "etcd_allow_even=true"] if members_after % 2 == 0 else []


def netexec(cluster: Cluster) -> dict:
    """The day-2 workloads' container: agnhost netexec on 8080, Ready when it answers /healthz."""
    return {
        "name": "agnhost",
        "image": cluster.image("agnhost"),
        "imagePullPolicy": "Never",
        "args": ["netexec", "--http-port=8080"],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
    }


def add_nodes(cluster: Cluster, name: str, hosts: list[str]) -> PlaybookRun:
    """add_nodes.yml for HOSTS (already in the inventory: `cluster.add_host`), with etcd_allow_even when needed."""
    return cluster.playbook(
        "add_nodes.yml", name, "-e", "nodes=" + ",".join(hosts), *allow_even(len(cluster.etcd_members))
    )


def check_members_and_balancers(cluster: Cluster) -> None:
    """After an etcd member and control plane joined: the members are the etcd group, seen from the first
    (oldest) member, all healthy; every node's load balancer has every apiserver as a backend, UP."""
    assert cluster.etcd_member_names(via=cluster.etcd_members[0]) == sorted(cluster.etcd_members)
    assert cluster.etcd_healthy()
    for host in cluster.nodes:
        backends = cluster.lb_backends(host)
        assert backends == dict.fromkeys(cluster.control_planes, 2), f"{host}: {backends}"


def require_whole(cluster: Cluster) -> None:
    """Before a day-2 module: every node Ready and etcd healthy, or the module fails naming what is not."""

    def whole() -> bool:
        ready, healthy = cluster.node_ready(), cluster.etcd_healthy()
        assert ready == dict.fromkeys(cluster.nodes, True) and healthy, f"nodes {ready}, etcd healthy: {healthy}"
        return True

    cluster.wait_for("every node Ready and every etcd member healthy", whole, timeout=300)


# What a host that held any part of the cluster must not have any more.
# Each check prints what it found; an empty output is clean.
CLEAN_CHECKS = {
    "units": "systemctl list-unit-files --no-legend 'kubelet*' 'kube-*' 'etcd*' 'containerd*' 'docker*' "
    "'cri-docker*' 'haproxy*' | awk '{print $1}'",
    "processes": "for p in kubelet kube-proxy kube-apiserver etcd containerd containerd-shim-runc-v2 dockerd haproxy "
    "flanneld; do pgrep -x $p >/dev/null && echo $p; done; true",
    "binaries": "cd /usr/local/bin && ls kubelet kube-proxy kube-apiserver kube-controller-manager kube-scheduler "
    "kubectl etcd etcdctl etcdutl containerd containerd-shim-runc-v2 ctr runc crictl dockerd docker cri-dockerd "
    "2>/dev/null; true",
    "config": "ls -d /etc/kubernetes /etc/etcd /etc/containerd /etc/docker /etc/haproxy /etc/crictl.yaml "
    "/etc/cni /opt/cni /var/lib/cni /var/log/pods /var/log/kubernetes /var/cache/airgap-k8s "
    "/etc/sysctl.d/99-airgap-k8s.conf /etc/modules-load.d/airgap-k8s.conf 2>/dev/null; true",
    # The sandbox mounts volumes there: they may stay as empty mount points.
    "data": "for d in /var/lib/etcd /var/lib/kubelet /var/lib/containerd /var/lib/docker /var/lib/kube-proxy "
    '/run/containerd /run/flannel; do [ -n "$(ls -A $d 2>/dev/null)" ] && echo $d; done; true',
    "mounts": "findmnt -rn -o TARGET | grep -E '^/var/lib/kubelet/|^/run/containerd/|^/run/netns/' ; true",
    "interfaces": "ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(cni0|flannel\\.1|docker0|kube-ipvs0)$'; true",
    "iptables chains": "for t in iptables-nft-save iptables-legacy-save ip6tables-nft-save ip6tables-legacy-save; do "
    "command -v $t >/dev/null && $t 2>/dev/null | grep -E '^:(KUBE-|FLANNEL-|DOCKER)' | sed \"s/^/$t /\"; done; true",
    "ipsets": "command -v ipset >/dev/null && ipset list -n | grep -E '^KUBE-'; true",
    "etc hosts": "grep -n 'airgap.k8s cluster hosts' /etc/hosts; true",
    "users": "getent passwd etcd; getent group etcd; true",
}


def leftovers(cluster: Cluster, host: str) -> dict[str, str]:
    """What of the cluster is still on HOST, by check (empty: clean)."""
    found = {}
    for name, command in CLEAN_CHECKS.items():
        out = cluster.ssh(host, command).stdout.strip()
        if out:
            found[name] = out
    return found
