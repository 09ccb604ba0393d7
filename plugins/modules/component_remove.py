#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: component_remove
short_description: Take one component off a host - units, processes, network state, files, packages, users
version_added: 0.1.0
description:
  - What every role's C(remove) entry point does after its own steps, through the internal role
    C(airgap.k8s.component_remove), in one module call. In this order, each step only for what is there, so a
    re-run, or a host that never had the component, changes nothing.
  - Reads the O(units) with one C(systemctl show). Of those systemd knows (not C(not-found)), disables with one
    C(systemctl disable) those whose C(UnitFileState) is C(enabled), then stops with one C(systemctl stop) those
    that are C(active), C(activating), C(reloading), C(refreshing) or C(deactivating).
  - Kills (SIGKILL) every process whose executable (C(/proc/PID/exe)) starts with one of O(processes), such as the
    containerd shims that outlive their unit (C(KillMode=process)).
  - Deletes the interfaces (O(links)), iptables chains (O(chain_prefixes)), nftables tables (O(nft_tables)) and
    ipsets (O(ipset_prefixes)) as M(airgap.k8s.network_cleanup) does.
  - Deletes the units' files in C(/etc/systemd/system), O(paths) and the empty O(empty_dirs) as
    M(airgap.k8s.paths_absent) does, unmounting what is mounted below them first. Then runs
    C(systemctl daemon-reload) when a file under C(/etc/systemd/system) was removed.
  - Purges (C(dpkg --purge), nothing is downloaded) the O(packages) that are installed.
  - Deletes the O(users) (C(userdel)), then the O(groups) (C(groupdel)) that exist.
  - Before it changes anything, refuses unit names with a C(/) or a wildcard, relative process prefixes or ones that
    are system directories, and every path M(airgap.k8s.paths_absent) refuses.
  - A step that fails ends the module; the message names the step, and the result holds what was done until then.
  - Changed when anything was stopped, disabled, killed or removed. Check mode reads the host (the units' state,
    the processes, the network state, the paths, the packages, the users and groups) and reports what would be
    done.
options:
  units:
    description:
      - systemd units (C(name.service), C(name.socket)). Their files in C(/etc/systemd/system) are deleted too.
    type: list
    elements: str
    default: []
  processes:
    description:
      - Absolute executable path prefixes (C(/usr/local/bin/containerd-shim)) of processes that outlive the units;
        killed once the units are stopped.
    type: list
    elements: str
    default: []
  paths:
    description:
      - Files and directories to delete; the last component may be a wildcard pattern with a literal prefix
        (C(/run/netns/cni-*)).
    type: list
    elements: path
    default: []
  empty_dirs:
    description:
      - Directories other components may share, removed only when empty afterwards. Listed children first.
    type: list
    elements: path
    default: []
  packages:
    description: Debian packages to purge.
    type: list
    elements: str
    default: []
  users:
    description: System users to delete (their home directories stay).
    type: list
    elements: str
    default: []
  groups:
    description: System groups to delete, after the users.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - airgap.k8s._network_cleanup
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
seealso:
  - module: airgap.k8s.network_cleanup
  - module: airgap.k8s.paths_absent
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Take etcd off the host
  airgap.k8s.component_remove:
    units: [etcd.service]
    paths: [/var/lib/etcd, /etc/etcd, /usr/local/bin/etcd]
    users: [etcd]
    groups: [etcd]

- name: Take containerd off the host
  airgap.k8s.component_remove:
    units: [containerd.service]
    processes: [/usr/local/bin/containerd-shim]
    links: [cni0]
    paths: [/etc/containerd, /var/lib/containerd, /run/containerd, /run/netns/cni-*]
    empty_dirs: [/opt/cni/bin, /opt/cni]
"""

RETURN = r"""
disabled_units:
  description: Units disabled (in check mode, that would be).
  returned: always
  type: list
  elements: str
