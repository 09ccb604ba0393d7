# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Host side of airgap.k8s.install_files and file_digests: read what is there, install what differs.

``digest`` and ``directory_state`` only read. ``install`` takes one archive
(a plain tar whose members are the wanted files, each raw or compressed with
zstd or gzip), writes every file to a temporary name next to its
destination and checks its sha256 (the bundle manifest's, or the
controller's copy's): a wrong or truncated transfer replaces nothing. Then,
in the order given, each file's validate command runs and the file is
renamed into place, so a file validates against the ones listed before it
(a unit file whose ExecStart binary arrives in the same call, a
configuration checked by the new binary). A failed validation stops there:
the files before it are in place, it and the ones after it are not.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import shlex
import subprocess
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Iterable, Mapping
from typing import IO, Any

from ansible_collections.airgap.k8s.plugins.module_utils._hostread import CHUNK, directory_state

CODECS = ("zstd", "gzip", "none")


class InstallError(Exception):
    """A file could not be installed; nothing was replaced."""


def _ids(owner: str, group: str) -> tuple[int, int]:
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise InstallError(f"user {owner!r} does not exist on this host") from None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise InstallError(f"group {group!r} does not exist on this host") from None
    return uid, gid


def _attributes(path: str, mode: str, owner: str, group: str) -> None:
    uid, gid = _ids(owner, group)
    os.chown(path, uid, gid)
    os.chmod(path, int(mode, 8))


def ensure_directories(directories: Iterable[Mapping[str, str]]) -> list[str]:
    """Create or fix each directory (path, mode, owner, group); return those changed."""
    changed = []
    for d in directories:
        have = directory_state(d["path"])
        if have.get("other"):
            raise InstallError(f"{d['path']} exists and is not a directory")
        if not have["exists"]:
            os.makedirs(d["path"], mode=0o755, exist_ok=True)
        elif (have["mode"], have["owner"], have["group"]) == (d["mode"].zfill(4), d["owner"], d["group"]):
            continue
        _attributes(d["path"], d["mode"], d["owner"], d["group"])
        changed.append(d["path"])
    return changed


def _pump(source: IO[bytes], sink: IO[bytes]) -> None:
    try:
        for block in iter(lambda: source.read(CHUNK), b""):
            sink.write(block)
    finally:
        sink.close()


def _decode(source: IO[bytes], codec: str, out: IO[bytes]) -> str:
    """Write SOURCE decoded with CODEC to OUT; return the sha256 of what was written."""
    sha = hashlib.sha256()
    if codec == "zstd":
        proc = subprocess.Popen(["zstd", "-d", "-q", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if proc.stdin is None or proc.stdout is None:
            raise RuntimeError("zstd: no pipes")
        feeder = threading.Thread(target=_pump, args=(source, proc.stdin), daemon=True)
        feeder.start()
        for block in iter(lambda: proc.stdout.read(CHUNK), b""):
            sha.update(block)
            out.write(block)
        feeder.join()
        if proc.wait() != 0:
            raise InstallError("zstd could not decompress the transferred file")
    elif codec == "gzip":
        inflate = zlib.decompressobj(wbits=31)
        for block in iter(lambda: source.read(CHUNK), b""):
            data = inflate.decompress(block)
            sha.update(data)
            out.write(data)
        data = inflate.flush()
        sha.update(data)
        out.write(data)
        if not inflate.eof:
            raise InstallError("the transferred gzip stream is truncated")
    elif codec == "none":
        for block in iter(lambda: source.read(CHUNK), b""):
            sha.update(block)
            out.write(block)
    else:
        raise InstallError(f"unknown codec {codec!r} (use one of {', '.join(CODECS)})")
    return sha.hexdigest()


def _validate(command: str, path: str) -> None:
    if "%s" not in command:
        raise InstallError(f"validate command {command!r} has no %s")
    argv = [path if part == "%s" else part.replace("%s", path) for part in shlex.split(command)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InstallError(f"validation failed ({command}): {(proc.stderr or proc.stdout).strip()}")


def _stage(tar: tarfile.TarFile, f: Mapping[str, Any], staged: list[tuple[str, str]]) -> None:
    """Write F's member next to its dest, check its sha256 and set its attributes."""
    parent = os.path.dirname(f["dest"])
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(f['dest'])}.")
    staged.append((tmp, f["dest"]))
    source = tar.extractfile(f["member"])
    if source is None:
        raise InstallError(f"{f['member']} is not a file in the archive")
    with os.fdopen(fd, "wb") as out:
        got = _decode(source, f.get("codec") or "none", out)
    if got != f["sha256"]:
        raise InstallError(
            f"{f['dest']}: the transferred content has sha256 {got}, expected {f['sha256']}"
            " (a corrupt bundle file or transfer cache entry on the controller)"
        )
    _attributes(tmp, f["mode"], f["owner"], f["group"])


def install(archive: str | None, files: list[Mapping[str, Any]]) -> list[str]:
    """Install FILES (dest, sha256, mode, owner, group, member, codec, validate) from ARCHIVE.

    A file with a ``member`` gets new content from that archive member; one
    without only gets its mode, owner and group fixed. Returns the dests changed.
    """
    staged: list[tuple[str, str]] = []
    new = [f for f in files if f.get("member")]
    changed: list[str] = []
    try:
        if new:
            if not archive:
                raise InstallError(f"{new[0]['dest']}: no archive to read {new[0]['member']} from")
            with tarfile.open(archive) as tar:
                for f in new:
                    _stage(tar, f, staged)
        by_dest = {dest: tmp for tmp, dest in staged}
        for f in new:
            if f.get("validate"):
                try:
                    _validate(f["validate"], by_dest[f["dest"]])
                except InstallError as exc:
                    done = f" ({', '.join(changed)} installed before it)" if changed else ""
                    raise InstallError(f"{f['dest']}: {exc}{done}") from None
            os.replace(by_dest[f["dest"]], f["dest"])
            staged.remove((by_dest[f["dest"]], f["dest"]))
            changed.append(f["dest"])
        for f in files:
            if not f.get("member"):
                _attributes(f["dest"], f["mode"], f["owner"], f["group"])
                changed.append(f["dest"])
        return changed
    finally:
        for tmp, _dest in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def remove(paths: Iterable[str]) -> list[str]:
    """Remove each path that exists as a file or symlink; return those removed."""
    removed = []
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            raise InstallError(f"{path} is a directory; absent takes files")
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
