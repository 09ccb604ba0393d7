from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.airgap.k8s.plugins.filter.network import cidr_host


def test_service_and_dns_ips():
    assert cidr_host("10.96.0.0/12", 1) == "10.96.0.1"
    assert cidr_host("10.96.0.0/12", 10) == "10.96.0.10"
    assert cidr_host("fd00:10:96::/108", 10) == "fd00:10:96::a"


@pytest.mark.parametrize(("cidr", "index"), [("10.96.0.0/30", 4), ("nonsense", 1), ("10.96.0.0/12", -1)])
def test_bad_input(cidr, index):
    with pytest.raises(AnsibleFilterError):
        cidr_host(cidr, index)
