# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Host settings filters: what differs between wanted settings and what a host reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def sysctl_drift(wanted: Mapping[str, Any], live: Mapping[str, Any]) -> list[dict[str, str]]:
    """The wanted sysctls whose live value differs (whitespace-insensitive), as {key, value} items."""
    if not isinstance(wanted, Mapping) or not isinstance(live, Mapping):
        raise AnsibleFilterError("sysctl_drift: give the wanted sysctls and os_probe's sysctls, both dicts")
    drift = []
    for key, value in wanted.items():
        want = " ".join(str(value).split())
        have = live.get(key)
        if have is None or " ".join(str(have).split()) != want:
            drift.append({"key": str(key), "value": str(value)})
    return drift


class FilterModule:
    def filters(self) -> dict:
        return {"sysctl_drift": sysctl_drift}
