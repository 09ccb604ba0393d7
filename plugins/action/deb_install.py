# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Controller side of airgap.k8s.deb_install (see the module's documentation).

One read of the host's package database; when a wanted package is missing,
the controller resolves which .deb files the host needs, sends them as one
archive, and the module installs them with one apt-get call.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.airgap.k8s.plugins.modules.deb_install import ARGUMENT_SPEC
from ansible_collections.airgap.k8s.plugins.plugin_utils._deb import DebError, closure, installed_names, load_dir
from ansible_collections.airgap.k8s.plugins.plugin_utils._transfer import build_archive, send_archive

MODULE = "airgap.k8s.deb_install"


class ActionModule(ActionBase):
    # The remote temporary directory is made only when an archive is sent:
    # a converged host costs one module run, not mkdir + run + rm.
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        spec = {k: v for k, v in ARGUMENT_SPEC.items() if k not in ("stage", "archive")}
        _validation, args = self.validate_argument_spec(argument_spec=spec)
        try:
            return dict(result, **self._converge(args, task_vars or {}))
        except DebError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        finally:
            if self._connection._shell.tmpdir is not None:
                self._remove_tmp_path(self._connection._shell.tmpdir)

    def _module(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        res = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        if res.get("failed"):
            raise AnsibleActionFail(res.get("msg", f"{MODULE} failed"), result=res)
        return res

    def _converge(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        read = self._module({**args, "stage": "read"}, task_vars)
        have = installed_names(read["status"])
        missing = [p for p in args["packages"] if p not in have]
        out: dict[str, Any] = {"changed": False, "installed": [], "sent_bytes": 0}
        if not missing:
            return out
        debs = closure(load_dir(args["deb_dir"]), missing, have, args["deb_dir"])
        out.update(changed=True, installed=[d.package for d in debs])
        if self._task.check_mode:
            return out
        workdir = tempfile.mkdtemp(prefix="airgap-debs-")
        try:
            local = build_archive([(Path(d.path).name, Path(d.path)) for d in debs], workdir)
            out["sent_bytes"] = local.stat().st_size
            remote = send_archive(self, local)
            res = self._module({**args, "stage": "install", "archive": remote}, task_vars)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        out["stdout"] = res.get("stdout", "")
        return out
