# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Network filters used to derive addresses from the cluster's CIDRs."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def cidr_host(cidr: str, index: int) -> str:
    """Return the index-th address of a network (1 = first usable)."""
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError as exc:
        raise AnsibleFilterError(f"cidr_host: {cidr!r} is not a network: {exc}") from exc
    index = int(index)
    if index < 0 or index >= net.num_addresses:
        raise AnsibleFilterError(f"cidr_host: {cidr} has no address number {index}")
    return str(net.network_address + index)


class FilterModule:
    def filters(self) -> dict:
        return {"cidr_host": cidr_host}
