from __future__ import annotations

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils._preflight import check_cluster, etcd_version_problem

GOOD_CIDRS = {"kube_pods_cidr": "10.244.0.0/16", "kube_service_cidr": "10.96.0.0/12", "kube_node_cidr": "10.89.77.0/24"}
GOOD_GROUPS = {"etcd": ["n1", "n2", "n3"], "kube_control_plane": ["n1"], "kube_node": ["n1", "n2", "n3"]}
GOOD_HOSTS = {f"n{i}": {"ip": f"10.89.77.{10 + i}"} for i in (1, 2, 3)}
GOOD_CHOICES = {"kube_version": "1.36.3", "container_runtime": "containerd", "kube_network_plugin": "flannel"}
MINORS = ["1.35", "1.36", "1.37"]


def run(**over):
    args = {
        "cidrs": GOOD_CIDRS,
        "groups": GOOD_GROUPS,
        "hosts": GOOD_HOSTS,
        "choices": GOOD_CHOICES,
        "supported_minors": MINORS,
    }
    args.update(over)
    return check_cluster(**args)


def test_good_inventory_passes():
    report = run()
    assert report.errors == []
    assert report.warnings == []


@pytest.mark.parametrize(
    ("cidrs", "needle"),
    [
        (
            {"kube_pods_cidr": "10.96.0.0/16", "kube_service_cidr": "10.96.0.0/12"},
            "kube_pods_cidr=10.96.0.0/16 overlaps",
        ),
        ({"kube_pods_cidr": "10.244.0.0/16", "kube_node_cidr": "10.244.3.0/24"}, "overlaps kube_pods_cidr"),
        ({"kube_pods_cidr": "10.244.0.0/33"}, "is not a network in CIDR form"),
        ({"kube_pods_cidr": "10.244.0.1/16"}, "host bits set"),
        ({"kube_service_cidr": "10.96.0.0/30"}, "too small"),
    ],
)
def test_bad_networks(cidrs, needle):
    report = run(cidrs=cidrs)
    assert any(needle in e for e in report.errors), report.errors


def test_even_etcd_warns_zero_fails():
    report = run(groups={**GOOD_GROUPS, "etcd": ["n1", "n2"]})
    assert report.errors == []
    assert any("even count" in w for w in report.warnings)
    report = run(groups={**GOOD_GROUPS, "etcd": []})
    assert any("'etcd' is empty" in e for e in report.errors)


def test_duplicate_members_and_addresses():
    report = run(groups={**GOOD_GROUPS, "etcd": ["n1", "n1", "n2"]})
    assert any("lists n1 more than once" in e for e in report.errors)
    hosts = {**GOOD_HOSTS, "n3": {"ip": "10.89.77.11"}}
    report = run(hosts=hosts)
    assert any("share the address 10.89.77.11" in e for e in report.errors)
    hosts = {**GOOD_HOSTS, "n3": {"ip": "10.89.77.13", "node_name": "n1"}}
    report = run(hosts=hosts)
    assert any("share the node name 'n1'" in e for e in report.errors)


def test_bad_names_and_addresses():
    report = run(hosts={"Node_1": {"ip": "10.89.77.11"}, "n2": {"ip": "not-an-ip"}, "n3": {}})
    joined = "\n".join(report.errors)
    assert "'Node_1' is not a lowercase RFC 1123 name" in joined
    assert "ip='not-an-ip' is not an IP address" in joined
    assert "Host n3: no address" in joined


def test_host_inside_pod_network():
    report = run(hosts={**GOOD_HOSTS, "n1": {"ip": "10.244.1.5"}})
    assert any("lies inside kube_pods_cidr" in e for e in report.errors)


@pytest.mark.parametrize(
    ("choices", "needle"),
    [
        ({"container_runtime": "cri-o"}, "container_runtime='cri-o' is not supported"),
        ({"kube_network_plugin": "weave"}, "kube_network_plugin='weave' is not supported"),
        ({"kube_version": "v1.36.3"}, "must look like 1.36.3"),
        ({"kube_version": "1.29.0"}, "supported minor versions are 1.35, 1.36, 1.37"),
    ],
)
def test_bad_choices(choices, needle):
    report = run(choices={**GOOD_CHOICES, **choices})
    assert any(needle in e for e in report.errors), report.errors


ETCD_SUPPORTED = {
    "1.35": {"min": "3.5.24", "minors": ["3.5", "3.6"]},
    "1.36": {"min": "3.5.24", "minors": ["3.5", "3.6", "3.7"]},
}


@pytest.mark.parametrize(
    ("kube", "etcd"), [("1.35.8", "3.6.15"), ("1.36.3", "3.6.16"), ("1.35.8", "3.5.24"), ("1.36.3", "3.7.3")]
)
def test_supported_etcd_passes(kube, etcd):
    assert etcd_version_problem(kube, etcd, ETCD_SUPPORTED) is None
    report = run(choices={**GOOD_CHOICES, "kube_version": kube, "etcd_version": etcd}, etcd_supported=ETCD_SUPPORTED)
    assert report.errors == []


@pytest.mark.parametrize(
    ("kube", "etcd", "needle"),
    [
        # Debian 12's etcd: older than the floor.
        ("1.36.3", "3.4.23", "etcd_version=3.4.23 does not work with Kubernetes 1.36.3: it needs etcd 3.5.24 or newer"),
        ("1.35.8", "3.5.23", "etcd_version=3.5.23 does not work with Kubernetes 1.35.8"),
        # A minor the Kubernetes minor is not known to work with.
        ("1.35.8", "3.7.3", "of the minors 3.5, 3.6"),
        ("1.36.3", "4.0.0", "of the minors 3.5, 3.6, 3.7"),
        ("1.37.2", "3.6.16", "says nothing about the etcd versions Kubernetes 1.37 works with"),
        ("1.36.3", "v3.6.16", "etcd_version='v3.6.16' must look like 3.6.16"),
    ],
)
def test_unsupported_etcd_is_refused(kube, etcd, needle):
    assert needle in (etcd_version_problem(kube, etcd, ETCD_SUPPORTED) or "")
    report = run(choices={**GOOD_CHOICES, "kube_version": kube, "etcd_version": etcd}, etcd_supported=ETCD_SUPPORTED)
    assert any(needle in e for e in report.errors), report.errors


def test_etcd_is_checked_only_with_the_table_rule():
    report = run(choices={**GOOD_CHOICES, "etcd_version": "3.4.23"})
    assert report.errors == []
