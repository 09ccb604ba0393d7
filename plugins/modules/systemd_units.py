#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: systemd_units
short_description: Start and enable several systemd units with one read of their state
version_added: 0.1.0
description:
  - Reads every unit in O(units) with one C(systemctl show) call, then runs at most one C(systemctl daemon-reload),
    one C(systemctl enable) and one C(systemctl start), each only when a unit needs it. A run with nothing to do
    runs C(systemctl show) alone, where M(ansible.builtin.systemd_service) in a loop costs, for every unit, a
    task with its own C(systemctl show) and C(is-enabled) (and a C(daemon-reload) when asked for one).
  - C(systemctl daemon-reload) runs once, first, when a unit reports C(NeedDaemonReload=yes) (its unit file or a
    drop-in changed since systemd loaded it) or is not loaded, that is C(not-found) (systemd may not yet have looked for a
    unit file written since it last read its unit directories) or C(error) (say, its file was deleted and systemd
    reloaded while the unit ran, and the file is back); the units are then read again. As with the
    O(ansible.builtin.systemd_service#module:daemon_reload) option, a reload alone is not a change
    (RV(daemon_reloaded) tells); the task that wrote the unit file reported that change.
  - Fails before it changes anything, naming each unit, when a unit is still C(not-found) after that reload, is
    C(masked), or did not load (a unit file systemd cannot parse). This holds in check mode too.
  - O(enabled=true) enables, in one C(systemctl enable) call, the units M(ansible.builtin.systemd_service) would
    enable; see O(enabled).
  - Starts the units that are not running (C(ActiveState) other than C(active), C(activating), C(reloading) or
    C(refreshing)) with one C(systemctl start), in the order given, so list a socket before its service. systemctl
    queues a start job for each (one transaction each, not one for all) and waits for all of them; systemd orders
    the jobs by the units' own C(After=). When one fails, the others still start, except those that require it; the
    module fails and names each unit that does not run afterwards, with the C(systemctl status) and
    C(journalctl -u) commands that show why.
  - Changed when a unit was enabled, disabled or started. Check mode reads the units and reports what would be done,
    and runs nothing else.
  - An action plugin runs the first C(systemctl show) from the shell; when every unit is loaded, needs no
    C(daemon-reload), runs and is enabled (or disabled) as asked, that is the whole task and the module does not run
    on the host at all.
options:
  units:
    description:
      - Unit names (C(containerd), C(docker.socket)); without a suffix, C(.service) is meant. An empty list does
        nothing.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(started) only. Stopping stays with M(ansible.builtin.systemd_service).
    type: str
    choices: [started]
    default: started
  enabled:
    description:
      - V(true) enables units whose C(UnitFileState) is not C(enabled), C(static), C(generated) or C(transient).
        These are the units M(ansible.builtin.systemd_service) enables for
        O(ansible.builtin.systemd_service#module:enabled=true); it leaves alone what C(systemctl is-enabled) reports
        enabled, except C(enabled-runtime), C(indirect) and C(alias), which it enables too. A C(static) unit has no
        C([Install]) section (it starts as another unit's dependency), so there is nothing to enable.
      - V(false) disables units whose C(UnitFileState) is C(enabled). C(static), C(generated) and C(transient)
        units have nothing C(systemctl disable) could remove and are left as they are.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
notes:
  - Units of the system manager only (no C(--user)); SysV init scripts without a unit file are not looked for.
seealso:
  - module: ansible.builtin.systemd_service
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Start Docker and cri-dockerd
  airgap.k8s.systemd_units:
    units: [docker.socket, docker.service, cri-docker.socket, cri-docker.service]
  register: __docker_started

- name: Start the backup timer without enabling it at boot
  airgap.k8s.systemd_units:
    units: [etcd-backup.timer]
    enabled: false
"""

RETURN = r"""
units:
  description:
    - One entry per name in O(units), in that order. C(before) is the state the module acted on (after a
      C(daemon-reload), if one ran); C(after) is read again once something was done, and in check mode is what the
      module would have made of it.
    - C(enabled) is V(true) when the C(unit_file_state) is one O(enabled=true) leaves alone.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name as given.
      type: str
    id:
      description: The unit's full name (C(Id)).
      type: str
    fragment_path:
      description: The unit file systemd loaded.
      type: str
    before:
      description: C(active_state), C(unit_file_state) and C(enabled).
      type: dict
    after:
      description: The same, afterwards.
      type: dict
  sample:
    - name: kubelet
      id: kubelet.service
      fragment_path: /etc/systemd/system/kubelet.service
      before: {active_state: inactive, unit_file_state: disabled, enabled: false}
      after: {active_state: active, unit_file_state: enabled, enabled: true}
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) ran (in check mode, would have run).
  returned: always
  type: bool
enabled_units:
  description: Unit ids enabled (in check mode, that would be).
  returned: always
  type: list
  elements: str
disabled_units:
  description: Unit ids disabled (in check mode, that would be).
  returned: always
  type: list
  elements: str
started_units:
  description: Unit ids started (in check mode, that would be), in the order of the C(systemctl start) call.
  returned: always
  type: list
  elements: str
  sample: [docker.socket, docker.service]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._systemd import (
    SHOW_PROPERTIES,
    expected_after,
    is_unit_name,
    load_problems,
    needs_daemon_reload,
    parse_show,
    plan,
    start_failure,
    unit_report,
)

ARGUMENT_SPEC = {
    "units": {"type": "list", "elements": "str", "required": True},
    "state": {"type": "str", "choices": ["started"], "default": "started"},
    "enabled": {"type": "bool", "default": True},
}


class Systemctl:
    """The systemctl commands of one run; each failure fails the module with systemctl's own words."""

    def __init__(self, module: AnsibleModule, names: list[str]) -> None:
        self.module = module
        self.names = names
        self.bin = module.get_bin_path("systemctl", required=True)

    def run(self, *args: str) -> tuple[int, str, str]:
        return self.module.run_command([self.bin, *args])

    def must(self, *args: str, **result: object) -> None:
        rc, out, err = self.run(*args)
        if rc != 0:
            self.module.fail_json(msg=f"systemctl {' '.join(args)} failed ({rc}): {(err or out).strip()}", **result)

    def show(self) -> list[dict[str, str]]:
        rc, out, err = self.run("show", "--property=" + ",".join(SHOW_PROPERTIES), "--", *self.names)
        if rc != 0:
            self.module.fail_json(msg=f"systemctl show failed ({rc}): {(err or out).strip()}")
        units = parse_show(out)
        if len(units) != len(self.names) or not all(u.get("Id") for u in units):
            self.module.fail_json(msg=f"systemctl show answered {len(units)} units for {len(self.names)}: {out!r}")
        return units


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    names: list[str] = module.params["units"]
    for name in names:
        if not is_unit_name(name):
            module.fail_json(msg=f"units: {name!r} is not a unit name (no patterns)")
    result: dict[str, object] = {
        "changed": False,
        "units": [],
        "daemon_reloaded": False,
        "enabled_units": [],
        "disabled_units": [],
        "started_units": [],
    }
    if not names:
        module.exit_json(**result)

    systemctl = Systemctl(module, names)
    units = systemctl.show()
    if needs_daemon_reload(units):
        result["daemon_reloaded"] = True
        if not module.check_mode:
            systemctl.must("daemon-reload")
            units = systemctl.show()

    problems = load_problems(names, units)
    if problems:
        result["units"] = [unit_report(n, u, u) for n, u in zip(names, units, strict=True)]
        module.fail_json(msg="systemd_units cannot start: " + "; ".join(problems), **result)

    todo = plan(units, enabled=module.params["enabled"])
    result.update(
        changed=todo.changes, enabled_units=todo.enable, disabled_units=todo.disable, started_units=todo.start
    )
    if module.check_mode:
        after = [expected_after(u, todo) for u in units]
    else:
        if todo.enable:
            systemctl.must("enable", "--", *todo.enable, **result)
        if todo.disable:
            systemctl.must("disable", "--", *todo.disable, **result)
        if todo.start:
            rc, out, err = systemctl.run("start", "--", *todo.start)
            if rc != 0:
                after = systemctl.show()
                result["units"] = [unit_report(n, b, a) for n, b, a in zip(names, units, after, strict=True)]
                module.fail_json(
                    msg=f"systemctl start {' '.join(todo.start)} failed ({rc}): {(err or out).strip()} "
                    + start_failure(todo.start, after),
                    **result,
                )
        after = systemctl.show() if todo.changes else units
    result["units"] = [unit_report(n, b, a) for n, b, a in zip(names, units, after, strict=True)]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
