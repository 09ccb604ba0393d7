#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_backup_store
short_description: File an etcd snapshot on the controller as a backup, with its checksum, metadata and controller state
version_added: 0.1.0
description:
  - Takes a snapshot already copied to the controller (O(snapshot)), checks its sha256 against the one the etcd member
    computed (O(sha256)), and files it as a new backup directory C(etcd-<UTC time>) under O(backup_dir) with
    C(snapshot.db), C(snapshot.db.sha256) (sha256sum's format) and C(metadata.json) (cluster name, time, etcd version,
    revision, key count, source member, member list).
  - Copies the controller state needed to use the snapshot into the backup's C(state/), that is O(state_files) of
    O(cluster_dir) (the CAs and their keys, the service-account keys, the Secrets encryption key).
  - Directories are mode V(0700) and files V(0600) from their creation on, whatever the umask.
  - Keeps the newest O(keep) backups and deletes older ones (only directories named C(etcd-<UTC time>)).
  - Runs on the controller (C(delegate_to=localhost)). Always reports a change (a new backup), except in check mode,
    where nothing is written.
requirements:
  - cryptography
options:
  backup_dir:
    description: Directory of the backups (created V(0700) when missing).
    type: path
    required: true
  snapshot:
    description: The snapshot file on the controller; it is moved into the backup.
    type: path
    required: true
  sha256:
    description: The sha256 the etcd member computed for the snapshot; the copy must match it.
    type: str
    required: true
  cluster_name:
    description: The cluster's name, recorded so a restore can refuse another cluster's snapshot.
    type: str
    required: true
  cluster_dir:
    description: The controller's cluster directory, whose O(state_files) are saved with the backup.
    type: path
    required: true
  state_files:
    description: Entries of O(cluster_dir) (files or directories) to save in C(state/). Each must exist.
    type: list
    elements: str
    default: [pki, encryption-key]
  status:
    description: The output of C(etcdutl snapshot status -w json) for the snapshot.
    type: dict
    required: true
  members:
    description: The output of C(etcdctl member list -w json) at the time of the snapshot.
    type: dict
    required: true
  source:
    description: The member the snapshot was taken from, as C(name) and C(endpoint).
    type: dict
    default: {}
  etcd_version:
    description: The etcd server version.
    type: str
  keep:
    description: Newest backups to keep; older ones are deleted. V(0) keeps every backup.
    type: int
    default: 7
  name:
    description: Name of the backup directory. Defaults to C(etcd-<UTC time>); must have that form.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
seealso:
  - module: airgap.k8s.etcd_backup_verify
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: File the snapshot as a backup
  airgap.k8s.etcd_backup_store:
    backup_dir: "{{ airgap_cluster_dir }}/backups"
    snapshot: "{{ airgap_cluster_dir }}/backups/.incoming.db"
    sha256: "{{ snapshot_stat.stat.checksum }}"
    cluster_name: "{{ cluster_name }}"
    cluster_dir: "{{ airgap_cluster_dir }}"
    status: "{{ status.stdout | from_json }}"
    members: "{{ members.stdout | from_json }}"
    keep: 7
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The new backup directory.
  returned: always
  type: str
  sample: /srv/clusters/prod/cluster/backups/etcd-20261201T031500Z
metadata:
  description: What C(metadata.json) holds.
  returned: always
  type: dict
pruned:
  description: Older backups deleted to keep O(keep).
  returned: always
  type: list
  elements: str
"""

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.airgap.k8s.plugins.module_utils._etcd_backup import (
    CHECKSUM,
    DIR_MODE,
    METADATA,
    NAME,
    SNAPSHOT,
    STATE,
    BackupError,
    backup_name,
    build_metadata,
    checksum_line,
    copy_state,
    list_backups,
    members_from_etcdctl,
    remove_tree,
    sha256_file,
    status_from_etcdutl,
    to_prune,
    write_private,
)
from ansible_collections.airgap.k8s.plugins.module_utils._pki import CRYPTOGRAPHY_IMP_ERR, HAS_CRYPTOGRAPHY, utcnow
from ansible_collections.airgap.k8s.plugins.module_utils._state import controller_state, fingerprints

ARGUMENT_SPEC = {
    "backup_dir": {"type": "path", "required": True},
    "snapshot": {"type": "path", "required": True},
    "sha256": {"type": "str", "required": True},
    "cluster_name": {"type": "str", "required": True},
    "cluster_dir": {"type": "path", "required": True},
    "state_files": {"type": "list", "elements": "str", "default": ["pki", "encryption-key"]},
    "status": {"type": "dict", "required": True},
    "members": {"type": "dict", "required": True},
    "source": {"type": "dict", "default": {}},
    "etcd_version": {"type": "str"},
    "keep": {"type": "int", "default": 7},
    "name": {"type": "str"},
}


def store(module: AnsibleModule) -> dict:
    p = module.params
    now = utcnow()
    name = p["name"] or backup_name(now)
    if not NAME.match(name):
        raise BackupError(f"name: {name!r} must look like etcd-20261201T031500Z (etcd-<UTC time>)")
    if p["keep"] < 0:
        raise BackupError(f"keep: {p['keep']} is negative; give the number of backups to keep (0 keeps all)")
    for entry in p["state_files"]:
        if os.path.isabs(entry) or ".." in entry.split("/"):
            raise BackupError(f"state_files: {entry!r} must be a path inside cluster_dir")
    if not os.path.isfile(p["snapshot"]):
        raise BackupError(f"snapshot: {p['snapshot']} does not exist")
    actual = sha256_file(p["snapshot"])
    if actual != p["sha256"].strip().lower():
        raise BackupError(
            f"the copy of the snapshot on the controller ({p['snapshot']}) has sha256 {actual}, the member's has "
            f"{p['sha256']}: the transfer damaged it; run the backup again"
        )
    status = status_from_etcdutl(p["status"])
    path = os.path.join(p["backup_dir"], name)
    if os.path.exists(path):
        raise BackupError(f"{path} exists already; backups are never overwritten")
    existing = list_backups(p["backup_dir"])
    pruned = to_prune([*existing, path], p["keep"])
    metadata = build_metadata(
        cluster_name=p["cluster_name"],
        created=now,
        sha256=actual,
        size=os.path.getsize(p["snapshot"]),
        status=status,
        members=members_from_etcdctl(p["members"]),
        source=p["source"],
        etcd_version=p["etcd_version"],
        controller_fingerprints=fingerprints(controller_state(p["cluster_dir"])),
        state_files=p["state_files"],
        made_by="playbooks/etcd_backup.yml",
    )
    if module.check_mode:
        return {"changed": True, "path": path, "metadata": metadata, "pruned": pruned}

    os.makedirs(p["backup_dir"], mode=DIR_MODE, exist_ok=True)
    os.chmod(p["backup_dir"], DIR_MODE)
    os.mkdir(path, DIR_MODE)
    try:
        target = os.path.join(path, SNAPSHOT)
        shutil.move(p["snapshot"], target)
        os.chmod(target, 0o600)
        write_private(os.path.join(path, CHECKSUM), checksum_line(actual).encode())
        copy_state(p["cluster_dir"], os.path.join(path, STATE), p["state_files"])
        write_private(os.path.join(path, METADATA), (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode())
    except BaseException:
        # Never leave half a backup behind to be mistaken for a whole one.
        shutil.rmtree(path, ignore_errors=True)
        raise
    for old in pruned:
        remove_tree(old)
    return {"changed": True, "path": path, "metadata": metadata, "pruned": pruned}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMP_ERR)
    try:
        result = store(module)
    except (ValueError, OSError) as exc:  # BackupError, PkiError
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
