# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""systemd units as ``systemctl show`` reports them (the filter airgap.k8s.systemd_show).

Nothing here runs systemctl, so it is unit-tested on recorded text.
"""

from __future__ import annotations


def parse_show(text: str) -> list[dict[str, str]]:
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
