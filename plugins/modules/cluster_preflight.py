#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_preflight
short_description: Check an airgap.k8s inventory before any host is changed
version_added: 0.1.0
description:
  - Checks the cluster's networks, groups, hosts and choices and fails with one message listing every problem.
  - Runs on the controller and reads nothing but its arguments, so it is safe in check mode.
options:
  cidrs:
    description:
      - Networks that must be valid and pairwise disjoint, keyed by the variable name that sets them
        (for example C(kube_pods_cidr), C(kube_service_cidr), C(kube_node_cidr)). Empty values are skipped.
    type: dict
    required: true
  groups:
    description:
      - Inventory groups C(etcd), C(kube_control_plane) and C(kube_node), each a list of host names.
    type: dict
    required: true
  hosts:
    description:
      - Per host a dict with C(ip) and optionally C(node_name).
    type: dict
    required: true
  choices:
    description:
      - The cluster's choices, for example C(kube_version), C(etcd_version), C(container_runtime),
        C(kube_network_plugin), C(kube_proxy_mode), C(kube_cgroup_driver).
    type: dict
    required: true
  supported_minors:
    description:
      - Kubernetes minor versions this collection supports, for example C(["1.35", "1.36"]).
    type: list
    elements: str
    default: []
  etcd_supported:
    description:
      - The etcd versions each Kubernetes minor works with (the versions table's C(kubernetes.etcd_supported)),
        Kubernetes minor to C({min, minors}). When given, C(choices.etcd_version) must be at least C(min) and of
        one of C(minors) for the minor of C(choices.kube_version).
    type: dict
  fail_on_warnings:
    description:
      - Treat warnings (for example an even etcd member count) as errors.
    type: bool
    default: false
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check the inventory
  airgap.k8s.cluster_preflight:
    cidrs:
      kube_pods_cidr: "{{ kube_pods_cidr }}"
      kube_service_cidr: "{{ kube_service_cidr }}"
      kube_node_cidr: "{{ kube_node_cidr }}"
    groups:
      etcd: "{{ groups['etcd'] | default([]) }}"
      kube_control_plane: "{{ groups['kube_control_plane'] | default([]) }}"
      kube_node: "{{ groups['kube_node'] | default([]) }}"
    hosts: "{{ {'node1': {'ip': '192.0.2.11'}} }}"
    choices:
      kube_version: "1.36.3"
      etcd_version: "3.6.16"
      container_runtime: containerd
    supported_minors: "{{ airgap_artifacts.kubernetes.supported }}"
    etcd_supported: "{{ airgap_artifacts.kubernetes.etcd_supported }}"
"""

RETURN = r"""
warnings_found:
  description: Problems that do not stop the install.
  returned: always
  type: list
  elements: str
errors:
  description: Problems that stop the install (the module fails when this is not empty).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._preflight import check_cluster


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "cidrs": {"type": "dict", "required": True},
            "groups": {"type": "dict", "required": True},
            "hosts": {"type": "dict", "required": True},
            "choices": {"type": "dict", "required": True},
            "supported_minors": {"type": "list", "elements": "str", "default": []},
            "etcd_supported": {"type": "dict"},
            "fail_on_warnings": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    report = check_cluster(
        p["cidrs"], p["groups"], p["hosts"], p["choices"], p["supported_minors"], etcd_supported=p["etcd_supported"]
    )
    for warning in report.warnings:
        module.warn(warning)
    errors = list(report.errors)
    if p["fail_on_warnings"]:
        errors += report.warnings
    result = {"changed": False, "errors": errors, "warnings_found": report.warnings}
    if errors:
        module.fail_json(
            msg="The inventory has problems; nothing was changed. Fix these:\n- " + "\n- ".join(errors), **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
