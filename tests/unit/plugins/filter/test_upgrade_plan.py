"""upgrade_plan: the filter upgrade.yml and site.yml's guard call, on a recorded `kubectl get nodes -o json` shape."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.airgap.k8s.plugins.filter.upgrade import upgrade_plan

ETCD_SUPPORTED = {"1.35": {"min": "3.5.24", "minors": ["3.6"]}, "1.36": {"min": "3.5.24", "minors": ["3.6"]}}
TARGET = {
    "kube_version": "1.36.3",
    "etcd_version": "3.6.16",
    "container_runtime": "containerd",
    "runtime_version": "2.4.2",
}


def nodes(*, cordoned_by: str | None = None, unschedulable: bool = False) -> dict:
    annotations = {"airgap.k8s/cordoned-by": cordoned_by} if cordoned_by else {}
    return {
        "kind": "List",
        "items": [
            {
                "metadata": {"name": "node1", "annotations": annotations},
                "spec": {"unschedulable": True} if unschedulable else {},
                "status": {
                    "nodeInfo": {"kubeletVersion": "v1.35.8", "containerRuntimeVersion": "containerd://2.4.1"},
                    "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                },
            }
        ],
    }


def test_plan_of_an_upgrade_from_the_previous_versions():
    plan = upgrade_plan(nodes(), {"node1": "v1.35.8"}, {"node1": "3.6.15"}, TARGET, ETCD_SUPPORTED)
    assert plan["problems"] == []
    assert plan["pending"] == {"etcd": ["node1"], "control_plane": ["node1"], "nodes": ["node1"]}
    assert len(plan["drift"]) == 4
    assert plan["annotation"] == {"key": "airgap.k8s/cordoned-by", "value": "upgrade"}


def test_cordons_are_told_apart_by_the_annotation():
    ours = upgrade_plan(nodes(cordoned_by="upgrade", unschedulable=True), {}, {}, TARGET, ETCD_SUPPORTED)
    assert (ours["cordoned_by_us"], ours["cordoned_by_others"], ours["problems"]) == (["node1"], [], [])
    other = upgrade_plan(nodes(unschedulable=True), {}, {}, TARGET, ETCD_SUPPORTED)
    assert other["cordoned_by_others"] == ["node1"] and "cordoned by someone else" in other["problems"][0]
    ignored = upgrade_plan(nodes(unschedulable=True), {}, {}, TARGET, ETCD_SUPPORTED, ignore_cordoned=True)
    assert ignored["problems"] == []
    # An annotation on a node that is schedulable again means nothing.
    stale = upgrade_plan(nodes(cordoned_by="upgrade"), {}, {}, TARGET, ETCD_SUPPORTED)
    assert stale["cordoned_by_us"] == []


def test_a_new_cluster_reports_nothing():
    plan = upgrade_plan({}, {}, {}, TARGET, ETCD_SUPPORTED)
    assert plan["problems"] == [] and plan["drift"] == []


def test_target_must_be_complete():
    with pytest.raises(AnsibleFilterError, match="target needs runtime_version"):
        upgrade_plan({}, {}, {}, {k: v for k, v in TARGET.items() if k != "runtime_version"}, ETCD_SUPPORTED)
