"""What the first site.yml run built: every host, the versions, the seal, the OS, the runtimes, etcd, the LBs."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess

from .conftest import SANDBOX_NAME, Cluster, podman


def test_site_yml_ran_on_every_host(cluster: Cluster):
    run = cluster.first_run
    assert run.ok, run.log
    # The controller-side work (preflight, PKI, kubeconfigs) runs delegated to
    # localhost from plays over the cluster's hosts (docs/design.md), so the
    # recap lists exactly the inventory's hosts.
    assert set(run.recap) == set(cluster.hosts), f"recap hosts {sorted(run.recap)} != inventory {sorted(cluster.hosts)}"


def test_every_node_ready_with_the_bundled_kubelet_and_its_runtime(cluster: Cluster):
    nodes = {n["metadata"]["name"]: n for n in cluster.kubectl_json("get", "nodes")["items"]}
    assert sorted(nodes) == cluster.nodes
    for name, node in nodes.items():
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", f"{name}: {ready}"
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == f"v{cluster.kube_version}", name
        runtime = cluster.runtime(name)
        assert info["containerRuntimeVersion"].startswith(f"{runtime}://"), (name, info["containerRuntimeVersion"])


def test_each_apiserver_reports_its_own_bundled_version(cluster: Cluster):
    """The server's /version (not kubectl's client version), from every apiserver."""
    for host in cluster.control_planes:
        served = json.loads(cluster.kubectl("get", "--raw", "/version", server=host).stdout)
        assert served["gitVersion"] == f"v{cluster.kube_version}", (host, served)
        binary = cluster.ssh(host, "/usr/local/bin/kube-apiserver --version").stdout.strip()
        assert binary == f"Kubernetes v{cluster.kube_version}", (host, binary)


# --- the air gap ----------------------------------------------------------------

OUTSIDE = ["1.1.1.1", "8.8.8.8", "192.0.2.1", "2.16.0.1"]


def host_outside_addresses() -> list[str]:
    """The test machine's own address and gateway: outside the sandbox too."""
    out = subprocess.run(["ip", "-j", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=False)
    found = []
    for route in json.loads(out.stdout or "[]"):
        found += [route[k] for k in ("prefsrc", "gateway") if k in route]
    return found


def test_the_air_gap_is_sealed(cluster: Cluster):
    """No node has a route beyond the sandbox: only the dead-end gateway (route lookups, no traffic)."""
    sandbox = cluster.sandbox
    subnet = ipaddress.ip_network(sandbox.subnet)
    host_bridge = str(subnet.network_address + 1)
    inside = [subnet, *(ipaddress.ip_network(cluster.inv.vars.get(v, d)) for v, d in (
        ("kube_pods_cidr", "10.244.0.0/16"), ("kube_service_cidr", "10.96.0.0/12")))]  # fmt: skip
    # The network podman made: internal (no NAT, no route off the bridge), no DNS forwarder.
    net = json.loads(podman("network", "inspect", f"{SANDBOX_NAME}-net").stdout)[0]
    assert net["internal"] is True and net["dns_enabled"] is False, net
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    assert str(subnet) not in nat, f"the host NATs the sandbox:\n{nat}"
    host_addrs = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout
    outside = OUTSIDE + host_outside_addresses()
    for node in sandbox.nodes:  # spares too
        routes = json.loads(cluster.ssh(node, "ip -j route show table main").stdout)
        for route in routes:
            if route["dst"] == "default":
                assert route.get("gateway") == sandbox.gateway, (node, route)
                continue
            dst = ipaddress.ip_network(route["dst"], strict=False)
            # A node-local bridge (docker0 on the Docker node) leads only to that node's containers.
            local_bridge = route.get("dev") != "eth0" and route.get("scope") == "link" and "gateway" not in route
            assert local_bridge or any(dst.subnet_of(net) for net in inside), (
                f"{node} routes beyond the sandbox: {route}"
            )
        assert all(r.get("gateway") != host_bridge for r in routes), f"{node} routes through the host: {routes}"
        for address in outside:
            got = cluster.ssh(node, f"ip -j route get {address}", check=False)
            if got.returncode == 0:
                [hop] = json.loads(got.stdout)
                assert hop.get("gateway") == sandbox.gateway, f"{node}: {address} goes {hop}"
            else:
                assert "unreachable" in got.stderr, (node, address, got.stderr)
        resolvers = [
            line.split()[1] for line in cluster.ssh(node, "cat /etc/resolv.conf").stdout.splitlines()
            if line.startswith("nameserver")
        ]  # fmt: skip
        assert resolvers == [sandbox.gateway], (node, resolvers)
        # Nobody holds the gateway address: no node, not the host; a node never learned its MAC.
        assert f'"{sandbox.gateway}"' not in cluster.ssh(node, "ip -j addr").stdout, node
        neigh = json.loads(cluster.ssh(node, f"ip -j neigh show {sandbox.gateway}").stdout)
        assert all("lladdr" not in n for n in neigh), (node, neigh)
    assert f'"{sandbox.gateway}"' not in host_addrs


# --- operating system preparation (os_prepare) ------------------------------------


def test_os_prepared_from_the_bundle_only(cluster: Cluster):
    first_cp = cluster.control_planes[0]
    for host in cluster.hosts:
        facts = cluster.ssh(
            host,
            "hostname; wc -l < /proc/swaps; sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables; "
            "cat /etc/sysctl.d/99-airgap-k8s.conf /etc/modules-load.d/airgap-k8s.conf /etc/hosts; "
            "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' conntrack ipset socat iptables chrony; "
            "apt-cache policy conntrack; systemctl is-active chrony; chronyc -n tracking",
        ).stdout
        lines = facts.splitlines()
        assert lines[0] == host, (host, lines[0])
        assert lines[1] == "1", f"{host}: swap is on"
        assert lines[2:4] == ["1", "1"], (host, lines[2:4])
        for needle in ("net.ipv4.ip_forward=1", "br_netfilter", "overlay"):
            assert needle in facts, (host, needle)
        for other, other_ip in cluster.hosts.items():
            assert f"{other_ip} {other}" in facts, f"{host}: /etc/hosts lacks {other}"
        for package in ("conntrack", "ipset", "socat", "iptables", "chrony"):
            assert f"{package} installed" in facts, (host, package)
        policy = facts[facts.index("conntrack:") :]
        assert "http" not in policy.split("active")[0], f"{host}: apt knows a repository: {policy}"
        assert "\nactive\n" in facts and re.search(r"Leap status\s+:\s+Normal", facts), f"{host}: chrony:\n{facts}"
        if host != first_cp:
            assert cluster.hosts[first_cp] in facts.split("Reference ID")[1].splitlines()[0], (host, facts)


def test_each_node_runs_its_container_runtime(cluster: Cluster):
    for host in cluster.nodes:
        if cluster.runtime(host) == "docker":
            units = cluster.ssh(host, "systemctl is-active docker cri-docker").stdout.split()
            assert units == ["active", "active"], (host, units)
            version = cluster.ssh(host, "docker version --format '{{.Server.Version}}'").stdout.strip()
            assert version.startswith(str(cluster.var(host, "docker_version"))), (host, version)
            config = cluster.ssh(host, "cat /var/lib/kubelet/config.yaml").stdout
            assert "containerRuntimeEndpoint: unix:///run/cri-dockerd.sock" in config, host
        else:
            assert cluster.ssh(host, "systemctl is-active containerd").stdout.strip() == "active", host
            assert cluster.ssh(host, "command -v dockerd", check=False).returncode != 0, f"{host} has Docker"


def test_etcd_members_are_the_etcd_group_and_healthy(cluster: Cluster):
    assert cluster.etcd_member_names() == sorted(cluster.etcd_members)
    assert cluster.etcd_healthy()


def test_every_apiserver_ready_and_up_in_every_load_balancer(cluster: Cluster):
    for host in cluster.control_planes:
        assert cluster.kubectl("get", "--raw", "/readyz", server=host).stdout.strip() == "ok", host
    # haproxy's view on every node: every apiserver is a backend and UP (state 2).
    for node in cluster.nodes:
        backends = cluster.lb_backends(node)
        assert backends == dict.fromkeys(cluster.control_planes, 2), (node, backends)
