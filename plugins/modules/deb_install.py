#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deb_install
short_description: Install Debian packages from the bundle's .deb files, with one transfer and one apt-get call
version_added: 0.2.0
description:
  - Makes sure the O(packages) are installed on a Debian-family host, from the C(.deb) files of a directory on
    the controller (the bundle's C(os-packages/<distro>-<release>/<arch>)); no repository is ever contacted.
  - One read of the host's package database. When every wanted package is installed nothing is sent (the fast
    path of a re-run). Otherwise the controller picks the files that install the missing packages with every
    dependency the host lacks, sends them as one archive in one transfer, and one C(apt-get install) with every
    source list switched off installs them; the files are removed afterwards.
  - Fails before changing anything when a dependency is neither installed nor in the directory.
  - Packages that are installed are not upgraded.
  - An action plugin does the controller side; the module runs on the host.
options:
  packages:
    description: Package names to install.
    type: list
    elements: str
    required: true
  deb_dir:
    description: Controller directory holding the C(.deb) files (with their dependencies).
    type: path
    required: true
  stage:
    description: Internal, set by the action plugin - V(read) lists the installed packages, V(install) installs.
    type: str
    choices: [read, install]
    default: install
  archive:
    description: Internal, set by the action plugin - the transferred archive of C(.deb) files on the host.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: debian
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Install haproxy from the bundle
  airgap.k8s.deb_install:
    packages: [haproxy]
    deb_dir: "{{ airgap_bundle_dir }}/os-packages/debian-12/amd64"
"""

RETURN = r"""
installed:
  description: The packages (wanted ones and dependencies) installed, or that would be in check mode.
  returned: always
  type: list
  elements: str
  sample: [haproxy, liblua5.3-0]
sent_bytes:
  description: Size of the archive sent to the host (0 when nothing was sent).
  returned: always
  type: int
status:
  description: The read stage only - C(dpkg-query) output, one C(package<TAB>status<TAB>provides) line per package.
  returned: when O(stage=read)
  type: str
"""

import os
import shutil
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = {
    "packages": {"type": "list", "elements": "str", "required": True},
    "deb_dir": {"type": "path", "required": True},
    "stage": {"type": "str", "choices": ["read", "install"], "default": "install"},
    "archive": {"type": "path"},
}
# apt-get with every repository switched off: it sees only the files given.
APT_GET = [
    "apt-get",
    "-o", "Dir::Etc::SourceList=/dev/null",
    "-o", "Dir::Etc::SourceParts=/nonexistent",
    "-o", "APT::Get::List-Cleanup=false",
    "-o", "Dpkg::Options::=--force-confold",
    "-o", "Dpkg::Options::=--force-confdef",
]  # fmt: skip
QUERY = ["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Status}\t${Provides}\n"]


def status(module: AnsibleModule) -> str:
    if not shutil.which("dpkg-query"):
        module.fail_json(msg="dpkg-query is not on this host: deb_install installs .deb files on Debian-family hosts")
    rc, out, err = module.run_command(QUERY)
    if rc != 0:
        module.fail_json(msg=f"dpkg-query failed: {err.strip()}")
    return out


def installed(query: str) -> set[str]:
    return {line.split("\t")[0] for line in query.splitlines() if line.split("\t")[1:2] == ["installed"]}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if params["stage"] == "read":
        module.exit_json(changed=False, status=status(module))
    if module.check_mode or not params["archive"]:
        module.fail_json(msg="deb_install: the install stage needs the archive the action plugin sends")
    workdir = tempfile.mkdtemp(prefix="debs-", dir=os.path.dirname(params["archive"]))
    try:
        with tarfile.open(params["archive"]) as tar:
            names = [m.name for m in tar.getmembers() if m.isfile() and m.name.endswith(".deb") and "/" not in m.name]
            for name in names:
                source = tar.extractfile(name)
                with open(os.path.join(workdir, name), "wb") as out_file:
                    shutil.copyfileobj(source, out_file, 1 << 20)
        os.unlink(params["archive"])
        debs = [os.path.join(workdir, name) for name in sorted(names)]
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        cmd = [*APT_GET, "install", "--yes", "--no-install-recommends", *debs]
        rc, out, err = module.run_command(cmd, environ_update=env)
        if rc != 0:
            module.fail_json(
                msg=f"apt-get could not install {', '.join(params['packages'])} from {params['deb_dir']}: "
                f"{(err or out).strip()[-2000:]}",
                rc=rc,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    missing = [p for p in params["packages"] if p not in installed(status(module))]
    if missing:
        module.fail_json(msg=f"after apt-get, {', '.join(missing)} is still not installed")
    module.exit_json(changed=True, stdout=out)


if __name__ == "__main__":
    main()
