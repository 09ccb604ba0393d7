#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: os_probe
short_description: Read everything os_prepare checks and converges on a host, in one call
version_added: 0.2.0
description:
  - Reports the cgroup filesystem, the state of kernel modules (loaded, built in, absent, and whether modprobe
    could load an absent one), ports held by other programs, active swap and swap lines in C(/etc/fstab), live
    sysctl values, which firewall units exist and run, the clock's chrony tracking, and the text of a few files.
  - Only reads (C(modprobe --dry-run) and C(chronyc tracking) change nothing), so it supports check mode and never
    reports a change. The os_prepare role runs it once per host; its checks and its conditional configuration
    steps read the result instead of asking the host again.
options:
  modules:
    description: Kernel module name to its kernel config symbol (for kernels without C(modules.builtin)).
    type: dict
    default: {}
  ports:
    description: Ports the cluster needs.
    type: list
    elements: int
    default: []
  port_owners:
    description: Process names allowed to hold O(ports) (the cluster's own components, on a re-run).
    type: list
    elements: str
    default: []
  sysctls:
    description: Sysctl names whose live values to read.
    type: list
    elements: str
    default: []
  firewall_units:
    description: Firewall services to look for (without C(.service)).
    type: list
    elements: str
    default: [firewalld, ufw]
  chrony:
    description: Read C(chronyc -n tracking) when this role's chrony configuration is in place.
    type: bool
    default: false
  files:
    description: Text files to return (such as C(/etc/hosts)), so that a task converging one can be skipped.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read the host
  airgap.k8s.os_probe:
    modules: {br_netfilter: CONFIG_BRIDGE_NETFILTER, overlay: CONFIG_OVERLAY_FS}
    ports: [2379, 6443, 10250]
    port_owners: [etcd, kube-apiserver, kubelet]
    sysctls: [net.ipv4.ip_forward]
  register: probe
"""

RETURN = r"""
cgroup_fs:
  description: Filesystem type of C(/sys/fs/cgroup) as C(stat -f) names it (C(cgroup2fs) on cgroup v2).
  returned: always
  type: str
  sample: cgroup2fs
modules:
  description: Each module's state.
  returned: always
  type: dict
  sample: {br_netfilter: builtin, overlay: loaded, ip_vs: absent}
loadable:
  description: Absent modules C(modprobe --dry-run) can load.
  returned: always
  type: list
  elements: str
taken_ports:
  description: Wanted ports held by programs not in O(port_owners), with those programs' names.
  returned: always
  type: dict
  sample: {"6443": [nginx]}
swaps:
  description: Active swap devices.
  returned: always
  type: list
  elements: str
fstab_swap:
  description: Uncommented swap lines of C(/etc/fstab).
  returned: always
  type: list
  elements: str
sysctls:
  description: Live value of each O(sysctls) entry (null when the kernel has no such key).
  returned: always
  type: dict
firewall:
  description: The O(firewall_units) that exist, each with C(active) and C(enabled).
  returned: always
  type: dict
  sample: {ufw: {active: true, enabled: true}}
chrony_tracking:
  description: C(chronyc -n tracking) output, when O(chrony) and this role's chrony configuration is in place.
  returned: when O(chrony) is true
  type: dict
files:
  description: Each of O(files) with its text, or null when it is missing, not UTF-8 or over 64 KiB.
  returned: always
  type: dict
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils import _os_probe
from ansible_collections.airgap.k8s.plugins.module_utils._hostread import text

ARGUMENT_SPEC = {
    "modules": {"type": "dict", "default": {}},
    "ports": {"type": "list", "elements": "int", "default": []},
    "port_owners": {"type": "list", "elements": "str", "default": []},
    "sysctls": {"type": "list", "elements": "str", "default": []},
    "firewall_units": {"type": "list", "elements": "str", "default": ["firewalld", "ufw"]},
    "chrony": {"type": "bool", "default": False},
    "files": {"type": "list", "elements": "path", "default": []},
}
CHRONY_MARK = "# airgap.k8s chrony"


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    rc, out, err = module.run_command(["stat", "-fc", "%T", "/sys/fs/cgroup"])
    if rc != 0:
        module.fail_json(msg=f"cannot read the cgroup filesystem type: {err.strip()}")
    modules = _os_probe.module_states("/", os.uname().release, {str(k): str(v) for k, v in p["modules"].items()})
    loadable = []
    for name in (n for n, state in modules.items() if state == "absent"):
        if shutil.which("modprobe") and module.run_command(["modprobe", "--dry-run", name])[0] == 0:
            loadable.append(name)
    firewall = {}
    for unit in _os_probe.unit_files("/", p["firewall_units"]):
        active = module.run_command(["systemctl", "is-active", "--quiet", f"{unit}.service"])[0] == 0
        enabled = module.run_command(["systemctl", "is-enabled", "--quiet", f"{unit}.service"])[0] == 0
        firewall[unit] = {"active": active, "enabled": enabled}
    result = {
        "changed": False,
        "cgroup_fs": out.strip(),
        "modules": modules,
        "loadable": loadable,
        "taken_ports": _os_probe.taken_ports("/", p["ports"], p["port_owners"]) if p["ports"] else {},
        "swaps": _os_probe.active_swaps("/"),
        "fstab_swap": _os_probe.fstab_swap_lines("/"),
        "sysctls": _os_probe.sysctls("/", p["sysctls"]),
        "firewall": firewall,
        "files": {path: text(path) for path in p["files"]},
    }
    if p["chrony"]:
        tracking = {"configured": False, "rc": None, "stdout": ""}
        try:
            with open("/etc/chrony/chrony.conf", encoding="utf-8") as handle:
                tracking["configured"] = any(line.startswith(CHRONY_MARK) for line in handle)
        except OSError:
            pass
        if tracking["configured"] and shutil.which("chronyc"):
            tracking["rc"], tracking["stdout"], _err = module.run_command(["chronyc", "-n", "tracking"])
        result["chrony_tracking"] = tracking
    module.exit_json(**result)


if __name__ == "__main__":
    main()
