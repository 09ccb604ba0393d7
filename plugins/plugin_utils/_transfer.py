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
- ``TransferAction.read_host``: what the host has at a set of paths, read
  by module_utils/_hostread.py run as a plain script by the host's Python
  (one interpreter start, no module payload), with the sha256 of files
  whose stat signature has not changed since the last read taken from a
  per-host cache on the controller (``DigestCache``).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shlex
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

from ansible_collections.airgap.k8s.plugins.module_utils import _hostread

# The host side of read_host: the module_utils file itself, run as a script.
HOSTREAD_SOURCE = Path(_hostread.__file__).read_text(encoding="utf-8")

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


def query(action: ActionBase, argv: list[str]) -> str | None:
    """Stdout of ARGV, a read-only command any user may run (dpkg-query, systemctl show), run on the host without a module.

    Not sudoable: no become, and no pseudo-terminal (which ssh allocates for
    a sudoable command without input, and which would page, and end lines
    with CR LF). None when it fails: the caller uses its module instead.
    """
    res = action._low_level_execute_command(" ".join(shlex.quote(a) for a in argv), sudoable=False)
    return str(res.get("stdout", "")) if res.get("rc") == 0 else None


class DigestCache:
    """Per host, the stat signature and sha256 of each file at its last read (a JSON file on the controller).

    Only an optimisation: a missing, unreadable or stale cache makes the host
    hash its files again. Each host has its own file, written by the one
    worker that runs that host's task, replaced atomically.
    """

    def __init__(self, cache_dir: str, host: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host) or "_"
        self.path = Path(os.path.expanduser(cache_dir)) / "digests" / f"{safe}.json"
        try:
            self.entries: dict[str, list[Any]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}

    def known(self, paths: Iterable[str]) -> dict[str, list[Any]]:
        return {p: self.entries[p] for p in paths if isinstance(self.entries.get(p), list)}

    def update(self, files: dict[str, dict[str, Any]]) -> None:
        before = dict(self.entries)
        for path, have in files.items():
            sig = have.get("signature") or []
            if have.get("exists") and len(sig) == 4:
                self.entries[path] = [*sig, have["sha256"]]
            else:
                self.entries.pop(path, None)
        if self.entries == before:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".digests-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.entries, handle)
            os.replace(tmp, self.path)
        except OSError:
            pass


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
    # read_host: how old a file's ctime must be for its sha256 to be cached (module_utils/_hostread.py).
    SETTLE_NS = _hostread.SETTLE_NS

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

    def host_python(self, task_vars: dict[str, Any]) -> str | None:
        """The host's Python as an absolute path, when this task already knows it (else None)."""
        if getattr(self._task, "delegate_to", None):
            return None
        facts = task_vars.get("ansible_facts") or {}
        for candidate in (task_vars.get("ansible_python_interpreter"), facts.get("discovered_interpreter_python")):
            if not candidate:
                continue
            value = self._templar.template(candidate) if self._templar is not None else candidate
            if isinstance(value, str) and value.startswith("/"):
                return value
        return None

    def read_host(self, request: dict[str, Any], task_vars: dict[str, Any], cache_dir: str) -> dict[str, Any] | None:
        """_hostread's answer to REQUEST ({files, directories, read_content}), or None when it cannot run here.

        None (an unknown interpreter, a host where the script does not start)
        means: read with the module instead, which discovers the interpreter.
        """
        python = self.host_python(task_vars)
        if python is None:
            return None
        cache = DigestCache(cache_dir, str(task_vars.get("inventory_hostname", "")))
        data = json.dumps({**request, "known": cache.known(request.get("files", [])), "settle_ns": self.SETTLE_NS})
        cmd = f"{shlex.quote(python)} -c {shlex.quote(HOSTREAD_SOURCE)}"
        res = self._low_level_execute_command(cmd, sudoable=True, in_data=data)
        try:
            answer = json.loads(res.get("stdout", "")) if res.get("rc") == 0 else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return None
        if answer.get("failed"):
            raise AnsibleActionFail(str(answer.get("msg")))
        cache.update(answer["files"])
        return answer

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
