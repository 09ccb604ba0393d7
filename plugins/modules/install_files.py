#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: install_files
short_description: Converge a set of files and directories on a host with one transfer
version_added: 0.2.0
description:
  - Installs files from the controller (bundle files, certificates, kubeconfigs, rendered templates) and creates
    directories, in one task. One read tells what the host has (sha256, mode, owner, group); only the files that
    differ are sent, as one archive in one transfer, large ones compressed (zstd when both sides have it,
    else gzip); files whose content is right but whose mode or owner differ are only fixed.
  - On the host every new file is written next to its destination and its sha256 is checked against the wanted
    content (the bundle manifest's, or the controller copy's); a wrong transfer replaces nothing. Then, in the
    order of O(files), each file's O(files[].validate) command runs and the file is renamed into place, so a file
    validates against those listed before it (a unit whose binary comes in the same call). A failed validation
    stops there - the files before it are in place, it and those after it are not.
  - Compressed copies of bundle files are kept on the controller in O(cache_dir), keyed by sha256, so each
    file is compressed once, whatever the number of hosts.
  - A converged host costs one read and no transfer. Check mode reports what would change.
  - The read runs C(module_utils/_hostread.py) as a plain script with the host's Python when the task knows that
    interpreter (no module payload), else this module's read stage. A file whose stat signature (inode, size,
    mtime and ctime) is the one recorded in O(cache_dir) at the last read is not hashed again; a file changed less
    than 2 seconds before a read is not recorded.
  - An action plugin does the controller side; the module runs on the host.
