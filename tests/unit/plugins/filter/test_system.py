from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.airgap.k8s.plugins.filter.system import sysctl_drift


def test_only_differing_values():
    wanted = {"net.ipv4.ip_forward": 1, "net.ipv4.ip_local_port_range": "32768 60999", "vm.max_map_count": 262144}
    live = {"net.ipv4.ip_forward": "1", "net.ipv4.ip_local_port_range": "32768\t60999", "vm.max_map_count": "65530"}
    assert sysctl_drift(wanted, live) == [{"key": "vm.max_map_count", "value": "262144"}]


def test_a_key_the_kernel_lacks_is_set():
    assert sysctl_drift({"net.bridge.bridge-nf-call-iptables": 1}, {"net.bridge.bridge-nf-call-iptables": None}) == [
        {"key": "net.bridge.bridge-nf-call-iptables", "value": "1"}
    ]


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="both dicts"):
        sysctl_drift({"a": 1}, ["a"])
