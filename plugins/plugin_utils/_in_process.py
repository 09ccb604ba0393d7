# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Run a collection module on the controller without packaging it.

Most of the collection's controller-side modules (certificates, kubeconfigs,
inventory and bundle checks, cluster reads) run with ``delegate_to:
localhost``. Ansible runs such a module like a remote one: it packages the
module and every module_util it imports into a zip (AnsiballZ), starts a new
Python, and that Python compiles ``ansible.module_utils.basic`` and its
imports from the zip's source on every run (a zip holds no byte code). On a
2-core controller that was about half a second of CPU per run, most of a
no-change site.yml's time in these tasks.

``InProcessAction`` is the action plugin of such a module. When the task runs
on the controller (the ``local`` connection, no become, no async, no task
environment) it forks the worker process that runs the task, and the child
runs the module's own ``main()`` with the same arguments and internal
options ``_execute_module`` would send (check and diff mode, no_log, ...);
its output is parsed as a module's. The module's code, its argument checks
and its result are the same; only the packaging and the new interpreter are
gone. Anywhere else (a module run on a node) the plugin runs the module as
usual.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import sys
import tempfile
import traceback
from typing import Any

from ansible.module_utils import basic
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

# The serialization profile of a module that declares no metadata (all of the collection's).
PROFILE = "legacy"


def _child(module_fqcn: str, params: bytes, out: str, err: str) -> None:
    """In the forked child: run the module's code as AnsiballZ would, with stdout/stderr to files; never returns."""
    code = 1
    try:
        fd_out = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        fd_err = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
        basic._ANSIBLE_ARGS = params
        basic._ANSIBLE_PROFILE = PROFILE
        namespace, name = module_fqcn.rsplit(".", 1)
        runpy.run_module(f"ansible_collections.{namespace}.plugins.modules.{name}", run_name="__main__", alter_sys=True)
        print(json.dumps({"failed": True, "msg": f"{module_fqcn} did not exit"}))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # reported as the module's failure, as AnsiballZ does
        print(json.dumps({"failed": True, "msg": f"{module_fqcn}: {exc!r}", "exception": traceback.format_exc()}))
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # no atexit handlers: they belong to the parent (e.g. its local tmp directory)


class InProcessAction(ActionBase):
    """Action plugin of a controller-side module: see the module docstring."""

    TRANSFERS_FILES = False

    def in_process(self) -> bool:
        """Whether this task runs the module on the controller, where a fork can stand in for a new Python."""
        return (
            getattr(self._connection, "transport", None) == "local"
            and not self._play_context.become
            and not self._task.async_val
            and not any(self._task.environment or ())
        )

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        module = self._task.resolved_action or self._task.action
        args = dict(self._task.args)
        if not self.in_process():
            return dict(result, **self._execute_module(module_name=module, module_args=args, task_vars=task_vars))
        return dict(result, **self.run_forked(module, args, task_vars))

    def run_forked(self, module: str, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """The module's result, from its main() in a forked child of this process."""
        workdir = tempfile.mkdtemp(prefix="airgap-module-")
        try:
            self._update_module_args(module, args, task_vars)
            # The module's own temporary directory, removed here (the child skips atexit handlers).
            args["_ansible_tmpdir"] = workdir
            encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
            params = json.dumps({"ANSIBLE_MODULE_ARGS": args}, cls=encoder).encode()
            out, err = os.path.join(workdir, "stdout"), os.path.join(workdir, "stderr")
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's coverage is not collected
                _child(module, params, out, err)
            _pid, status = os.waitpid(pid, 0)
            with open(out, encoding="utf-8", errors="replace") as f:
                stdout = f.read()
            with open(err, encoding="utf-8", errors="replace") as f:
                stderr = f.read()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        rc = os.waitstatus_to_exitcode(status)
        data = self._parse_returned_data({"rc": rc, "stdout": stdout, "stderr": stderr}, PROFILE)
        remove_internal_keys(data)
        return data
