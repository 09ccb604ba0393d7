#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: paths_absent
short_description: Remove a component's files and directories, unmounting what is mounted below them
version_added: 0.1.0
description:
  - Removes each path (a file, a link or a directory with its contents). Everything mounted below a directory
    is unmounted first, deepest first (the volume and secret mounts the kubelet makes under C(/var/lib/kubelet),
    the overlay root filesystems and network namespaces of a container runtime); a mount that is busy is
    detached (C(umount --lazy)).
  - A directory that is itself a mount point (a separate disk or volume for C(/var/lib/etcd), say) stays mounted;
    its contents are removed and the empty directory is kept. A file that is a mount point (a network namespace
    under C(/run/netns)) is unmounted and deleted.
  - O(empty_dirs) are removed afterwards only when they are empty, for directories several components share
    (C(/etc/kubernetes), C(/opt/cni/bin)).
  - A path whose last component has shell wildcards (C(/run/netns/cni-*)) stands for every path it matches; the
    component must start with a literal prefix.
  - Refuses system directories (C(/), C(/etc), C(/var/lib), C(/usr/local/bin), ...), relative paths and wildcards
    without a literal prefix before removing anything.
  - Changed when anything was there. Check mode and diff report what would go.
options:
  paths:
    description:
      - Absolute paths to remove; the last component may be a wildcard pattern with a literal prefix (C(cni-*)).
    type: list
    elements: path
    required: true
  empty_dirs:
    description:
      - Directories to remove if, after O(paths) are gone, they are empty. Listed children first
        (C(/opt/cni/bin) before C(/opt/cni)).
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Remove the kubelet's state and its volume mounts
  airgap.k8s.paths_absent:
    paths:
      - /var/lib/kubelet
      - /etc/kubernetes/kubelet.conf
"""

RETURN = r"""
removed:
  description: The paths that existed and were removed (or emptied, for a mount point).
  returned: always
  type: list
  elements: str
  sample: [/var/lib/kubelet]
unmounted:
  description: Mount points below the paths that were unmounted, in that order.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/kubelet/pods/0c1f.../volumes/kubernetes.io~projected/kube-api-access-x]
emptied:
  description: Paths that are mount points themselves, so were emptied but kept.
  returned: always
  type: list
  elements: str
removed_dirs:
  description: O(empty_dirs) that were empty and removed.
  returned: always
  type: list
  elements: str
"""

import glob
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._host_reset import (
    is_mount_point,
    is_pattern,
    mounts_below,
    refused_path,
)

ARGUMENT_SPEC = {
    "paths": {"type": "list", "elements": "path", "required": True},
    "empty_dirs": {"type": "list", "elements": "path", "default": []},
}


def read_mountinfo() -> str:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
        return handle.read()


def unmount(module: AnsibleModule, point: str) -> None:
    rc, _out, err = module.run_command(["umount", point])
    if rc != 0:
        rc, _out, err = module.run_command(["umount", "--lazy", point])
        if rc != 0:
            module.fail_json(msg=f"cannot unmount {point}: {err.strip()}")


def expand(path: str) -> list[str]:
    """The path itself, or what a wildcard in its last component matches (sorted)."""
    return sorted(glob.glob(path)) if is_pattern(path) else [path]


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def empty(path: str) -> None:
    for entry in os.listdir(path):
        remove(os.path.join(path, entry))


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    asked = [os.path.normpath(p) for p in module.params["paths"]]
    empty_dirs = [os.path.normpath(p) for p in module.params["empty_dirs"]]
    refusals = [r for r in map(refused_path, asked + empty_dirs) if r]
    if refusals:
        module.fail_json(msg="paths_absent refuses: " + "; ".join(refusals))
    paths = [match for path in asked for match in expand(path)]

    mountinfo = read_mountinfo()
    removed, unmounted, emptied = [], [], []
    for path in paths:
        if not os.path.lexists(path):
            continue
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        keep = is_dir and is_mount_point(mountinfo, path)
        if keep and not os.listdir(path) and not mounts_below(mountinfo, path):
            continue  # an empty mount point: nothing to do
        removed.append(path)
        below = mounts_below(mountinfo, path)
        if not is_dir and is_mount_point(mountinfo, path):
            below = [path]  # a bind-mounted file (a network namespace): unmount, then delete
        unmounted.extend(below)
        if keep:
            emptied.append(path)
        if module.check_mode:
            continue
        try:
            for point in below:
                unmount(module, point)
            if keep:
                empty(path)
            else:
                remove(path)
        except OSError as exc:
            module.fail_json(msg=f"cannot remove {path}: {exc}", removed=removed, unmounted=unmounted)
        mountinfo = read_mountinfo()

    removed_dirs = []
    for directory in empty_dirs:
        gone = set(removed) if module.check_mode else set()
        if os.path.isdir(directory) and not os.path.islink(directory) and not is_mount_point(mountinfo, directory):
            left = [e for e in os.listdir(directory) if os.path.join(directory, e) not in gone | set(removed_dirs)]
            if not left:
                removed_dirs.append(directory)
                if not module.check_mode:
                    try:
                        os.rmdir(directory)
                    except OSError as exc:
                        module.fail_json(msg=f"cannot remove the empty directory {directory}: {exc}")

    module.exit_json(
        changed=bool(removed or removed_dirs),
        removed=removed,
        unmounted=unmounted,
        emptied=emptied,
        removed_dirs=removed_dirs,
        diff={"before": {"paths": removed + removed_dirs}, "after": {"paths": []}},
    )


if __name__ == "__main__":
    main()
