"""node_change_plan: what a node change touches and every refusal, each with its own message."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.airgap.k8s.plugins.filter.day2 import drain_blockers, node_change_plan, undrained_pods

# 3 control planes that are the etcd members, 2 workers.
HA = {
    "all": ["cp1", "cp2", "cp3", "w1", "w2", "spare"],
    "etcd": ["cp1", "cp2", "cp3"],
    "kube_control_plane": ["cp1", "cp2", "cp3"],
    "kube_node": ["w1", "w2"],
}


def with_hosts(**extra):
    groups = {k: list(v) for k, v in HA.items()}
    for group, hosts in extra.items():
        groups[group] += hosts
    return groups


def test_adding_a_worker_touches_only_the_worker():
    plan = node_change_plan("w3", "add", with_hosts(kube_node=["w3"]))
    assert plan["problems"] == []
    assert plan["nodes"] == plan["k8s"] == ["w3"]
    assert plan["etcd"] == plan["control_plane"] == []
    assert plan["existing_k8s"] == ["cp1", "cp2", "cp3", "w1", "w2"]


def test_adding_an_etcd_member_and_control_plane_to_four_needs_etcd_allow_even():
    groups = with_hosts(etcd=["spare"], kube_control_plane=["spare"])
    plan = node_change_plan("spare", "add", groups)
    assert plan["problems"] == [
        "etcd would have 4 members after adding spare: an even count tolerates no more failures than 3 would. "
        "Add one more member, or set -e etcd_allow_even=true"
    ]
    plan = node_change_plan("spare", "add", groups, True)
    assert plan["problems"] == []
    assert plan["etcd"] == plan["control_plane"] == plan["k8s"] == ["spare"]
    assert plan["existing_etcd"] == ["cp1", "cp2", "cp3"]


def test_names_are_split_deduplicated_and_unknown_ones_refused():
    plan = node_change_plan("w3, w3,ghost", "add", with_hosts(kube_node=["w3"]))
    assert plan["nodes"] == ["w3"]
    assert plan["problems"] == [
        "not in the inventory: ghost; put them in the groups etcd, kube_control_plane and/or kube_node first"
    ]
    plan = node_change_plan(["spare"], "add", HA)
    assert plan["problems"] == [
        "not in a cluster group: spare; put them in the groups etcd, kube_control_plane and/or kube_node first"
    ]
    assert node_change_plan("", "remove", HA)["problems"] == [
        "nodes is empty: name the hosts to remove, e.g. -e nodes=node4 or -e nodes=node4,node5"
    ]


def test_adding_when_nothing_runs_yet_is_refused():
    plan = node_change_plan("cp1,cp2,cp3,w1", "add", HA)
    assert plan["problems"] == [
        "every etcd member (cp1, cp2, cp3) is being added: there is no running cluster to join; "
        "deploy a new cluster with playbooks/site.yml",
        "every control-plane node is being added: there is no running control plane to join; "
        "deploy a new cluster with playbooks/site.yml",
    ]


def test_removing_a_worker_is_fine():
    plan = node_change_plan("w2", "remove", HA)
    assert plan["problems"] == []
    assert plan["k8s"] == ["w2"] and plan["existing_k8s"] == ["cp1", "cp2", "cp3", "w1"]


def test_removing_the_last_control_plane_is_refused():
    groups = {"all": ["cp1", "w1"], "etcd": ["w1"], "kube_control_plane": ["cp1"], "kube_node": ["w1"]}
    plan = node_change_plan("cp1", "remove", groups)
    assert plan["problems"] == [
        "cp1 would remove the last control-plane node: the cluster would have no API server left. Keep at least one, "
        "or take the whole cluster down with playbooks/reset.yml"
    ]


def test_etcd_quorum_and_even_counts_on_removal():
    assert node_change_plan("cp2,cp3", "remove", HA)["problems"] == [
        "removing cp2, cp3 would break etcd quorum: 3 members need 2, 1 would remain. Remove fewer members at a time"
    ]
    assert node_change_plan("cp3", "remove", HA)["problems"] == [
        "etcd would have 2 members after removing cp3: an even count tolerates no more failures than 1 would. "
        "Remove one more, or set -e etcd_allow_even=true"
    ]
    assert node_change_plan("cp3", "remove", HA, True)["problems"] == []
    five = with_hosts(etcd=["w1", "w2"])
    assert node_change_plan("w1,w2", "remove", five)["problems"] == []
    assert (
        "would break etcd quorum: 5 members need 3, 2 would remain"
        in node_change_plan("cp1,w1,w2", "remove", five)["problems"][0]
    )
    # One member at a time is a single membership change: two members may become one.
    two = {"all": ["cp1", "cp2"], "etcd": ["cp1", "cp2"], "kube_control_plane": ["cp1", "cp2"], "kube_node": []}
    assert node_change_plan("cp2", "remove", two)["problems"] == []


def test_removing_everything_names_each_refusal():
    problems = node_change_plan("cp1,cp2,cp3", "remove", HA)["problems"]
    assert [p.split(":")[0] for p in problems] == [
        "cp1, cp2, cp3 would remove the last control-plane node",
        "cp1, cp2, cp3 would remove every etcd member",
    ]


def test_bad_arguments():
    with pytest.raises(AnsibleFilterError, match="action must be add or remove"):
        node_change_plan("w1", "upgrade", HA)
    with pytest.raises(AnsibleFilterError, match="comma-separated string or a list"):
        node_change_plan(42, "add", HA)


# kubectl drain's standard error when a PodDisruptionBudget refuses the eviction until the timeout.
DRAIN_STDERR = """\
Warning: ignoring DaemonSet-managed Pods: kube-flannel/kube-flannel-ds-abcde
error when evicting pods/"web-6f7d" -n "shop" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.
error when evicting pods/"web-6f7d" -n "shop" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.
There are pending pods in node "w2" when an error occurred: [error when evicting pods/"web-6f7d" -n "shop": global timeout reached: 20s]
error: unable to drain node "w2" due to error: [error when evicting pods/"web-6f7d" -n "shop": global timeout reached: 20s], continuing command...
"""


def test_drain_blockers_names_each_pod_once_with_the_reason():
    assert drain_blockers(DRAIN_STDERR) == [
        "shop/web-6f7d: Cannot evict pod as it would violate the pod's disruption budget."
    ]
    assert drain_blockers("") == []


def test_undrained_pods_skip_daemonsets_and_finished_pods():
    pods = {
        "items": [
            {"metadata": {"namespace": "shop", "name": "web-6f7d", "ownerReferences": [{"kind": "ReplicaSet"}]}},
            {"metadata": {"namespace": "kube-flannel", "name": "ds-1", "ownerReferences": [{"kind": "DaemonSet"}]}},
            {"metadata": {"namespace": "default", "name": "bare"}},
            {"metadata": {"namespace": "default", "name": "job-1"}, "status": {"phase": "Succeeded"}},
        ]
    }
    assert undrained_pods(pods) == ["shop/web-6f7d", "default/bare"]
    assert undrained_pods({}) == []
