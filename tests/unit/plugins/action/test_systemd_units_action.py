# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The systemd_units action: one `systemctl show` from the shell, the module only when something is to be done."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fake_wire import connection

from ansible_collections.airgap.k8s.plugins.action.systemd_units import ActionModule


def show(*units: dict[str, str]) -> str:
    blocks = []
    for u in units:
        unit = {
            "Id": u["Id"],
            "LoadState": "loaded",
            "ActiveState": "active",
            "SubState": "running",
            "UnitFileState": "enabled",
            "NeedDaemonReload": "no",
            "FragmentPath": f"/etc/systemd/system/{u['Id']}",
        }
        unit.update(u)
        blocks.append("\n".join(f"{k}={v}" for k, v in unit.items()))
    return "\n\n".join(blocks) + "\n"


class Host(ActionModule):
    def __init__(self, args: dict[str, Any], answer: dict[str, Any]) -> None:
        task = SimpleNamespace(args=args, check_mode=False, diff=False, async_val=0, action="airgap.k8s.systemd_units")
        super().__init__(task, connection(), None, None, None)
        self.answer, self.commands, self.modules = answer, [], []

    def _low_level_execute_command(self, cmd, sudoable=True, in_data=None, **kw):
        assert sudoable is False, "no become, no pseudo-terminal (it would page the output)"
        self.commands.append(cmd)
        return self.answer

    def _execute_module(self, module_name=None, module_args=None, task_vars=None, **kw):
        self.modules.append((module_name, module_args))
        return {"changed": True, "started_units": ["kubelet.service"]}


def test_running_enabled_units_cost_one_show_and_no_module_run():
    host = Host(
        {"units": ["kubelet", "kube-proxy"]},
        {"rc": 0, "stdout": show({"Id": "kubelet.service"}, {"Id": "kube-proxy.service"})},
    )
    res = host.run(task_vars={})
    assert res["changed"] is False and host.modules == []
    assert host.commands == [
        "systemctl show --no-pager --property=Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload,FragmentPath -- kubelet kube-proxy"
    ]
    assert [u["id"] for u in res["units"]] == ["kubelet.service", "kube-proxy.service"]
    assert res["units"][0]["after"] == {"active_state": "active", "unit_file_state": "enabled", "enabled": True}


@pytest.mark.parametrize(
    "unit",
    [
        {"Id": "kubelet.service", "ActiveState": "failed"},
        {"Id": "kubelet.service", "UnitFileState": "disabled"},
        {"Id": "kubelet.service", "NeedDaemonReload": "yes"},
        {"Id": "kubelet.service", "LoadState": "not-found"},
        {"Id": "kubelet.service", "LoadState": "masked"},
    ],
    ids=["stopped", "disabled", "unit-file-changed", "not-found", "masked"],
)
def test_anything_to_do_or_to_explain_goes_to_the_module(unit):
    host = Host({"units": ["kubelet"]}, {"rc": 0, "stdout": show(unit)})
    res = host.run(task_vars={})
    assert host.modules == [("airgap.k8s.systemd_units", {"units": ["kubelet"]})]
    assert res["changed"] is True


def test_disabled_wanted_and_enabled_found_goes_to_the_module():
    host = Host({"units": ["kubelet"], "enabled": False}, {"rc": 0, "stdout": show({"Id": "kubelet.service"})})
    host.run(task_vars={})
    assert len(host.modules) == 1


@pytest.mark.parametrize(
    "answer",
    [{"rc": 1, "stdout": "", "stderr": "systemctl: command not found"}, {"rc": 0, "stdout": "garbage\n"}],
    ids=["systemctl-fails", "unreadable"],
)
def test_a_show_that_fails_or_cannot_be_read_goes_to_the_module(answer):
    host = Host({"units": ["kubelet"]}, answer)
    host.run(task_vars={})
    assert len(host.modules) == 1


def test_patterns_are_left_to_the_module_to_refuse():
    host = Host({"units": ["kube*"]}, {"rc": 0, "stdout": ""})
    host.run(task_vars={})
    assert host.commands == [] and len(host.modules) == 1
