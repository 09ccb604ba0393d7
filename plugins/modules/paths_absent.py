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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._host_reset import HostRemoval, RemoveError, refusals

ARGUMENT_SPEC = {
    "paths": {"type": "list", "elements": "path", "required": True},
    "empty_dirs": {"type": "list", "elements": "path", "default": []},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    refused = refusals(module.params["paths"] + module.params["empty_dirs"])
    if refused:
        module.fail_json(msg="paths_absent refuses: " + "; ".join(refused))
    removal = HostRemoval(module)
    try:
        removal.paths(module.params["paths"], module.params["empty_dirs"])
    except RemoveError as exc:
        done = removal.paths_removed
        module.fail_json(msg=str(exc), removed=done["removed"], unmounted=done["unmounted"])
    result = removal.paths_removed
    module.exit_json(
        changed=bool(result["removed"] or result["removed_dirs"]),
        **result,
        diff={"before": {"paths": result["removed"] + result["removed_dirs"]}, "after": {"paths": []}},
    )


if __name__ == "__main__":
    main()
