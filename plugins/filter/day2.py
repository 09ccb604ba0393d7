# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""What a day-2 node change touches, and the requests it must refuse before changing anything."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

CLUSTER_GROUPS = ("etcd", "kube_control_plane", "kube_node")


def _names(nodes: Any) -> list[str]:
    if nodes is None:
        return []
    if isinstance(nodes, str):
        items = nodes.replace(" ", ",").split(",")
    elif isinstance(nodes, Sequence):
        items = [str(n) for n in nodes]
    else:
        raise AnsibleFilterError(f"node_change_plan: nodes must be a comma-separated string or a list, not {nodes!r}")
    out: list[str] = []
    for name in (i.strip() for i in items):
        if name and name not in out:
            out.append(name)
    return out


def _quorum(members: int) -> int:
    return members // 2 + 1


def node_change_plan(
    nodes: Any, action: str, groups: Mapping[str, Sequence[str]], etcd_allow_even: bool = False
) -> dict[str, Any]:
    """The plan of ``add`` or ``remove`` for ``nodes``, given the inventory's ``groups``.

    Returns the requested hosts split by kind, the hosts that stay or already
    run (``existing_*``), and ``problems``: one sentence per refused part of
    the request, each saying what to do. Pure: it reads only its arguments.
    """
    if action not in ("add", "remove"):
        raise AnsibleFilterError(f"node_change_plan: action must be add or remove, not {action!r}")
    requested = _names(nodes)
    group = {g: list(groups.get(g) or []) for g in CLUSTER_GROUPS}
    cluster = [h for g in CLUSTER_GROUPS for h in group[g]]
    problems: list[str] = []

    if not requested:
        problems.append(
            f"nodes is empty: name the hosts to {action}, e.g. -e nodes=node4 or -e nodes=node4,node5"
            + (" (they must be in the inventory's groups already)" if action == "add" else "")
        )
    unknown = [n for n in requested if n not in cluster]
    if unknown:
        where = "in the inventory" if all(n not in groups.get("all", []) for n in unknown) else "in a cluster group"
        fix = (
            "put them in the groups etcd, kube_control_plane and/or kube_node first"
            if action == "add"
            else "check the names (they must still be in the inventory's groups while they are removed)"
        )
        problems.append(f"not {where}: {', '.join(unknown)}; {fix}")
    known = [n for n in requested if n in cluster]

    def kind(g: str) -> list[str]:
        return [n for n in known if n in group[g]]

    etcd, control_plane = kind("etcd"), kind("kube_control_plane")
    k8s = [n for n in known if n in group["kube_control_plane"] or n in group["kube_node"]]
    stay_etcd = [h for h in group["etcd"] if h not in known]
    stay_cp = [h for h in group["kube_control_plane"] if h not in known]
    stay_k8s = list(dict.fromkeys(h for h in group["kube_control_plane"] + group["kube_node"] if h not in known))

    if action == "add":
        if etcd and not stay_etcd:
            problems.append(
                f"every etcd member ({', '.join(etcd)}) is being added: there is no running cluster to join; "
                "deploy a new cluster with playbooks/site.yml"
            )
        if k8s and not stay_cp:
            problems.append(
                "every control-plane node is being added: there is no running control plane to join; "
                "deploy a new cluster with playbooks/site.yml"
            )
        total = len(group["etcd"])
        if etcd and total % 2 == 0 and not etcd_allow_even:
            problems.append(
                f"etcd would have {total} members after adding {', '.join(etcd)}: an even count tolerates no more "
                f"failures than {total - 1} would. Add one more member, or set -e etcd_allow_even=true"
            )
    else:
        if control_plane and not stay_cp:
            problems.append(
                f"{', '.join(control_plane)} would remove the last control-plane node: the cluster would have no API "
                "server left. Keep at least one, or take the whole cluster down with playbooks/reset.yml"
            )
        if etcd:
            total, left = len(group["etcd"]), len(stay_etcd)
            if left == 0:
                problems.append(
                    f"{', '.join(etcd)} would remove every etcd member: the cluster's data would be gone. Take the "
                    "whole cluster down with playbooks/reset.yml instead"
                )
            elif len(etcd) > 1 and left < _quorum(total):
                # One removal is a single membership change the members commit together. Several
                # in one run leave the cluster in between with fewer members than its old quorum,
                # which is exactly what it could not survive losing.
                problems.append(
                    f"removing {', '.join(etcd)} would break etcd quorum: {total} members need {_quorum(total)}, "
                    f"{left} would remain. Remove fewer members at a time"
                )
            elif left % 2 == 0 and not etcd_allow_even:
                problems.append(
                    f"etcd would have {left} members after removing {', '.join(etcd)}: an even count tolerates no "
                    f"more failures than {left - 1} would. Remove one more, or set -e etcd_allow_even=true"
                )

    return {
        "action": action,
        "nodes": known,
        "etcd": etcd,
        "control_plane": control_plane,
        "k8s": k8s,
        "existing_etcd": stay_etcd,
        "existing_control_plane": stay_cp,
        "existing_k8s": stay_k8s,
        "problems": problems,
    }


# kubectl drain, on an eviction refused by a PodDisruptionBudget:
# error when evicting pods/"web-6f7d" -n "shop" (will retry after 5s): Cannot evict pod as it would violate ...
_EVICTION_ERROR = re.compile(r'error when evicting pods/"([^"]+)" -n "([^"]+)"(?: \(will retry after \w+\))?: (.+)$')


def drain_blockers(stderr: str) -> list[str]:
    """``<namespace>/<pod>: <reason>`` for each pod kubectl drain could not evict, once each, in order."""
    out: list[str] = []
    for line in str(stderr).splitlines():
        match = _EVICTION_ERROR.match(line.strip())
        if match:
            entry = f"{match[2]}/{match[1]}: {match[3].strip()}"
            if entry not in out:
                out.append(entry)
    return out


def undrained_pods(pod_list: Mapping[str, Any]) -> list[str]:
    """``<namespace>/<pod>`` of the pods a drain should have moved: not a DaemonSet's, not finished."""
    out = []
    for pod in pod_list.get("items") or []:
        meta = pod.get("metadata") or {}
        owners = [o.get("kind") for o in meta.get("ownerReferences") or []]
        if "DaemonSet" in owners or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        out.append(f"{meta.get('namespace')}/{meta.get('name')}")
    return out


class FilterModule:
    def filters(self) -> dict:
        return {
            "node_change_plan": node_change_plan,
            "drain_blockers": drain_blockers,
            "undrained_pods": undrained_pods,
        }
