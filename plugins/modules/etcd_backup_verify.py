#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_backup_verify
short_description: Check an etcd backup before it is restored
version_added: 0.1.0
description:
  - Finds the backup (a backup directory, its C(snapshot.db), a snapshot file with a C(.sha256) beside it, or V(latest),
    the newest backup in O(backup_dir)), and fails, naming every problem, unless
    the snapshot's sha256 matches C(snapshot.db.sha256) and C(metadata.json);
    the metadata names this cluster (O(cluster_name)), unless O(ignore_cluster_name);
    and the controller's cluster directory (O(cluster_dir)) holds the CAs, service-account key and Secrets encryption
    key the snapshot was taken with, so the restored data can be used.
  - Runs on the controller (C(delegate_to=localhost)); only reads. Whether the snapshot is a valid etcd database is
    checked on the members with C(etcdutl) (playbooks/etcd_restore.yml).
requirements:
  - cryptography
options:
  path:
    description:
      - The backup directory, a snapshot file, or V(latest).
    type: path
    required: true
  backup_dir:
    description: Directory of the backups, where V(latest) looks.
    type: path
  cluster_name:
    description: This cluster's name.
    type: str
    required: true
  ignore_cluster_name:
    description: Accept a snapshot whose metadata names another cluster, or that has no metadata.
    type: bool
    default: false
  cluster_dir:
    description: The controller's cluster directory, compared with the state the snapshot was taken with.
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
seealso:
  - module: airgap.k8s.etcd_backup_store
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check the newest backup
  airgap.k8s.etcd_backup_verify:
    path: latest
    backup_dir: "{{ airgap_cluster_dir }}/backups"
    cluster_name: "{{ cluster_name }}"
    cluster_dir: "{{ airgap_cluster_dir }}"
  delegate_to: localhost
  register: backup
"""

RETURN = r"""
directory:
  description: The backup directory.
  returned: success
  type: str
snapshot:
  description: The snapshot file.
  returned: success
  type: str
sha256:
  description: The snapshot's sha256 (checked).
  returned: success
  type: str
metadata:
  description: The backup's metadata; null for a bare snapshot accepted with O(ignore_cluster_name).
  returned: success
  type: dict
problems:
  description: Why the backup is refused; empty when it is not.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.airgap.k8s.plugins.module_utils._etcd_backup import verify
from ansible_collections.airgap.k8s.plugins.module_utils._pki import CRYPTOGRAPHY_IMP_ERR, HAS_CRYPTOGRAPHY
from ansible_collections.airgap.k8s.plugins.module_utils._state import controller_state, fingerprints

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "backup_dir": {"type": "path"},
    "cluster_name": {"type": "str", "required": True},
    "ignore_cluster_name": {"type": "bool", "default": False},
    "cluster_dir": {"type": "path", "required": True},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMP_ERR)
    p = module.params
    path = p["path"] if p["path"] == "latest" else os.path.abspath(p["path"])
    try:
        backup = verify(
            path,
            cluster_name=p["cluster_name"],
            ignore_cluster_name=p["ignore_cluster_name"],
            controller_fingerprints=fingerprints(controller_state(p["cluster_dir"])),
            backup_root=p["backup_dir"],
        )
    except (ValueError, OSError) as exc:  # BackupError, PkiError
        module.fail_json(msg=str(exc), problems=[str(exc)])
    for warning in backup.warnings:
        module.warn(warning)
    result = {
        "changed": False,
        "directory": backup.directory,
        "snapshot": backup.snapshot,
        "sha256": backup.sha256,
        "metadata": backup.metadata,
        "problems": backup.problems,
    }
    if backup.problems:
        module.fail_json(msg=f"Refusing to restore {backup.snapshot}: " + "; ".join(backup.problems), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
