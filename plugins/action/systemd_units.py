# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Controller side of airgap.k8s.systemd_units (see the module's documentation).

Runs the module's first read, ``systemctl show``, straight from the shell.
When every unit is loaded, needs no daemon-reload, runs, and is enabled (or
disabled) as asked, that read is the whole task and no module runs on the
host; otherwise the module runs and does the work (reading again itself).
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.airgap.k8s.plugins.module_utils._systemd import (
    SHOW_PROPERTIES,
    is_unit_name,
    load_problems,
    needs_daemon_reload,
    parse_show,
    plan,
    unit_report,
)
from ansible_collections.airgap.k8s.plugins.modules.systemd_units import ARGUMENT_SPEC
from ansible_collections.airgap.k8s.plugins.plugin_utils._transfer import query

MODULE = "airgap.k8s.systemd_units"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        converged = self.converged(args["units"], args["enabled"])
        if converged is not None:
            return dict(result, **converged)
        return dict(
            result, **self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars or {})
        )

    def converged(self, names: list[str], enabled: bool) -> dict[str, Any] | None:
        """The module's result when one `systemctl show` says there is nothing to do, else None."""
        if not names or not all(is_unit_name(n) for n in names):
            return None
        out = query(self, ["systemctl", "show", "--no-pager", "--property=" + ",".join(SHOW_PROPERTIES), "--", *names])
        if out is None:
            return None
        units = parse_show(out)
        if len(units) != len(names) or not all(u.get("Id") for u in units):
            return None
        if needs_daemon_reload(units) or load_problems(names, units) or plan(units, enabled=enabled).changes:
            return None
        return {
            "changed": False,
            "units": [unit_report(n, u, u) for n, u in zip(names, units, strict=True)],
            "daemon_reloaded": False,
            "enabled_units": [],
            "disabled_units": [],
            "started_units": [],
        }
