"""Skew and planning rules of playbooks/upgrade.yml (plugins/module_utils/_upgrade.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils._upgrade import (
    CORDON_ANNOTATION,
    Observed,
    Target,
    drift,
    parse_version,
    pending,
    step_problem,
    upgrade_problems,
)

ETCD_SUPPORTED = {
    "1.35": {"min": "3.5.24", "minors": ["3.5", "3.6", "3.7"]},
    "1.36": {"min": "3.5.24", "minors": ["3.5", "3.6", "3.7"]},
    "1.37": {"min": "3.5.24", "minors": ["3.5", "3.6", "3.7"]},
}


def node(
    name: str,
    kubelet: str,
    runtime: str = "containerd://2.4.1",
    *,
    ready: bool = True,
    cordoned: bool = False,
    ours: bool = False,
) -> dict[str, Any]:
    annotations = {CORDON_ANNOTATION: "upgrade"} if ours else {}
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {
            "nodeInfo": {"kubeletVersion": kubelet, "containerRuntimeVersion": runtime},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def cluster(kubelet: str = "v1.35.8", api: str = "v1.35.8", etcd: str = "3.6.15", **extra: Any) -> Observed:
    nodes = {"items": [node("n1", kubelet), node("n2", kubelet), *extra.get("more", [])]}
    return Observed.from_api(nodes, {"n1": api}, {"n1": etcd, "n2": etcd, "n3": etcd})


def target(kube: str = "1.36.3", etcd: str = "3.6.16", runtime: str = "2.4.2") -> Target:
    return Target(kube_version=kube, etcd_version=etcd, container_runtime="containerd", runtime_version=runtime)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("v1.36.3", (1, 36, 3)),
        ("1.35.8", (1, 35, 8)),
        ("containerd://2.4.1", (2, 4, 1)),
        ("docker://v20.10.24", (20, 10, 24)),
        ("v1.36.0-rc.1", (1, 36, 0)),
        ("1.36", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_version(value: Any, expected: Any) -> None:
    assert parse_version(value) == expected


def test_previous_to_default_is_accepted() -> None:
    assert upgrade_problems(cluster(), target(), ETCD_SUPPORTED) == []


def test_same_versions_is_accepted_and_nothing_is_pending() -> None:
    obs = Observed.from_api(
        {"items": [node("n1", "v1.36.3", "containerd://2.4.2")]}, {"n1": "v1.36.3"}, {"n1": "3.6.16"}
    )
    assert upgrade_problems(obs, target(), ETCD_SUPPORTED) == []
    assert pending(obs, target()) == {"etcd": [], "control_plane": [], "nodes": []}
    assert drift(obs, target()) == []


def test_skipped_minor_is_refused() -> None:
    problems = upgrade_problems(cluster(), target(kube="1.37.2"), ETCD_SUPPORTED)
    assert any("kube-apiserver on n1 runs 1.35.8: going to 1.37.2 skips a minor version" in p for p in problems)
    assert any("newest 1.36.x" in p for p in problems)


def test_minor_downgrade_is_refused_even_when_allowed() -> None:
    problems = upgrade_problems(
        cluster(kubelet="v1.36.3", api="v1.36.3"), target(kube="1.35.8"), ETCD_SUPPORTED, allow_downgrade=True
    )
    assert any("downgrade across minor versions, which is never supported" in p for p in problems)


def test_patch_downgrade_needs_the_flag() -> None:
    obs = cluster(kubelet="v1.36.3", api="v1.36.3")
    refused = upgrade_problems(obs, target(kube="1.36.2"), ETCD_SUPPORTED)
    assert any("-e upgrade_allow_downgrade=true" in p for p in refused)
    assert upgrade_problems(obs, target(kube="1.36.2"), ETCD_SUPPORTED, allow_downgrade=True) == []


def test_kubelet_newer_than_apiserver_is_refused() -> None:
    problems = upgrade_problems(cluster(kubelet="v1.36.3", api="v1.35.8"), target(), ETCD_SUPPORTED)
    assert any("newer than the apiserver (1.35.8)" in p for p in problems)


def test_kubelet_too_far_behind_the_target_is_refused() -> None:
    problems = upgrade_problems(cluster(kubelet="v1.32.4", api="v1.35.8"), target(), ETCD_SUPPORTED)
    assert any("kubelet on n1 runs 1.32.4: more than 3 minors older than 1.36.3" in p for p in problems)
    assert upgrade_problems(cluster(kubelet="v1.33.4"), target(), ETCD_SUPPORTED) == []


def test_etcd_not_supported_by_the_target_is_refused() -> None:
    problems = upgrade_problems(cluster(etcd="3.5.24"), target(etcd="3.5.10"), ETCD_SUPPORTED)
    assert any("etcd_version=3.5.10 does not work with Kubernetes 1.36.3" in p for p in problems)


def test_etcd_skipped_minor_and_downgrade_are_refused() -> None:
    skip = upgrade_problems(cluster(etcd="3.5.24"), target(etcd="3.7.3"), ETCD_SUPPORTED)
    assert any("etcd on n1 runs 3.5.24: going to 3.7.3 skips a minor version" in p for p in skip)
    down = upgrade_problems(cluster(etcd="3.6.16"), target(etcd="3.6.15"), ETCD_SUPPORTED)
    assert any("etcd on n1 runs 3.6.16, newer than the inventory's 3.6.15" in p for p in down)


def test_runtime_patch_downgrade_and_runtime_change_are_refused() -> None:
    down = upgrade_problems(cluster(), target(runtime="2.4.0"), ETCD_SUPPORTED)
    assert any("containerd on n1 runs 2.4.1, newer than the inventory's 2.4.0" in p for p in down)
    obs = cluster(more=[node("n3", "v1.35.8", "docker://20.10.24")])
    assert any("changing the runtime is not an upgrade" in p for p in upgrade_problems(obs, target(), ETCD_SUPPORTED))


def test_not_ready_node_is_refused() -> None:
    obs = cluster(more=[node("n3", "v1.35.8", ready=False)])
    assert any(p.startswith("not Ready: n3.") for p in upgrade_problems(obs, target(), ETCD_SUPPORTED))


def test_foreign_cordon_is_refused_unless_ignored_and_ours_is_pending() -> None:
    # An interrupted run: the apiserver is upgraded, n4 too but still cordoned by us.
    obs = cluster(
        api="v1.36.3",
        more=[
            node("n3", "v1.35.8", cordoned=True),
            node("n4", "v1.36.3", "containerd://2.4.2", cordoned=True, ours=True),
        ],
    )
    problems = upgrade_problems(obs, target(), ETCD_SUPPORTED)
    assert any(p.startswith("cordoned by someone else (no airgap.k8s/cordoned-by annotation): n3.") for p in problems)
    assert not any("n4" in p for p in problems)
    assert upgrade_problems(obs, target(), ETCD_SUPPORTED, ignore_cordoned=True) == []
    # n4 runs the target versions but an interrupted run left it cordoned: the next run finishes it.
    assert "n4" in pending(obs, target())["nodes"]


def test_pending_lists_hosts_still_on_old_versions() -> None:
    obs = Observed.from_api(
        {"items": [node("n1", "v1.36.3", "containerd://2.4.2"), node("n2", "v1.35.8")]},
        {"n1": "v1.36.3", "n2": "v1.35.8"},
        {"n1": "3.6.16", "n2": "3.6.15"},
    )
    assert pending(obs, target()) == {"etcd": ["n2"], "control_plane": ["n2"], "nodes": ["n2"]}


def test_drift_names_component_version_and_hosts() -> None:
    assert drift(cluster(), target()) == [
        "kube-apiserver v1.35.8 on n1 (inventory: 1.36.3)",
        "kubelet v1.35.8 on n1, n2 (inventory: 1.36.3)",
        "etcd 3.6.15 on n1, n2, n3 (inventory: 3.6.16)",
        "containerd containerd://2.4.1 on n1, n2 (inventory: 2.4.2)",
    ]


@pytest.mark.parametrize(
    ("current", "goal", "allowed", "needle"),
    [
        ((1, 35, 8), (1, 36, 3), False, None),
        ((1, 35, 8), (1, 35, 9), False, None),
        ((1, 35, 8), (1, 37, 0), False, "skips a minor"),
        ((1, 35, 8), (2, 0, 0), False, "skips a minor"),
        ((1, 36, 3), (1, 36, 1), True, None),
        ((1, 36, 3), (1, 35, 8), True, "never supported"),
    ],
)
def test_step_problem(current: Any, goal: Any, allowed: bool, needle: str | None) -> None:
    problem = step_problem("x", "h", current, goal, allowed)
    assert (problem is None) if needle is None else (needle in (problem or ""))


def test_a_docker_worker_in_a_containerd_cluster_is_compared_with_its_own_runtime() -> None:
    obs = Observed.from_api(
        {"items": [node("n1", "v1.36.3", "containerd://2.4.2"), node("n2", "v1.36.3", "docker://20.10.24+dfsg1")]},
        {"n1": "v1.36.3"},
        {"n1": "3.6.16"},
    )
    mixed = target()
    mixed.node_runtimes["n2"] = ("docker", "20.10.24")
    assert upgrade_problems(obs, mixed, ETCD_SUPPORTED) == []
    assert drift(obs, mixed) == []
    assert pending(obs, mixed)["nodes"] == []
    # Without its own entry the Docker node is a runtime change, as before.
    assert "changing the runtime is not an upgrade" in " ".join(upgrade_problems(obs, target(), ETCD_SUPPORTED))
    newer = target()
    newer.node_runtimes["n2"] = ("docker", "20.10.25")
    assert drift(obs, newer) == ["docker docker://20.10.24+dfsg1 on n2 (inventory: 20.10.25)"]
    assert pending(obs, newer)["nodes"] == ["n2"]
