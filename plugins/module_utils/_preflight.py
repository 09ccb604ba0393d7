# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Inventory checks that must pass before any host is changed.

Pure functions: they read the inventory's choices and return the problems
found, so they are unit-tested without Ansible.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

RUNTIMES = ("containerd", "docker")
NETWORK_PLUGINS = ("flannel", "calico")
PROXY_MODES = ("iptables", "ipvs", "nftables")
CGROUP_DRIVERS = ("systemd", "cgroupfs")
# RFC 1123 label: what a Kubernetes node name and an etcd member name must be.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _network(name: str, value: str, report: Report) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        report.errors.append(f"{name}={value!r} is not a network in CIDR form ({exc}); e.g. 10.244.0.0/16.")
        return None


def check_networks(cidrs: dict[str, str], report: Report) -> None:
    """Pod, service and node networks must be valid and pairwise disjoint."""
    nets = {}
    for name, value in cidrs.items():
        if not value:
            continue
        net = _network(name, value, report)
        if net is not None:
            nets[name] = net
    names = sorted(nets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if nets[a].version == nets[b].version and nets[a].overlaps(nets[b]):
                report.errors.append(
                    f"{a}={nets[a]} overlaps {b}={nets[b]}: pick networks that do not overlap "
                    "(pods, services and the hosts' network must be disjoint)."
                )
    svc = nets.get("kube_service_cidr")
    if svc is not None and svc.version == 4 and svc.prefixlen > 28:
        report.errors.append(f"kube_service_cidr={svc} is too small: use /28 or larger (e.g. 10.96.0.0/12).")
    pods = nets.get("kube_pods_cidr")
    if pods is not None and pods.version == 4 and pods.prefixlen > 24:
        report.errors.append(f"kube_pods_cidr={pods} is too small: each node takes a /24; use /16 or similar.")


def check_groups(groups: dict[str, list[str]], report: Report) -> None:
    etcd = groups.get("etcd", [])
    control_plane = groups.get("kube_control_plane", [])
    nodes = groups.get("kube_node", [])
    if not etcd:
        report.errors.append("Group 'etcd' is empty: put 1, 3 or 5 hosts in it.")
    elif len(etcd) % 2 == 0:
        report.warnings.append(
            f"Group 'etcd' has {len(etcd)} members: an even count tolerates no more failures than "
            f"{len(etcd) - 1} would. Use an odd number (1, 3, 5)."
        )
    if not control_plane:
        report.errors.append("Group 'kube_control_plane' is empty: put at least one host in it.")
    if not nodes and not control_plane:
        report.errors.append("Group 'kube_node' is empty: put at least one host in it.")
    for group, members in groups.items():
        dupes = sorted(name for name, n in Counter(members).items() if n > 1)
        if dupes:
            report.errors.append(f"Group '{group}' lists {', '.join(dupes)} more than once.")


def check_hosts(hosts: dict[str, dict[str, Any]], report: Report) -> None:
    """Node names must be valid DNS labels; names and addresses unique."""
    by_ip: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for host, info in sorted(hosts.items()):
        node_name = str(info.get("node_name") or host)
        if not _DNS_LABEL.match(node_name):
            report.errors.append(
                f"Host {host}: node name {node_name!r} is not a lowercase RFC 1123 name "
                "(letters, digits, '-' and '.'); rename the host or set node_name."
            )
        by_name.setdefault(node_name, []).append(host)
        ip = info.get("ip")
        if not ip:
            report.errors.append(
                f"Host {host}: no address; set 'ip' (the address cluster traffic uses) in the inventory."
            )
            continue
        try:
            ipaddress.ip_address(str(ip))
        except ValueError:
            report.errors.append(f"Host {host}: ip={ip!r} is not an IP address.")
            continue
        by_ip.setdefault(str(ip), []).append(host)
    for name, owners in sorted(by_name.items()):
        if len(owners) > 1:
            report.errors.append(f"Hosts {', '.join(owners)} share the node name {name!r}: node names must be unique.")
    for ip, owners in sorted(by_ip.items()):
        if len(owners) > 1:
            report.errors.append(f"Hosts {', '.join(owners)} share the address {ip}: each node needs its own 'ip'.")


def check_choices(choices: dict[str, Any], supported_minors: list[str], report: Report) -> None:
    allowed = {
        "container_runtime": RUNTIMES,
        "kube_network_plugin": NETWORK_PLUGINS,
        "kube_proxy_mode": PROXY_MODES,
        "kube_cgroup_driver": CGROUP_DRIVERS,
    }
    for name, options in allowed.items():
        if name in choices and choices[name] not in options:
            report.errors.append(f"{name}={choices[name]!r} is not supported: use one of {', '.join(options)}.")
    version = str(choices.get("kube_version", ""))
    match = _VERSION.match(version)
    if not match:
        report.errors.append(f"kube_version={version!r} must look like 1.36.3 (no leading 'v').")
    elif supported_minors and f"{match.group(1)}.{match.group(2)}" not in supported_minors:
        report.errors.append(
            f"kube_version={version} is not supported: supported minor versions are {', '.join(supported_minors)}."
        )


def _version_tuple(version: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(version)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def etcd_version_problem(kube_version: str, etcd_version: str, etcd_supported: dict[str, Any]) -> str | None:
    """Why ``etcd_version`` cannot serve Kubernetes ``kube_version``, or None.

    ``etcd_supported`` is the versions table's ``kubernetes.etcd_supported``:
    Kubernetes minor -> ``{min: X.Y.Z, minors: [X.Y, ...]}`` (the etcd
    versions that minor's apiserver works with). Shared with the upgrade's
    checks, which ask it about the target versions.
    """
    kube = _version_tuple(str(kube_version))
    if kube is None:
        return None  # check_choices reports the malformed kube_version
    etcd = _version_tuple(str(etcd_version))
    if etcd is None:
        return f"etcd_version={etcd_version!r} must look like 3.6.16 (no leading 'v')."
    minor = f"{kube[0]}.{kube[1]}"
    rule = etcd_supported.get(minor)
    if not isinstance(rule, dict):
        return (
            f"The versions table says nothing about the etcd versions Kubernetes {minor} works with "
            f"(airgap_artifacts.kubernetes.etcd_supported has {', '.join(sorted(etcd_supported)) or 'no minor'})."
        )
    minimum = _version_tuple(str(rule.get("min", "")))
    minors = [str(m) for m in rule.get("minors") or []]
    if minimum is None or not minors:
        return f"airgap_artifacts.kubernetes.etcd_supported[{minor!r}] needs min (X.Y.Z) and minors (a list of X.Y)."
    if etcd < minimum or f"{etcd[0]}.{etcd[1]}" not in minors:
        return (
            f"etcd_version={etcd_version} does not work with Kubernetes {kube_version}: it needs etcd "
            f"{rule['min']} or newer of the minors {', '.join(minors)} "
            f"(airgap_artifacts.kubernetes.etcd_supported). Set etcd_version to such a version the bundle has."
        )
    return None


def check_cluster(
    cidrs: dict[str, str],
    groups: dict[str, list[str]],
    hosts: dict[str, dict[str, Any]],
    choices: dict[str, Any],
    supported_minors: list[str],
    *,
    etcd_supported: dict[str, Any] | None = None,
) -> Report:
    report = Report()
    check_networks(cidrs, report)
    check_groups(groups, report)
    check_hosts(hosts, report)
    check_choices(choices, supported_minors, report)
    if etcd_supported is not None and choices.get("etcd_version"):
        problem = etcd_version_problem(
            str(choices.get("kube_version", "")), str(choices["etcd_version"]), etcd_supported
        )
        if problem:
            report.errors.append(problem)
    for host, info in hosts.items():
        ip = info.get("ip")
        for name, value in cidrs.items():
            if not ip or not value or name == "kube_node_cidr":
                continue
            try:
                if ipaddress.ip_address(str(ip)) in ipaddress.ip_network(value, strict=False):
                    report.errors.append(f"Host {host}: ip {ip} lies inside {name}={value}; choose another {name}.")
            except ValueError:
                continue  # already reported above
    return report
