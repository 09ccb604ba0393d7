# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Controller side of airgap.k8s.deb_install (see the module's documentation).

One read of the host's package database (dpkg-query run directly, no
module); when a wanted package is missing,
the controller resolves which .deb files the host needs, sends them as one
archive, and the module installs them with one apt-get call.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ansible_collections.airgap.k8s.plugins.modules.deb_install import ARGUMENT_SPEC, QUERY
from ansible_collections.airgap.k8s.plugins.plugin_utils._deb import DebError, closure, installed_names, load_dir
from ansible_collections.airgap.k8s.plugins.plugin_utils._transfer import TransferAction, build_archive, send_archive
from ansible_collections.airgap.k8s.plugins.plugin_utils._transfer import query as run_query


class ActionModule(TransferAction):
    MODULE = "airgap.k8s.deb_install"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    INTERNAL = ("stage", "archive")
    ERRORS = (DebError,)

    def converge(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        # dpkg-query straight from the shell; the module's read stage (which
        # explains a host without dpkg-query) only when that fails.
        query = run_query(self, QUERY)
        if query is None:
            query = self.module({**args, "stage": "read"}, task_vars)["status"]
        have = installed_names(query)
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
            res = self.module({**args, "stage": "install", "archive": remote}, task_vars)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        out["stdout"] = res.get("stdout", "")
        return out
