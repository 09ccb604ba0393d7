# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Callback for tools/benchmark.py and the e2e tests: a machine-readable profile of one playbook run.

Enabled only where asked (ANSIBLE_CALLBACK_PLUGINS points here); it writes
AIRGAP_PROFILE_OUT as JSON: every task header in order with its wall time
(start of the task to the start of the next, as profile_tasks counts), what
each host did (ok, changed, skipped, failed) and, for the tasks that move
files (airgap.k8s.install_files, deb_install), the bytes each host was sent;
plus per-host counts.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: airgap_profile
type: aggregate
short_description: Write a JSON profile of a playbook run (tools/benchmark.py)
description:
  - Records each task header with its duration and each host's result, and writes them to the file named by
    the AIRGAP_PROFILE_OUT environment variable at the end of the run.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "airgap_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._start = time.monotonic()
        self._tasks: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._play = ""

    def _close(self) -> None:
        if self._current is not None:
            self._current["seconds"] = round(time.monotonic() - self._current.pop("_t0"), 3)
            self._tasks.append(self._current)
            self._current = None

    def _open(self, task: Any, handler: bool) -> None:
        self._close()
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        self._current = {
            "name": task.get_name(),
            "role": role,
            "play": self._play,
            "handler": handler,
            "action": task.action,
            "hosts": {},
            "sent_bytes": {},
            "_t0": time.monotonic(),
        }

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._close()
        self._play = play.get_name()

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._open(task, handler=False)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._open(task, handler=True)

    def _record(self, result: Any, status: str) -> None:
        if self._current is None:
            return
        host = result._host.get_name()
        if status == "ok" and result._result.get("changed", False):
            status = "changed"
        self._current["hosts"][host] = status
        if "sent_bytes" in result._result:
            self._current["sent_bytes"][host] = int(result._result["sent_bytes"])

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, "ok")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, "skipped")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close()
        hosts: dict[str, dict[str, int]] = {}
        for task in self._tasks:
            for host, status in task["hosts"].items():
                counts = hosts.setdefault(host, {"headers": 0, "executed": 0, "skipped": 0, "changed": 0})
                counts["headers"] += 1
                counts["skipped" if status == "skipped" else "executed"] += 1
                counts["changed"] += status == "changed"
        out = os.environ.get("AIRGAP_PROFILE_OUT")
        if out:
            with open(out, "w", encoding="utf-8") as handle:
                json.dump(
                    {"seconds": round(time.monotonic() - self._start, 1), "tasks": self._tasks, "hosts": hosts},
                    handle,
                    indent=1,
                )
