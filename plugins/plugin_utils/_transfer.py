# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Controller side of the one-archive transfers (install_files, deb_install).

- ``compressed_copy``: a compressed copy of a controller file, cached by its
  sha256 so that a bundle file is compressed once for every host and every
  run; concurrent forks wait on a lock instead of compressing it twice.
- ``build_archive``: one plain tar of the members a host needs (each member
  already compressed or raw), written to a private temporary directory.
- ``send_archive``: put that archive into the task's remote temporary
  directory through the connection plugin (one transfer, any connection).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

CHUNK = 1 << 20
# Smaller files travel raw: compressing them saves too little to pay for the work.
MIN_COMPRESS = 64 * 1024
# zstd -3 keeps about 28 % of a Go binary or image archive and compresses a
# 1 GB bundle in seconds; -19 keeps about 22 % but takes minutes (worth it
# once, cached, for a slow controller link). gzip is the fallback for a host
# without zstd.
LEVELS = {"zstd": 3, "gzip": 6}
SUFFIX = {"zstd": "zst", "gzip": "gz"}


class TransferError(Exception):
    """A controller-side failure with a message that says what to do."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            sha.update(block)
    return sha.hexdigest()


def controller_codecs() -> list[str]:
    return ["zstd", "gzip", "none"] if shutil.which("zstd") else ["gzip", "none"]


def pick_codec(wanted: str, size: int, host: Iterable[str]) -> str:
    """The codec for a file of SIZE bytes, given the task's choice and what the host can decode."""
    host = list(host)
    if wanted == "none" or size < MIN_COMPRESS:
        return "none"
    both = [c for c in controller_codecs() if c in host]
    if wanted == "auto":
        return both[0] if both else "none"
    if wanted not in both:
        side = "the controller" if wanted not in controller_codecs() else "the host"
        raise TransferError(f"compress={wanted}: {side} has no {wanted} (install it, or use compress=auto)")
    return wanted


def _compress(src: str, codec: str, level: int, out: Path) -> None:
    if codec == "zstd":
        subprocess.run(
            ["zstd", "-q", f"-{level}", "-T0", "-f", "-o", str(out), src],
            check=True,
            capture_output=True,
        )
        return
    deflate = zlib.compressobj(level, zlib.DEFLATED, 31)
    with open(src, "rb") as source, open(out, "wb") as sink:
        for block in iter(lambda: source.read(CHUNK), b""):
            sink.write(deflate.compress(block))
        sink.write(deflate.flush())


def compressed_copy(src: str, sha256: str, codec: str, cache_dir: str, level: int | None = None) -> Path:
    """SRC compressed with CODEC at LEVEL (default: LEVELS), from the cache or made now (once, under a lock)."""
    level = LEVELS[codec] if level is None else level
    cache = Path(os.path.expanduser(cache_dir))
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = cache / f"{sha256}.{SUFFIX[codec]}{level}"
    if path.exists():
        return path
    with open(cache / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{path.name}.")
            os.close(fd)
            try:
                _compress(src, codec, level, Path(tmp))
                os.replace(tmp, path)
            except (OSError, subprocess.CalledProcessError) as exc:
                Path(tmp).unlink(missing_ok=True)
                raise TransferError(f"cannot compress {src} into {cache}: {exc}") from exc
    return path


def build_archive(members: list[tuple[str, Path | bytes]], directory: str) -> Path:
    """A plain tar of MEMBERS (name, file or bytes) in DIRECTORY; files are not copied twice."""
    path = Path(directory) / "transfer.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, source in members:
            if isinstance(source, bytes):
                info = tarfile.TarInfo(name)
                info.size = len(source)
                info.mode = 0o600
                tar.addfile(info, io.BytesIO(source))
            else:
                info = tar.gettarinfo(str(source), arcname=name)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                with open(source, "rb") as handle:
                    tar.addfile(info, handle)
    return path


class TransferAction(ActionBase):
    """Base of the actions that read a host, then send it one archive only when something differs.

    Subclasses set MODULE (the host side), ARGUMENT_SPEC (the module's),
    INTERNAL (options only the action sets) and ERRORS (controller-side
    errors whose message becomes the task's), and implement converge().
    """

    # The remote temporary directory is made only when an archive is sent:
    # a converged host costs one module run, not mkdir + run + rm.
    TRANSFERS_FILES = False
    _requires_connection = True
    MODULE = ""
    ARGUMENT_SPEC: ClassVar[dict[str, Any]] = {}
    INTERNAL: tuple[str, ...] = ()
    ERRORS: tuple[type[Exception], ...] = (TransferError,)

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        spec = {k: v for k, v in self.ARGUMENT_SPEC.items() if k not in self.INTERNAL}
        _validation, args = self.validate_argument_spec(argument_spec=spec)
        try:
            return dict(result, **self.converge(args, task_vars or {}))
        except self.ERRORS as exc:
            raise AnsibleActionFail(str(exc)) from exc
        finally:
            if self._connection._shell.tmpdir is not None:
                self._remove_tmp_path(self._connection._shell.tmpdir)

    def converge(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def module(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """Run the host side; a failure becomes the task's failure with the module's message."""
        res = self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars)
        if res.get("failed"):
            raise AnsibleActionFail(res.get("msg", f"{self.MODULE} failed"), result=res)
        return res


def send_archive(action: Any, local: Path, name: str = "transfer.tar") -> str:
    """Put LOCAL into the task's remote temporary directory; return the remote path."""
    shell = action._connection._shell
    if shell.tmpdir is None:
        action._make_tmp_path()
    remote = shell.join_path(shell.tmpdir, name)
    action._transfer_file(str(local), remote)
    action._fixup_perms2((shell.tmpdir, remote))
    return str(remote)
