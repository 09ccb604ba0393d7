# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Parse `systemctl show` output."""

from __future__ import annotations


def systemd_show(text: str) -> list[dict[str, str]]:
    """One dict per unit from `systemctl show -p A,B UNIT...` (blocks of KEY=VALUE separated by blank lines)."""
    units: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in str(text).splitlines():
        if not line.strip():
            if current:
                units.append(current)
            current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        units.append(current)
    return units


class FilterModule:
    def filters(self) -> dict:
        return {"systemd_show": systemd_show}
