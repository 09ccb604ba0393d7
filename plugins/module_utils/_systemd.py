# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""systemd units as ``systemctl show`` reports them, and what it takes to start them (or stop them for good).

Shared by the modules airgap.k8s.systemd_units and airgap.k8s.component_remove
(which run the commands) and the filter airgap.k8s.systemd_show. Nothing here
runs systemctl, so it is unit-tested on text in systemctl's format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# What systemd_units reads of each unit, in one `systemctl show` call.
SHOW_PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState", "NeedDaemonReload", "FragmentPath")

# ActiveState of a unit that runs or is on its way up: a start would change nothing.
# (ansible.builtin.systemd_service counts active and activating; reloading and
# refreshing units run too.)
RUNNING = frozenset({"active", "activating", "reloading", "refreshing"})

# ActiveState of a unit a stop changes: one that runs, or is still stopping
# (ansible.builtin.systemd_service stops active, activating and deactivating units).
STOPPABLE = RUNNING | {"deactivating"}

# UnitFileState of a unit ansible.builtin.systemd_service leaves alone for
# enabled=true: `systemctl is-enabled` exits 0 and prints none of
# enabled-runtime, indirect and alias. Every other state gets `systemctl enable`.
ENABLED = frozenset({"enabled", "static", "generated", "transient"})


def is_unit_name(name: str) -> bool:
    """A unit name systemctl takes literally: not blank, no glob pattern."""
    return bool(name.strip()) and not any(c in name for c in "*?[")


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


def needs_daemon_reload(units: Sequence[Mapping[str, str]]) -> bool:
    """Whether systemd should re-read its unit files first.

    A unit file changed since it was loaded (NeedDaemonReload), or a unit
    that is not loaded: not-found (systemd may not have looked for a file
    written after it last read its unit directories) or error (e.g. its file
    was deleted and systemd reloaded while the unit ran; the file is back
    now). A masked unit stays masked; the reload is harmless.
    """
    return any(u.get("NeedDaemonReload") == "yes" or u.get("LoadState") != "loaded" for u in units)


def load_problems(names: Sequence[str], units: Sequence[Mapping[str, str]]) -> list[str]:
    """Why units cannot be started, one sentence per unit that did not load."""
    problems = []
    for name, unit in zip(names, units, strict=True):
        unit_id = unit.get("Id") or name
        state = unit.get("LoadState", "")
        if state == "loaded":
            continue
        if state == "not-found":
            problems.append(f"{name} is not-found: systemd has no unit file for it (is its component installed?)")
        elif state == "masked":
            where = f" ({unit['FragmentPath']})" if unit.get("FragmentPath") else ""
            problems.append(f"{name} is masked{where}: `systemctl unmask {unit_id}` if it should run")
        else:
            problems.append(f"{name} did not load ({state or 'no LoadState'}): see `systemctl status {unit_id}`")
    return problems


def is_enabled(unit: Mapping[str, str]) -> bool:
    """Whether enabled=true leaves the unit alone (the unit file state of ENABLED)."""
    return unit.get("UnitFileState", "") in ENABLED


def is_running(unit: Mapping[str, str]) -> bool:
    return unit.get("ActiveState", "") in RUNNING


def disable_changes(unit: Mapping[str, str]) -> bool:
    """Whether `systemctl disable` has something to remove: the unit file state is `enabled`.

    static, generated and transient units have nothing it could remove;
    enabled-runtime, indirect and alias units are left as
    ansible.builtin.systemd_service leaves them for enabled=false.
    """
    return unit.get("UnitFileState") == "enabled"


@dataclass
class Plan:
    """The unit ids to enable, disable, start and stop, each list in the order asked, without repeats."""

    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    start: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.enable or self.disable or self.start or self.stop)


def plan(units: Sequence[Mapping[str, str]], *, enabled: bool) -> Plan:
    """What to do so that loaded units run, and are enabled (or disabled) at boot.

    enabled=false disables only units whose file state is `enabled`: static,
    generated and transient units have nothing `systemctl disable` could remove.
    """
    todo = Plan()
    for unit in units:
        unit_id = unit["Id"]
        if enabled and not is_enabled(unit) and unit_id not in todo.enable:
            todo.enable.append(unit_id)
        if not enabled and disable_changes(unit) and unit_id not in todo.disable:
            todo.disable.append(unit_id)
        if not is_running(unit) and unit_id not in todo.start:
            todo.start.append(unit_id)
    return todo


def removal_plan(units: Sequence[Mapping[str, str]]) -> Plan:
    """What to disable and stop of the units of a component that is taken off the host.

    A not-found unit (no unit file, not running: systemd knows nothing of it)
    is left out. The others are disabled when `systemctl disable` has
    something to remove (as plan(enabled=False) decides) and stopped when they
    run or are stopping (STOPPABLE). A unit stopped and disabled already is in
    neither list.
    """
    todo = Plan()
    for unit in units:
        unit_id = unit["Id"]
        if unit.get("LoadState") == "not-found":
            continue
        if disable_changes(unit) and unit_id not in todo.disable:
            todo.disable.append(unit_id)
        if unit.get("ActiveState", "") in STOPPABLE and unit_id not in todo.stop:
            todo.stop.append(unit_id)
    return todo


def unit_report(name: str, before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, object]:
    """One unit of the module's result: its state before and after."""

    def state(unit: Mapping[str, str]) -> dict[str, object]:
        return {
            "active_state": unit.get("ActiveState", ""),
            "unit_file_state": unit.get("UnitFileState", ""),
            "enabled": is_enabled(unit),
        }

    return {
        "name": name,
        "id": after.get("Id") or before.get("Id") or name,
        "fragment_path": after.get("FragmentPath", ""),
        "before": state(before),
        "after": state(after),
    }


def expected_after(unit: Mapping[str, str], todo: Plan) -> dict[str, str]:
    """The unit's state once the plan ran (for check mode, where nothing runs)."""
    after = dict(unit)
    if unit["Id"] in todo.enable:
        after["UnitFileState"] = "enabled"
    if unit["Id"] in todo.disable:
        after["UnitFileState"] = "disabled"
    if unit["Id"] in todo.start:
        after["ActiveState"] = "active"
    return after


def start_failure(asked: Sequence[str], after: Sequence[Mapping[str, str]]) -> str:
    """The units of a failed `systemctl start` that do not run, with where to look."""
    down = [u for u in after if u.get("Id") in asked and not is_running(u)]
    if not down:
        return ""
    names = ", ".join(f"{u['Id']} ({u.get('ActiveState', '')}/{u.get('SubState', '')})" for u in down)
    hints = "; ".join(f"`systemctl status {u['Id']}`, `journalctl -u {u['Id']}`" for u in down)
    return f"Not running: {names}. See {hints}."
