#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pki_cert_info
short_description: Collect the certificates a host uses, from files, kubeconfigs and TLS endpoints
version_added: 0.1.0
description:
  - Reads every certificate in O(paths) (PEM files, and the CA and client certificates of kubeconfigs, embedded or
    referenced) and the certificate each of O(endpoints) presents, and returns them as PEM text.
  - A directory in O(paths) is searched recursively for C(*.crt), C(*.pem), C(*.cert), C(*.conf) and
    C(*.kubeconfig); C(*.key) files are never read. From a file holding a certificate and its key (haproxy's
    C(healthcheck.pem)) only the certificate is returned, and from a kubeconfig never C(client-key-data).
  - Standard library only, so it runs on hosts without Python packages; M(airgap.k8s.pki_cert_report) parses and
    sorts the result on the controller.
  - Only reads, so it supports check mode and never reports a change.
options:
  paths:
    description:
      - Absolute paths of files or directories. Paths that do not exist are skipped and listed in RV(missing).
    type: list
    elements: path
    default: []
  endpoints:
    description:
      - TLS servers, as C(host:port) or C(https://host:port), whose presented certificate is read (not verified).
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds to wait for each endpoint.
    type: float
    default: 5
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
seealso:
  - module: airgap.k8s.pki_cert_report
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Collect what this node uses
  airgap.k8s.pki_cert_info:
    paths: [/etc/kubernetes, /etc/etcd/pki, /var/lib/kubelet/pki, /etc/haproxy/pki]
    endpoints: ["{{ ip }}:10250"]
  register: node_certs
"""

RETURN = r"""
certificates:
  description: One entry per certificate, in the order found.
  returned: always
  type: list
  elements: dict
  contains:
    location:
      description:
        - The file, C(<kubeconfig>#<field>) (with C(=<file>) for a referenced file), or C(https://host:port).
      type: str
      sample: /etc/kubernetes/kubelet.conf#client-certificate-data
    kind:
      description: C(file), C(kubeconfig) or C(endpoint).
      type: str
    index:
      description: Position among the certificates of that location (a chain or a CA bundle has several).
      type: int
    pem:
      description: The certificate, PEM.
      type: str
errors:
  description: Files or endpoints that could not be read, as C(path) and C(error).
  returned: always
  type: list
  elements: dict
missing:
  description: Entries of O(paths) that do not exist.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._certscan import endpoint_certificate, scan

ARGUMENT_SPEC = {
    "paths": {"type": "list", "elements": "path", "default": []},
    "endpoints": {"type": "list", "elements": "str", "default": []},
    "timeout": {"type": "float", "default": 5},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    for path in module.params["paths"]:
        if not os.path.isabs(path):
            module.fail_json(msg=f"paths: {path!r} is not an absolute path")
    found, errors, missing = scan(module.params["paths"])
    for endpoint in module.params["endpoints"]:
        try:
            found.append(endpoint_certificate(endpoint, module.params["timeout"]))
        except (OSError, ValueError) as exc:
            errors.append({"path": endpoint, "error": str(exc)})
    module.exit_json(changed=False, certificates=[f.as_dict() for f in found], errors=errors, missing=missing)


if __name__ == "__main__":
    main()
