# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""What playbooks/upgrade.yml must refuse and which hosts it still has to upgrade."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.airgap.k8s.plugins.module_utils._upgrade import (
    CORDON_ANNOTATION,
    CORDON_VALUE,
    Observed,
    Target,
    drift,
    pending,
    upgrade_problems,
)


def upgrade_plan(
    nodes: Mapping[str, Any],
    apiservers: Mapping[str, str],
    etcd: Mapping[str, str],
    target: Mapping[str, str],
    etcd_supported: Mapping[str, Any],
    *,
    allow_downgrade: bool = False,
    ignore_cordoned: bool = False,
) -> dict[str, Any]:
    """The upgrade's refusals, pending hosts and drift, from what the cluster reports and the inventory's target."""
    try:
        goal = Target(
            kube_version=str(target["kube_version"]),
            etcd_version=str(target["etcd_version"]),
            container_runtime=str(target["container_runtime"]),
            runtime_version=str(target["runtime_version"]),
            node_runtimes={
                str(node): (str(pair[0]), str(pair[1])) for node, pair in (target.get("node_runtimes") or {}).items()
            },
        )
    except KeyError as exc:
        raise AnsibleFilterError(f"upgrade_plan: target needs {exc.args[0]}") from exc
    observed = Observed.from_api(nodes, apiservers, etcd)
    return {
        "problems": upgrade_problems(
            observed, goal, etcd_supported, allow_downgrade=bool(allow_downgrade), ignore_cordoned=bool(ignore_cordoned)
        ),
        "pending": pending(observed, goal),
        "drift": drift(observed, goal),
        "cordoned_by_us": sorted(n for n, ours in observed.cordoned.items() if ours),
        "cordoned_by_others": sorted(n for n, ours in observed.cordoned.items() if not ours),
        "annotation": {"key": CORDON_ANNOTATION, "value": CORDON_VALUE},
    }


class FilterModule:
    def filters(self) -> dict:
        return {"upgrade_plan": upgrade_plan}