stopped_units:
  description: Units stopped (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [containerd.service]
killed_processes:
  description: The processes killed (in check mode, that would be), C(<pid> <executable>).
  returned: always
  type: list
  elements: str
  sample: [4242 /usr/local/bin/containerd-shim-runc-v2]
network:
  description:
    - What the network step removed (in check mode, would remove), as M(airgap.k8s.network_cleanup) returns it -
      C(links), C(chains), C(ipsets), C(nft_tables).
  returned: always
  type: dict
  sample: {links: [cni0], chains: [iptables-nft filter KUBE-FORWARD], ipsets: [], nft_tables: []}
paths:
  description:
    - What the files step removed (in check mode, would remove), as M(airgap.k8s.paths_absent) returns it -
      C(removed) (the units' files first), C(unmounted), C(emptied), C(removed_dirs).
  returned: always
  type: dict
  sample: {removed: [/etc/systemd/system/containerd.service, /var/lib/containerd], unmounted: [], emptied: [],
           removed_dirs: [/opt/cni/bin, /opt/cni]}
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) ran (in check mode, would have run).
  returned: always
  type: bool
purged_packages:
  description: Packages purged (in check mode, that would be).
  returned: always
  type: list
  elements: str
deleted_users:
  description: Users deleted (in check mode, that would be).
  returned: always
  type: list
  elements: str
deleted_groups:
  description: Groups deleted (in check mode, that would be).
  returned: always
  type: list
  elements: str
step:
  description: The step that failed.
  returned: failure
  type: str
  sample: purge the packages
"""

import grp
import os
import pwd
import signal
import typing as t
from collections.abc import Callable, Sequence

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._host_reset import (
    HostRemoval,
    RemoveError,
    exe_matches,
    installed_packages,
    network_argument_spec,
    refusals,
    refused_prefix,
)
from ansible_collections.airgap.k8s.plugins.module_utils._systemd import is_unit_name, parse_show, removal_plan

ARGUMENT_SPEC = {
    "units": {"type": "list", "elements": "str", "default": []},
    "processes": {"type": "list", "elements": "str", "default": []},
    **network_argument_spec(),
    "paths": {"type": "list", "elements": "path", "default": []},
    "empty_dirs": {"type": "list", "elements": "path", "default": []},
    "packages": {"type": "list", "elements": "str", "default": []},
    "users": {"type": "list", "elements": "str", "default": []},
    "groups": {"type": "list", "elements": "str", "default": []},
}

# The component's own steps' lists: any of them, or anything network() or paths() removed, is a change.
CHANGES = ("disabled_units", "stopped_units", "killed_processes", "purged_packages", "deleted_users", "deleted_groups")

# Where the roles write their unit files; the tests point these at a temporary directory.
UNIT_DIR = "/etc/systemd/system"
PROC = "/proc"

UNIT_PROPERTIES = "--property=Id,LoadState,ActiveState,UnitFileState"
DPKG_FORMAT = "--showformat=${Package} ${db:Status-Status};"


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def executables(proc: str) -> list[tuple[int, str]]:
    """(pid, executable) of every process whose exe link can be read (kernel threads have none), by pid."""
    found = []
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                found.append((int(entry), os.readlink(os.path.join(proc, entry, "exe"))))
            except OSError:
                continue  # gone, or a kernel thread
    return sorted(found)


def unit_files(units: Sequence[str]) -> list[str]:
    return [f"{UNIT_DIR}/{unit}" for unit in units]


def refused_options(params: dict) -> list[str]:
    """Why the options may not be acted on, checked before anything changes."""
    problems = [f"units: {u!r} is not a unit name" for u in params["units"] if not is_unit_name(u) or "/" in u]
    problems += [r for r in map(refused_prefix, params["processes"]) if r]
    problems += refusals(unit_files(params["units"]) + params["paths"] + params["empty_dirs"])
    return problems


class ComponentRemoval(HostRemoval):
    """HostRemoval's network and paths steps, and the steps only component_remove takes."""

    def __init__(self, module: AnsibleModule) -> None:
        super().__init__(module)
        self.result: dict[str, t.Any] = {key: [] for key in CHANGES}
        self.result["daemon_reloaded"] = False

    @property
    def changed(self) -> bool:
        return (
            any(self.result[key] for key in CHANGES)
            or any(self.network_removed.values())
            or bool(self.paths_removed["removed"] or self.paths_removed["removed_dirs"])
        )

    def report(self) -> dict[str, t.Any]:
        return {"changed": self.changed, **self.result, "network": self.network_removed, "paths": self.paths_removed}

    def tool(self, name: str) -> str:
        path = self.module.get_bin_path(name)
        if not path:
            raise RemoveError(f"{name} is not installed")
        return path

    def units(self, names: Sequence[str]) -> None:
        if not names:
            return
        systemctl = self.tool("systemctl")
        out = self.run([systemctl, "show", UNIT_PROPERTIES, "--", *names])
        units = parse_show(out)
        if len(units) != len(names) or not all(u.get("Id") for u in units):
            raise RemoveError(f"systemctl show answered {len(units)} units for {len(names)}: {out!r}")
        todo = removal_plan(units)
        if todo.disable and not self.check_mode:
            self.run([systemctl, "disable", "--", *todo.disable])
        self.result["disabled_units"] = todo.disable
        if todo.stop and not self.check_mode:
            self.run([systemctl, "stop", "--", *todo.stop])
        self.result["stopped_units"] = todo.stop

    def processes(self, prefixes: Sequence[str]) -> None:
        if not prefixes:
            return
        killed = self.result["killed_processes"]
        for pid, exe in executables(PROC):
            if pid == os.getpid() or not exe_matches(exe, prefixes):
                continue
            if not self.check_mode:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it ended by itself
                except OSError as exc:
                    raise RemoveError(f"cannot kill {pid} ({exe}): {exc}") from exc
            killed.append(f"{pid} {exe}")

    def daemon_reload(self) -> None:
        if not any(path.startswith(UNIT_DIR + "/") for path in self.paths_removed["removed"]):
            return
        if not self.check_mode:
            self.run([self.tool("systemctl"), "daemon-reload"])
        self.result["daemon_reloaded"] = True

    def packages(self, names: Sequence[str]) -> None:
        if not names:
            return
        # dpkg-query exits 1 when a package is unknown to dpkg.
        listing = self.run([self.tool("dpkg-query"), "--show", DPKG_FORMAT, *names], ok=(0, 1))
        installed = installed_packages(listing)
        if installed and not self.check_mode:
            self.run([self.tool("dpkg"), "--purge", *installed], env={"DEBIAN_FRONTEND": "noninteractive"})
        self.result["purged_packages"] = installed

    def accounts(self, names: Sequence[str], exists: Callable[[str], bool], command: str, key: str) -> None:
        """Delete the users (or groups) that exist, one `userdel` (`groupdel`) each."""
        for name in names:
            if exists(name):
                if not self.check_mode:
                    self.run([self.tool(command), name])
                self.result[key].append(name)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    refused = refused_options(p)
    if refused:
        module.fail_json(msg="component_remove refuses, and changed nothing: " + "; ".join(refused))
    removal = ComponentRemoval(module)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("stop and disable the units", lambda: removal.units(p["units"])),
        ("kill the processes that outlived the units", lambda: removal.processes(p["processes"])),
        ("remove the network state", lambda: removal.network(p)),
        (
            "remove the files and directories",
            lambda: removal.paths(unit_files(p["units"]) + p["paths"], p["empty_dirs"]),
        ),
        ("make systemd forget the removed units", removal.daemon_reload),
        ("purge the packages", lambda: removal.packages(p["packages"])),
        ("delete the users", lambda: removal.accounts(p["users"], user_exists, "userdel", "deleted_users")),
        ("delete the groups", lambda: removal.accounts(p["groups"], group_exists, "groupdel", "deleted_groups")),
    ]
    for step, action in steps:
        try:
            action()
        except RemoveError as exc:
            module.fail_json(msg=f"component_remove could not {step}: {exc}", step=step, **removal.report())
    module.exit_json(**removal.report())


if __name__ == "__main__":
    main()
