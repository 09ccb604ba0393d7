# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Parse `systemctl show` output (plugins/module_utils/_systemd.py, shared with the systemd_units module)."""

from __future__ import annotations

from ansible_collections.airgap.k8s.plugins.module_utils._systemd import parse_show


class FilterModule:
    def filters(self) -> dict:
        return {"systemd_show": parse_show}
