#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: file_digests
short_description: Report the sha256, mode and owner of many files in one call
version_added: 0.1.0
description:
  - Reads each path and reports whether it exists as a regular file, its sha256, mode, owner and group.
  - One call answers for a whole list, where M(ansible.builtin.stat) or M(ansible.builtin.copy) in a loop
    would cost one round trip per file. M(airgap.k8s.install_files) reads hosts the same way before it sends
    anything; the flannel role uses this module to check the CNI plugins it delegates to are there.
  - Only reads, so it supports check mode and never reports a change.
options:
  paths:
    description:
      - Absolute paths of the files to report.
    type: list
    elements: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read the installed binaries
  airgap.k8s.file_digests:
    paths:
      - /usr/local/bin/kubelet
      - /usr/local/bin/kube-proxy
  register: __installed

- name: Fail when one is missing
  ansible.builtin.assert:
    that: __installed.files | dict2items | rejectattr('value.exists') | list | length == 0
"""

RETURN = r"""
files:
  description:
    - One entry per asked path. C(exists) is false for a missing path and for anything that is not
      a regular file (a directory, a broken link); the other keys are then absent.
  returned: always
  type: dict
  sample:
    /usr/local/bin/kubelet:
      exists: true
      sha256: 4a5b0c...e1
      mode: "0755"
      owner: root
      group: root
    /usr/local/bin/kube-proxy:
      exists: false
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._hostread import digest

ARGUMENT_SPEC = {"paths": {"type": "list", "elements": "path", "required": True}}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    files = {}
    for path in module.params["paths"]:
        if not os.path.isabs(path):
            module.fail_json(msg=f"paths: {path!r} is not an absolute path")
        try:
            files[path] = {k: v for k, v in digest(path).items() if k != "signature"}
        except OSError as exc:
            module.fail_json(msg=f"cannot read {path}: {exc}")
    module.exit_json(changed=False, files=files)


if __name__ == "__main__":
    main()
