"""The cluster site.yml built: nodes, versions, and the secure defaults."""

from __future__ import annotations

import pytest

from .conftest import Cluster, kube_version


def test_site_yml_succeeded(cluster: Cluster):
    run = cluster.first_run
    assert run.rc == 0
    assert set(run.recap) >= set(cluster.hosts), f"hosts missing from the recap: {run.recap}"


def test_all_nodes_ready_with_the_bundled_version(cluster: Cluster):
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    names = {n["metadata"]["name"] for n in nodes}
    assert names == set(cluster.groups["kube_node"]) | set(cluster.groups["kube_control_plane"])
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", f"{node['metadata']['name']}: {ready}"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{kube_version()}"


def test_kubectl_from_the_bundle_talks_to_the_apiserver(cluster: Cluster):
    out = cluster.kubectl("version", "-o", "json").stdout
    assert f'"gitVersion": "v{kube_version()}"' in out


@pytest.mark.parametrize(
    "flag",
    [
        "--anonymous-auth=false",
        "--authorization-mode=Node,RBAC",
        "NodeRestriction",
        "--audit-log-path=",
        "--encryption-provider-config=",
        "--profiling=false",
        "--etcd-cafile=",
        "--kubelet-certificate-authority=",
    ],
)
def test_apiserver_secure_flags_on_execstart(cluster: Cluster, flag: str):
    node = cluster.groups["kube_control_plane"][0]
    unit = cluster.ssh(node, "systemctl cat kube-apiserver").stdout
    assert flag in unit


@pytest.mark.parametrize("unit", ["kube-controller-manager", "kube-scheduler"])
def test_controller_manager_and_scheduler_bound_to_loopback(cluster: Cluster, unit: str):
    node = cluster.groups["kube_control_plane"][0]
    text = cluster.ssh(node, f"systemctl cat {unit}").stdout
    assert "--bind-address=127.0.0.1" in text
    assert "--profiling=false" in text
    listening = cluster.ssh(node, "ss -Htlnp").stdout
    port = {"kube-controller-manager": "10257", "kube-scheduler": "10259"}[unit]
    assert f"127.0.0.1:{port}" in listening
    assert f"0.0.0.0:{port}" not in listening and f"*:{port}" not in listening


def test_kubelet_read_only_port_off_and_anonymous_off(cluster: Cluster):
    node = cluster.groups["kube_node"][-1]
    listening = cluster.ssh(node, "ss -Htln").stdout
    assert ":10255" not in listening
    # Anonymous requests to the kubelet API are refused.
    code = cluster.ssh(
        node, f"curl -sk -o /dev/null -w '%{{http_code}}' https://{cluster.hosts[node]}:10250/pods", check=False
    ).stdout
    assert code == "401", code


def test_no_private_key_readable_by_others_and_no_ca_key_on_workers(cluster: Cluster):
    for host in cluster.hosts:
        loose = cluster.ssh(
            host, "find /etc/kubernetes /etc/etcd -name '*.key' -perm /077 2>/dev/null || true"
        ).stdout.strip()
        assert loose == "", f"{host}: keys readable beyond their owner: {loose}"
    workers_only = set(cluster.groups["kube_node"]) - set(cluster.groups["kube_control_plane"])
    for host in workers_only:
        found = cluster.ssh(host, "find / -xdev -name 'ca.key' 2>/dev/null || true").stdout.strip()
        assert found == "", f"{host} (worker) holds a CA key: {found}"


def test_etcd_data_dir_private_to_etcd(cluster: Cluster):
    for host in cluster.groups["etcd"]:
        stat = cluster.ssh(host, "stat -c '%a %U' /var/lib/etcd").stdout.strip()
        assert stat == "700 etcd", f"{host}: {stat}"
