#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_verify
short_description: Check that the offline bundle holds every file an inventory needs
version_added: 0.1.0
description:
  - Computes, from the versions table and the inventory's choices, every file the install needs
    (binaries, archives, images, host packages for each OS and architecture present) and checks that the
    bundle's C(manifest.json) lists each one with the asked version and architecture, that the file exists,
    and that its sha256 matches the manifest.
  - Fails with one message listing every missing, corrupt or mismatched file and what to do about it;
    there is no partial success.
  - Runs on the controller (the first play of C(site.yml)) and only reads, so it supports check mode.
    Outside check mode it may write the hash cache C(.verify-cache.json) in O(bundle_dir) (see O(checksum)).
  - See C(docs/bundle.md) for the bundle format.
options:
  bundle_dir:
    description:
      - The unpacked bundle on the controller (the directory with C(manifest.json)), normally
        C(airgap_bundle_dir).
    type: path
    required: true
  artifacts:
    description:
      - The versions table, that is the C(airgap_artifacts) variable.
    type: dict
    required: true
  choices:
    description:
      - The inventory's choices. Keys used are C(container_runtime) (C(containerd) or C(docker)),
        C(kube_network_plugin) (C(flannel) or C(calico)), C(kube_version) and the other
        C(<component>_version) variables (for example C(etcd_version), C(cni_plugins_version)).
      - An optional C(versions) dict, keyed by component or variable name, overrides them.
      - A component without a version uses the table's C(default).
    type: dict
    default: {}
  arches:
    description:
      - Architectures present in the inventory (C(airgap_arch) of every host).
    type: list
    elements: str
    required: true
  os:
    description:
      - Operating systems present in the inventory, as C(<distro>-<major release>), for example C(debian-12).
        Host packages are required for each of them.
    type: list
    elements: str
    required: true
  checksum:
    description:
      - V(true) hashes every needed file with sha256, but trusts a hash recorded in C(bundle_dir/.verify-cache.json)
        by an earlier run when the file's size, mtime, ctime, inode and device are all unchanged.
        Any rewrite of a file changes its ctime, which cannot be set back from user space, so the cache only
        misses changes made below the file system (disk corruption, raw device writes).
      - V(full) rehashes every file and refreshes the cache. Use it after copying a bundle between machines or
        media, or when in doubt.
      - V(false) only checks that each file is listed and present.
    type: raw
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads; in check mode it does not write the hash cache either.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - airgap.k8s contributors (!UNKNOWN)
notes:
  - Hashing runs in two threads at roughly 200-300 MB/s on a small busy machine, so a 1.5 GB bundle takes
    5-8 seconds the first time; a run that can use the cache only reads file metadata.
"""

EXAMPLES = r"""
- name: Check the bundle before any host is touched
  airgap.k8s.bundle_verify:
    bundle_dir: "{{ airgap_bundle_dir }}"
    artifacts: "{{ airgap_artifacts }}"
    choices:
      kube_version: "{{ kube_version }}"
      container_runtime: "{{ container_runtime }}"
      kube_network_plugin: "{{ kube_network_plugin }}"
      etcd_version: "{{ etcd_version }}"
    arches: "{{ groups['k8s_cluster'] | map('extract', hostvars, 'airgap_arch') | unique }}"
    os: ["debian-12"]
  delegate_to: localhost
  run_once: true
  register: __bundle

- name: Use a verified path
  ansible.builtin.debug:
    msg: "{{ __bundle.artifacts['kube-apiserver']['amd64'].path }}"

- name: Presence only (fast, for a bundle just verified with checksum=full)
  airgap.k8s.bundle_verify:
    bundle_dir: "{{ airgap_bundle_dir }}"
    artifacts: "{{ airgap_artifacts }}"
    arches: [amd64]
    os: [debian-12]
    checksum: false
"""

RETURN = r"""
artifacts:
  description:
    - Every verified file the roles need, keyed by file name, then by architecture.
  returned: success
  type: dict
  sample:
    kube-apiserver:
      amd64:
        path: /srv/airgap/files/bundle/kubernetes/1.36.3/amd64/kube-apiserver
        sha256: 4a5b...e1
        version: 1.36.3
        kind: binary
        image: null
        component: kubernetes
    pause:
      amd64:
        path: /srv/airgap/files/bundle/images/amd64/pause_3.10.tar
        sha256: 9c1d...07
        version: "3.10"
        kind: image
        image: registry.k8s.io/pause:3.10
        component: pause
os_packages:
  description:
    - Host packages per OS and architecture; C(files) are every C(.deb) of that directory listed in the manifest
      (the named packages and their dependencies).
  returned: success
  type: dict
  sample:
    debian-12:
      amd64:
        dir: /srv/airgap/files/bundle/os-packages/debian-12/amd64
        files:
          - /srv/airgap/files/bundle/os-packages/debian-12/amd64/haproxy_2.6.12-1+deb12u2_amd64.deb
bundle_builder:
  description: How the bundle was made, C(from-source) or C(upstream).
  returned: success
  type: str
  sample: upstream
bundle_created:
  description: When the bundle was made (from C(manifest.json)).
  returned: success
  type: str
  sample: "2026-11-22T08:00:00Z"
checked:
  description: Number of files checked.
  returned: success
  type: int
  sample: 31
hashed:
  description: Number of files hashed in this run (the others had a valid cache entry, or O(checksum=false)).
  returned: success
  type: int
  sample: 2
problems:
  description: Each problem found, one line each (also in C(msg)).
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.airgap.k8s.plugins.module_utils._bundle import (
    BundleError,
    format_problems,
    required_artifacts,
    resolved_artifacts,
    resolved_os_packages,
    verify_bundle,
)


def checksum_mode(value: object) -> str:
    """Map the O(checksum) option to a mode of verify_bundle."""
    if isinstance(value, str) and value.strip().lower() == "full":
        return "full"
    try:
        return "cached" if boolean(value, strict=True) else "none"
    except TypeError:
        raise ValueError(f"checksum must be true, false or full, got {value!r}") from None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            bundle_dir=dict(type="path", required=True),
            artifacts=dict(type="dict", required=True),
            choices=dict(type="dict", default={}),
            arches=dict(type="list", elements="str", required=True),
            os=dict(type="list", elements="str", required=True),
            checksum=dict(type="raw", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        mode = checksum_mode(params["checksum"])
        required = required_artifacts(params["artifacts"], dict(params["choices"], os=params["os"]), params["arches"])
        result = verify_bundle(params["bundle_dir"], required, checksum=mode, write_cache=not module.check_mode)
        if not result.ok:
            module.fail_json(
                msg=format_problems(params["bundle_dir"], result),
                problems=[str(p) for p in result.problems],
                checked=result.checked,
            )
        artifacts = resolved_artifacts(params["bundle_dir"], result)
        os_packages = resolved_os_packages(params["bundle_dir"], result)
    except (BundleError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(
        changed=False,
        artifacts=artifacts,
        os_packages=os_packages,
        bundle_builder=result.manifest.builder,
        bundle_created=result.manifest.created,
        checked=result.checked,
        hashed=result.hashed,
    )


if __name__ == "__main__":
    main()