options:
  files:
    description: The files to converge.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: Absolute path on the host.
        type: path
        required: true
      src:
        description:
          - A file on the controller. Exclusive with O(files[].content).
          - An absolute path, or with O(bundle_dir) a path inside the bundle (its sha256 then comes from the
            bundle's C(manifest.json), which the preflight verified), or else a file in the role's C(files/).
        type: path
      content:
        description: The file's content (for example a rendered template). Exclusive with O(files[].src).
        type: str
      sha256:
        description:
          - The sha256 of O(files[].src) when known; otherwise it comes from the bundle manifest (O(bundle_dir))
            or the controller reads the file.
        type: str
      mode:
        description: File mode, as an octal string.
        type: str
        default: "0644"
      owner:
        description: Owner name.
        type: str
        default: root
      group:
        description: Group name.
        type: str
        default: root
      validate:
        description:
          - Command that checks the new file before it replaces the old one; C(%s) is the new file's path.
        type: str
      diff:
        description:
          - Show this file's old and new text in diff mode (O(files[].content) files only). Set to false for
            secrets.
        type: bool
        default: true
      member:
        description: Internal, set by the action plugin - the archive member holding the new content.
        type: str
      codec:
        description: Internal, set by the action plugin - how the member is compressed.
        type: str
        choices: [zstd, gzip, none]
  absent:
    description:
      - Files that must not exist (a key a setting no longer wants, a file an earlier version wrote). Removed after
        the O(files) are in place; a missing path is no change.
    type: list
    elements: path
    default: []
  require:
    description:
      - Files that must already be on the host (an earlier stage installs them), read in the same read as O(files).
        When one is missing the task fails before anything changes, with O(require_msg) and the missing paths.
      - Not enforced in check mode, where the earlier stage may not have run.
    type: list
    elements: path
    default: []
  require_msg:
    description: The failure message when a O(require) file is missing; the missing paths are appended.
    type: str
    default: Files this task needs are missing.
  directories:
    description: Directories to create (with missing parents) or fix, before the files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path on the host.
        type: path
        required: true
      mode:
        description: Directory mode, as an octal string.
        type: str
        default: "0755"
      owner:
        description: Owner name.
        type: str
        default: root
      group:
        description: Group name.
        type: str
        default: root
  bundle_dir:
    description:
      - The unpacked bundle on the controller. Relative O(files[].src) paths are paths inside it, and their
        sha256 comes from its C(manifest.json).
    type: path
  compress:
    description:
      - How files of at least 64 KiB travel. V(auto) is zstd when the controller and the host both have the
        C(zstd) binary, else gzip (Python's zlib, on every host). Smaller files and V(none) travel as they are.
    type: str
    choices: [auto, zstd, gzip, none]
    default: auto
  compress_level:
    description:
      - Compression level; default 3 for zstd (fast, about 28 % of the size of a Go binary), 6 for gzip.
        zstd 19 sends about a fifth less but compresses a bundle for minutes (paid once, cached) - worth it
        when the controller's link is slow.
    type: int
  cache_dir:
    description:
      - Controller directory for the compressed copies (one per sha256 and codec) and, under C(digests/), each host's
        file digests from the last read (stat signature and sha256), so that the host hashes only the files that
        changed since. Safe to delete.
    type: path
    default: ~/.cache/airgap-k8s/transfer
  stage:
    description: Internal, set by the action plugin - V(read) reports what the host has, V(install) applies.
    type: str
    choices: [read, install]
    default: install
  archive:
    description: Internal, set by the action plugin - the transferred archive on the host.
    type: path
  read_content:
    description: Internal, set by the action plugin - files whose text the read stage returns, for diff mode.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: partial
    details: Text of O(files[].content) files; other files are listed by name.
  platform:
    platforms: posix
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Install kubelet, its certificates, configuration and unit
  airgap.k8s.install_files:
    bundle_dir: "{{ airgap_bundle_dir }}"
    directories:
      - {path: /var/lib/kubelet/pki, mode: "0700"}
    files:
      - src: kubernetes/1.36.3/amd64/kubelet
        dest: /usr/local/bin/kubelet
        mode: "0755"
      - src: "{{ airgap_cluster_dir }}/pki/kubelet/{{ inventory_hostname }}-serving.key"
        dest: /var/lib/kubelet/pki/kubelet.key
        mode: "0600"
      - content: "{{ lookup('ansible.builtin.template', 'kubelet.service.j2') }}"
        dest: /etc/systemd/system/kubelet.service
        validate: systemd-analyze verify %s
  notify: Restart kubelet
"""

RETURN = r"""
changed_files:
  description: Files whose content, mode, owner or group changed (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/usr/local/bin/kubelet]
removed_files:
  description: O(absent) paths that existed and were removed (or would be, in check mode).
  returned: always
  type: list
  elements: str
changed_directories:
  description: Directories created or fixed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
sent_bytes:
  description: Size of the archive sent to the host (0 when nothing was sent).
  returned: always
  type: int
files:
  description: The read stage only - what the host has, per path (see M(airgap.k8s.file_digests)).
  returned: when O(stage=read)
  type: dict
directories:
  description: The read stage only - each directory's existence, mode, owner and group.
  returned: when O(stage=read)
  type: dict
codecs:
  description: The read stage only - the codecs the host can decompress.
  returned: when O(stage=read)
  type: list
  elements: str
"""

import contextlib
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._files import InstallError, ensure_directories, install, remove
from ansible_collections.airgap.k8s.plugins.module_utils._hostread import read

_FILE = {
    "dest": {"type": "path", "required": True},
    "src": {"type": "path"},
    "content": {"type": "str", "no_log": True},
    "sha256": {"type": "str"},
    "mode": {"type": "str", "default": "0644"},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "validate": {"type": "str"},
    "diff": {"type": "bool", "default": True},
    "member": {"type": "str"},
    "codec": {"type": "str", "choices": ["zstd", "gzip", "none"]},
}
_DIRECTORY = {
    "path": {"type": "path", "required": True},
    "mode": {"type": "str", "default": "0755"},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
}
ARGUMENT_SPEC = {
    "files": {"type": "list", "elements": "dict", "default": [], "options": _FILE},
    "absent": {"type": "list", "elements": "path", "default": []},
    "require": {"type": "list", "elements": "path", "default": []},
    "require_msg": {"type": "str", "default": "Files this task needs are missing."},
    "directories": {"type": "list", "elements": "dict", "default": [], "options": _DIRECTORY},
    "bundle_dir": {"type": "path"},
    "compress": {"type": "str", "choices": ["auto", "zstd", "gzip", "none"], "default": "auto"},
    "compress_level": {"type": "int"},
    "cache_dir": {"type": "path", "default": "~/.cache/airgap-k8s/transfer"},
    "stage": {"type": "str", "choices": ["read", "install"], "default": "install"},
    "archive": {"type": "path"},
    "read_content": {"type": "list", "elements": "path", "default": []},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    paths = (
        [f["dest"] for f in params["files"]]
        + [d["path"] for d in params["directories"]]
        + params["absent"]
        + params["require"]
    )
    for path in paths:
        if not os.path.isabs(path):
            module.fail_json(msg=f"{path!r} is not an absolute path")
    if params["stage"] == "read":
        try:
            request = {
                "files": [f["dest"] for f in params["files"]] + params["absent"] + params["require"],
                "directories": [d["path"] for d in params["directories"]],
                "read_content": params["read_content"],
            }
            module.exit_json(changed=False, **read(request))
        except OSError as exc:
            module.fail_json(msg=f"cannot read {exc.filename}: {exc.strerror}")
    if module.check_mode:
        module.fail_json(msg="install_files: the install stage does not run in check mode (the action plugin reports)")
    try:
        dirs = ensure_directories(params["directories"])
        changed = install(params["archive"], params["files"])
        removed = remove(params["absent"])
    except (InstallError, OSError) as exc:
        module.fail_json(msg=str(exc))
    finally:
        if params["archive"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(params["archive"])
    module.exit_json(
        changed=bool(dirs or changed or removed), changed_files=changed, removed_files=removed, changed_directories=dirs
    )


if __name__ == "__main__":
    main()
