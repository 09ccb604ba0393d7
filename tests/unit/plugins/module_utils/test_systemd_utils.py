# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What systemd_units and component_remove decide from `systemctl show` text (module_utils/_systemd.py)."""

from __future__ import annotations

from ansible_collections.airgap.k8s.plugins.module_utils._systemd import (
    load_problems,
    needs_daemon_reload,
    parse_show,
    plan,
    removal_plan,
    start_failure,
)

# systemctl show --property=Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload,FragmentPath
#   -- docker.socket docker cri-docker.service etcd
# (the format systemctl prints: a block per unit in the order asked, every asked property even when empty)
OUTPUT = """\
Id=docker.socket
LoadState=loaded
ActiveState=active
SubState=listening
UnitFileState=enabled
NeedDaemonReload=no
FragmentPath=/etc/systemd/system/docker.socket

Id=docker.service
LoadState=loaded
ActiveState=inactive
SubState=dead
UnitFileState=disabled
NeedDaemonReload=yes
FragmentPath=/etc/systemd/system/docker.service

Id=cri-docker.service
LoadState=loaded
ActiveState=failed
SubState=failed
UnitFileState=static
NeedDaemonReload=no
FragmentPath=/etc/systemd/system/cri-docker.service

Id=etcd.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
NeedDaemonReload=no
FragmentPath=
"""


def test_parse_keeps_order_and_empty_values():
    units = parse_show(OUTPUT)
    assert [u["Id"] for u in units] == ["docker.socket", "docker.service", "cri-docker.service", "etcd.service"]
    assert units[3]["UnitFileState"] == "" and units[3]["FragmentPath"] == ""
    assert parse_show("Id=a.service\nDescription=x=y\n") == [{"Id": "a.service", "Description": "x=y"}]


def test_a_reload_is_needed_for_a_changed_file_or_a_unit_not_found():
    units = parse_show(OUTPUT)
    assert needs_daemon_reload(units[1:2]) is True  # NeedDaemonReload=yes
    assert needs_daemon_reload(units[3:]) is True  # not-found
    assert needs_daemon_reload(units[0:1] + units[2:3]) is False


def test_problems_name_each_unit_that_did_not_load():
    units = parse_show(OUTPUT)
    names = ["docker.socket", "docker", "cri-docker.service", "etcd"]
    assert load_problems(names, units) == [
        "etcd is not-found: systemd has no unit file for it (is its component installed?)"
    ]


def test_plan_enables_and_starts_what_needs_it_once_each_in_order():
    units = parse_show(OUTPUT)[:3]
    todo = plan(units + units[1:2], enabled=True)  # docker asked twice (as docker and docker.service)
    assert todo.enable == ["docker.service"]  # static cri-docker has nothing to enable
    assert todo.start == ["docker.service", "cri-docker.service"]
    assert todo.changes
    assert not plan(units[:1], enabled=True).changes


def test_start_failure_blames_only_asked_units_that_do_not_run():
    units = parse_show(OUTPUT)
    assert start_failure(["docker.socket", "cri-docker.service"], units) == (
        "Not running: cri-docker.service (failed/failed). "
        "See `systemctl status cri-docker.service`, `journalctl -u cri-docker.service`."
    )
    assert start_failure(["docker.socket"], units) == ""


def test_removal_plan_disables_the_enabled_and_stops_the_running_of_the_units_systemd_knows():
    units = parse_show(OUTPUT)  # docker.socket runs enabled; docker.service and static cri-docker do not run
    units.append(
        {"Id": "old.service", "LoadState": "loaded", "ActiveState": "deactivating", "UnitFileState": "disabled"}
    )
    units.append({"Id": "gone.service", "LoadState": "not-found", "ActiveState": "active", "UnitFileState": "enabled"})
    todo = removal_plan(units + units[:1])
    assert todo.disable == ["docker.socket"]  # docker.service is disabled already, cri-docker static
    assert todo.stop == ["docker.socket", "old.service"]
    assert todo.changes and not todo.enable and not todo.start
    assert not removal_plan(units[1:4]).changes
