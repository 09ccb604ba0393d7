# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Version skew and upgrade planning for playbooks/upgrade.yml and site.yml's guard.

Pure functions over what the running cluster reports (apiserver /version,
the Nodes' nodeInfo, etcd's status) and what the inventory names. They say
what an upgrade must refuse before it changes anything, which hosts still
need work (so a re-run finishes an interrupted upgrade and a converged
cluster costs no drain), and how a running cluster differs from the
inventory (site.yml refuses such a difference: docs/upgrade.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.airgap.k8s.plugins.module_utils._preflight import etcd_version_problem

# The annotation upgrade.yml puts on a node it cordons, so that a re-run
# (after an interruption) can tell its own cordons from someone else's.
CORDON_ANNOTATION = "airgap.k8s/cordoned-by"
CORDON_VALUE = "upgrade"

# Kubernetes' version skew policy: a kubelet (and kube-proxy) may be up to
# three minors older than the apiserver, never newer.
KUBELET_MAX_MINORS_BEHIND = 3

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")

Version = tuple[int, int, int]


def parse_version(value: Any) -> Version | None:
    """``v1.36.3``, ``1.36.3`` or ``containerd://2.4.1`` -> (1, 36, 3); None when it is not such a version."""
    text = str(value or "").strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    match = _VERSION.match(text)
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def _show(version: Version) -> str:
    return ".".join(str(p) for p in version)


def _minor(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def step_problem(component: str, where: str, current: Version, target: Version, allow_downgrade: bool) -> str | None:
    """Why ``component`` on ``where`` cannot go from ``current`` to ``target`` in one upgrade, or None.

    One minor at a time upwards; downwards only within a minor (patch level)
    and only with ``upgrade_allow_downgrade=true``.
    """
    if target == current:
        return None
    if target > current:
        if target[0] != current[0] or target[1] > current[1] + 1:
            nxt = f"{current[0]}.{current[1] + 1}"
            return (
                f"{component} on {where} runs {_show(current)}: going to {_show(target)} skips a minor version "
                f"(one minor at a time is supported). Upgrade to the newest {nxt}.x the bundle has first, "
                f"then to {_minor(target)}."
            )
        return None
    if target[:2] != current[:2]:
        return (
            f"{component} on {where} runs {_show(current)}: going back to {_show(target)} is a downgrade across "
            f"minor versions, which is never supported. Keep the version of {_minor(current)}, or restore the "
            f"etcd backup the upgrade took first (docs/upgrade.md)."
        )
    if not allow_downgrade:
        return (
            f"{component} on {where} runs {_show(current)}, newer than the inventory's {_show(target)}: a downgrade. "
            f"Set the inventory back to {_show(current)}, or pass -e upgrade_allow_downgrade=true "
            f"(patch level only)."
        )
    return None


@dataclass
class Observed:
    """What the running cluster reports, by host."""

    apiservers: dict[str, str] = field(default_factory=dict)  # control plane -> /version gitVersion
    kubelets: dict[str, str] = field(default_factory=dict)  # node -> nodeInfo.kubeletVersion
    runtimes: dict[str, str] = field(default_factory=dict)  # node -> nodeInfo.containerRuntimeVersion
    etcd: dict[str, str] = field(default_factory=dict)  # member -> server version
    cordoned: dict[str, bool] = field(default_factory=dict)  # node -> cordoned by upgrade.yml (True) or not
    not_ready: list[str] = field(default_factory=list)

    @classmethod
    def from_api(
        cls, nodes: Mapping[str, Any], apiservers: Mapping[str, str], etcd: Mapping[str, str] | None = None
    ) -> Observed:
        """From ``kubectl get nodes -o json``, the apiservers' gitVersion by host and etcd's version by member."""
        obs = cls(apiservers=dict(apiservers), etcd=dict(etcd or {}))
        for item in nodes.get("items") or []:
            name = item["metadata"]["name"]
            info = (item.get("status") or {}).get("nodeInfo") or {}
            obs.kubelets[name] = str(info.get("kubeletVersion", ""))
            obs.runtimes[name] = str(info.get("containerRuntimeVersion", ""))
            if (item.get("spec") or {}).get("unschedulable"):
                annotations = item["metadata"].get("annotations") or {}
                obs.cordoned[name] = annotations.get(CORDON_ANNOTATION) == CORDON_VALUE
            ready = [c for c in (item.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
            if not ready or ready[0].get("status") != "True":
                obs.not_ready.append(name)
        return obs


@dataclass
class Target:
    """What the inventory names."""

    kube_version: str
    etcd_version: str
    container_runtime: str  # containerd | docker
    runtime_version: str  # containerd_version or docker_version
    # Per node, when nodes differ (a Docker worker in a containerd cluster):
    # node -> (container_runtime, its version). Nodes not listed use the two above.
    node_runtimes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def runtime_of(self, node: str) -> tuple[str, str]:
        """(container_runtime, version) the inventory names for NODE."""
        kind, version = self.node_runtimes.get(node, (self.container_runtime, self.runtime_version))
        return str(kind), str(version)


def _parsed(component: str, where: str, value: str, problems: list[str]) -> Version | None:
    version = parse_version(value)
    if version is None:
        problems.append(f"{component} on {where} reports version {value!r}, which is not X.Y.Z: cannot check the skew.")
    return version


def upgrade_problems(
    observed: Observed,
    target: Target,
    etcd_supported: Mapping[str, Any],
    *,
    allow_downgrade: bool = False,
    ignore_cordoned: bool = False,
) -> list[str]:
    """Every reason to refuse the upgrade, one sentence each; empty when it may go ahead."""
    problems: list[str] = []
    kube = parse_version(target.kube_version)
    etcd = parse_version(target.etcd_version)
    runtime = parse_version(target.runtime_version)
    for name, value, parsed in (
        ("kube_version", target.kube_version, kube),
        ("etcd_version", target.etcd_version, etcd),
        (f"{target.container_runtime}_version", target.runtime_version, runtime),
    ):
        if parsed is None:
            problems.append(f"{name}={value!r} must look like 1.36.3 (no leading 'v').")
    if kube is None or etcd is None or runtime is None:
        return problems

    if observed.not_ready:
        problems.append(
            f"not Ready: {', '.join(sorted(observed.not_ready))}. Every node must be Ready before an upgrade; "
            f"repair them (kubectl describe node) and run the same command again."
        )
    foreign = sorted(n for n, ours in observed.cordoned.items() if not ours)
    if foreign and not ignore_cordoned:
        problems.append(
            f"cordoned by someone else (no {CORDON_ANNOTATION} annotation): {', '.join(foreign)}. The upgrade drains "
            f"and uncordons nodes and would make them schedulable again. Uncordon them, or pass "
            f"-e upgrade_ignore_cordoned=true to upgrade them and leave them cordoned."
        )

    apiservers: dict[str, Version] = {}
    for host, value in sorted(observed.apiservers.items()):
        version = _parsed("kube-apiserver", host, value, problems)
        if version is not None:
            apiservers[host] = version
            problems.extend(p for p in [step_problem("kube-apiserver", host, version, kube, allow_downgrade)] if p)

    oldest_api = min(apiservers.values()) if apiservers else None
    for node, value in sorted(observed.kubelets.items()):
        version = _parsed("kubelet", node, value, problems)
        if version is None:
            continue
        if oldest_api is not None and version[:2] > oldest_api[:2]:
            problems.append(
                f"kubelet on {node} runs {_show(version)}, newer than the apiserver ({_show(oldest_api)}): "
                f"a kubelet must never be newer than the apiserver. Repair that node first."
            )
        if version > kube:
            problems.extend(p for p in [step_problem("kubelet", node, version, kube, allow_downgrade)] if p)
        elif kube[0] != version[0] or kube[1] - version[1] > KUBELET_MAX_MINORS_BEHIND:
            problems.append(
                f"kubelet on {node} runs {_show(version)}: more than {KUBELET_MAX_MINORS_BEHIND} minors older than "
                f"{_show(kube)}, which the new apiserver would not support. Upgrade it in smaller steps first."
            )

    for member, value in sorted(observed.etcd.items()):
        version = _parsed("etcd", member, value, problems)
        if version is not None:
            problems.extend(p for p in [step_problem("etcd", member, version, etcd, allow_downgrade)] if p)
    supported = etcd_version_problem(target.kube_version, target.etcd_version, dict(etcd_supported))
    if supported:
        problems.append(supported)

    for node, value in sorted(observed.runtimes.items()):
        kind = value.split("://", 1)[0] if "://" in value else ""
        want_kind, want_version = target.runtime_of(node)
        if kind != want_kind:
            problems.append(
                f"{node} runs the container runtime {value!r}, the inventory says container_runtime="
                f"{want_kind}: changing the runtime is not an upgrade (remove the node and add it "
                f"back with the other runtime)."
            )
            continue
        wanted = parse_version(want_version)
        if wanted is None:
            problems.append(f"{want_kind}_version={want_version!r} for {node} must look like 1.36.3 (no leading 'v').")
            continue
        version = _parsed(kind, node, value, problems)
        if version is not None and version > wanted:
            problems.extend(p for p in [step_problem(kind, node, version, wanted, allow_downgrade)] if p)
    return problems


def pending(observed: Observed, target: Target) -> dict[str, list[str]]:
    """Hosts whose versions the API shows are not yet the inventory's, by phase.

    ``nodes`` also lists the nodes upgrade.yml cordoned and has not
    uncordoned yet (an interrupted run): the next run finishes them.
    """
    kube, etcd = (parse_version(v) for v in (target.kube_version, target.etcd_version))
    return {
        "etcd": sorted(m for m, v in observed.etcd.items() if parse_version(v) != etcd),
        "control_plane": sorted(h for h, v in observed.apiservers.items() if parse_version(v) != kube),
        "nodes": sorted(
            n
            for n in observed.kubelets
            if parse_version(observed.kubelets[n]) != kube
            or parse_version(observed.runtimes.get(n, "")) != parse_version(target.runtime_of(n)[1])
            or observed.cordoned.get(n, False)
        ),
    }


def drift(observed: Observed, target: Target) -> list[str]:
    """How the running cluster's versions differ from the inventory, one sentence per component and version."""
    # (component, running value, inventory's version) -> hosts
    found: dict[tuple[str, str, str], list[str]] = {}
    for component, by_host, wanted in (
        ("kube-apiserver", observed.apiservers, target.kube_version),
        ("kubelet", observed.kubelets, target.kube_version),
        ("etcd", observed.etcd, target.etcd_version),
    ):
        for host, value in sorted(by_host.items()):
            if parse_version(value) != parse_version(wanted):
                found.setdefault((component, str(value), wanted), []).append(host)
    for node, value in sorted(observed.runtimes.items()):
        kind, wanted = target.runtime_of(node)
        if parse_version(value) != parse_version(wanted):
            found.setdefault((kind, str(value), wanted), []).append(node)
    return [
        f"{component} {value} on {', '.join(hosts)} (inventory: {wanted})"
        for (component, value, wanted), hosts in found.items()
    ]
