#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: controller_state_check
short_description: Refuse to go on when the hosts run a cluster the controller's cluster directory does not belong to
version_added: 0.1.0
description:
  - Compares what M(airgap.k8s.cluster_state_info) found on each host with the controller's cluster directory
    (O(cluster_dir)).
  - When any host runs a cluster (etcd data, a kube-apiserver unit, or an installed cluster CA), fails unless the
    directory exists and holds the same CAs (compared by public key, so a CA renewed with its key still matches), the
    same service-account key and the Secrets encryption key the hosts use. The message says what differs, that
    nothing was changed, and how to restore the directory from a backup (the newest one in O(backup_dir) is named).
  - Hosts that run nothing are a new install, for which anything goes.
  - Runs on the controller (C(delegate_to=localhost)); only reads.
requirements:
  - cryptography
options:
  cluster_dir:
    description: The controller's cluster directory (C(airgap_cluster_dir)).
    type: path
    required: true
  hosts:
    description: Host name to the RV(airgap.k8s.cluster_state_info#module:state) found there.
    type: dict
    required: true
  backup_dir:
    description: Where etcd backups are kept (C(etcd_backup_dir)), to name the newest in the message.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
seealso:
  - module: airgap.k8s.cluster_state_info
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Refuse when the cluster dir does not match the running cluster
  airgap.k8s.controller_state_check:
    cluster_dir: "{{ airgap_cluster_dir }}"
    hosts: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'host_state')
               | map(attribute='state'))) }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
running:
  description: Hosts that show a cluster, by evidence (C(etcd data), C(kube-apiserver), C(cluster CA)).
  returned: always
  type: dict
problems:
  description: What does not match; empty when it is safe to go on.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.airgap.k8s.plugins.module_utils._etcd_backup import list_backups
from ansible_collections.airgap.k8s.plugins.module_utils._pki import CRYPTOGRAPHY_IMP_ERR, HAS_CRYPTOGRAPHY
from ansible_collections.airgap.k8s.plugins.module_utils._state import controller_state, evaluate, refusal

ARGUMENT_SPEC = {
    "cluster_dir": {"type": "path", "required": True},
    "hosts": {"type": "dict", "required": True},
    "backup_dir": {"type": "path"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMP_ERR)
    p = module.params
    try:
        controller = controller_state(p["cluster_dir"])
    except ValueError as exc:  # PkiError: a file in the directory is not what its name says
        module.fail_json(msg=f"cannot read the controller's cluster directory {p['cluster_dir']}: {exc}")
    for host, state in p["hosts"].items():
        if not isinstance(state, dict):
            module.fail_json(msg=f"hosts.{host}: expected the state cluster_state_info returns, got {state!r:.80}")
    try:
        evidence, problems = evaluate(controller, p["hosts"])
    except ValueError as exc:
        module.fail_json(msg=f"cannot compare the hosts with {p['cluster_dir']}: {exc}")
    result = {"changed": False, "running": evidence, "problems": problems}
    if problems:
        backups = list_backups(p["backup_dir"]) if p["backup_dir"] else []
        module.fail_json(msg=refusal(controller, evidence, problems, backups), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
