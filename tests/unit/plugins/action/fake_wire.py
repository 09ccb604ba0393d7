# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The wire of an action plugin, replaced for unit tests: a local remote-tmp directory and local copies."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def connection() -> SimpleNamespace:
    return SimpleNamespace(_shell=SimpleNamespace(tmpdir=None, join_path=os.path.join))


class FakeWire:
    """Mixin for an ActionModule: remote temporary directory under self.root, transfers recorded in self.sent."""

    root: Path
    sent: list[Any]
    _connection: Any

    def _make_tmp_path(self, remote_user: str | None = None) -> str:
        path = self.root / "remote-tmp"
        path.mkdir(exist_ok=True)
        self._connection._shell.tmpdir = str(path)
        return str(path)

    def _transfer_file(self, local_path: str, remote_path: str) -> str:
        shutil.copy(local_path, remote_path)
        return remote_path

    def _fixup_perms2(self, remote_paths: Any, remote_user: str | None = None, execute: bool = True) -> None:
        return None

    def _remove_tmp_path(self, tmp_path: str, force: bool = False) -> None:
        shutil.rmtree(tmp_path, ignore_errors=True)
        self._connection._shell.tmpdir = None

    def _low_level_execute_command(
        self, cmd: str, sudoable: bool = True, in_data: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Run CMD here with /bin/sh, as the host would; recorded as a "script" run."""
        getattr(self, "runs", []).append("script")
        proc = subprocess.run(["/bin/sh", "-c", cmd], input=in_data, capture_output=True, text=True, check=False)
        return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
