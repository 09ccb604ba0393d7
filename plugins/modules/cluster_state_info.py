#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_state_info
short_description: Read whether a host runs part of a cluster, and which CAs and keys it uses
version_added: 0.1.0
description:
  - Reports whether the host has etcd data (C(<etcd_data_dir>/member)) and a kube-apiserver unit, the CA certificates it
    trusts (Kubernetes, etcd and front-proxy CAs), its service-account public key, and the sha256 of each Secrets
    encryption key in its encryption configuration (never the key).
  - M(airgap.k8s.controller_state_check) compares this with the controller's cluster directory before a playbook changes
    anything.
  - Standard library only; only reads, so it supports check mode and never reports a change.
options:
  etcd_data_dir:
    description: etcd's data directory.
    type: path
    default: /var/lib/etcd
  kubernetes_dir:
    description: Directory of the Kubernetes configuration (C(pki/), C(encryption-config.yaml)).
    type: path
    default: /etc/kubernetes
  etcd_pki_dir:
    description: Directory of etcd's certificates.
    type: path
    default: /etc/etcd/pki
  systemd_dir:
    description: Directory of the systemd units this collection writes.
    type: path
    default: /etc/systemd/system
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
seealso:
  - module: airgap.k8s.controller_state_check
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read what runs here
  airgap.k8s.cluster_state_info:
  register: host_state
"""

RETURN = r"""
state:
  description: What the host holds.
  returned: always
  type: dict
  contains:
    etcd_data:
      description: Whether etcd has data here.
      type: bool
    kube_apiserver:
      description: Whether a kube-apiserver unit is installed.
      type: bool
    cas:
      description: The CA certificates found, as C(kind) (kubernetes, etcd, front-proxy), C(path) and C(pem).
      type: list
      elements: dict
    service_account:
      description: C(path) and C(pem) of the service-account public key; null when absent.
      type: dict
    encryption_keys:
      description: C(path) of the encryption configuration and C(sha256) of each key in it; null when absent.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._state import host_state

ARGUMENT_SPEC = {
    "etcd_data_dir": {"type": "path", "default": "/var/lib/etcd"},
    "kubernetes_dir": {"type": "path", "default": "/etc/kubernetes"},
    "etcd_pki_dir": {"type": "path", "default": "/etc/etcd/pki"},
    "systemd_dir": {"type": "path", "default": "/etc/systemd/system"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        state = host_state(**module.params)
    except OSError as exc:
        module.fail_json(msg=f"cannot read {exc.filename}: {exc.strerror}")
    module.exit_json(changed=False, state=state)


if __name__ == "__main__":
    main()
