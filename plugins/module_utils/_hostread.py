# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Read what a host has at a set of paths: the standard library only, so it also runs as a plain script.

install_files' read stage imports it; its action plugin sends this very
file's source to the host's Python as a script (``python3 -c``, the request
as one JSON document on stdin, the answer as JSON on stdout), which costs
the host a bare interpreter start instead of a module run (no AnsiballZ
payload, no ``ansible.module_utils.basic`` compiled from a zip).

``known`` carries what the controller saw at the last read of a file: its
stat signature (inode, size, mtime and ctime in nanoseconds) and sha256.
A file whose signature is unchanged is not read again; any write, rename,
chmod or chown changes its ctime, which no program can set back, so a
changed file is always hashed. The kernel stamps times at its clock tick
(milliseconds), so a file changed within the tick of a read could keep its
signature: as in git's "racy" rule, a file whose ctime is less than
``settle_ns`` (2 s) old gets no signature to cache and is hashed again next
time.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import sys
import time
from collections.abc import Callable
from typing import Any

CHUNK = 1 << 20
MAX_TEXT = 64 * 1024
SETTLE_NS = 2_000_000_000


def _name(lookup: Callable[[int], Any], ident: int) -> str:
    try:
        return str(lookup(ident)[0])
    except KeyError:
        return str(ident)


def signature(st: os.stat_result) -> list[int]:
    """What must stay the same for a file's cached sha256 to stay true."""
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def digest(path: str, known: list[Any] | None = None, settle_ns: int = SETTLE_NS) -> dict[str, Any]:
    """What is at PATH: existence, sha256, mode ("0755"), owner and group names, stat signature.

    KNOWN is [inode, size, mtime_ns, ctime_ns, sha256] from an earlier read:
    when the signature still matches, its sha256 is returned without reading
    the file. The signature is empty (nothing to cache) for a file changed
    less than SETTLE_NS ago or while it was read.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"exists": False}
    if not stat.S_ISREG(st.st_mode):
        return {"exists": False}
    sig = signature(st)
    if known and list(known[:4]) == sig:
        sha256 = str(known[4])
    else:
        sha = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                sha.update(block)
        sha256 = sha.hexdigest()
        # Read again: a file written while it was hashed gets no signature to cache.
        if signature(os.stat(path)) != sig or st.st_ctime_ns > time.time_ns() - settle_ns:
            sig = []
    return {
        "exists": True,
        "sha256": sha256,
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "owner": _name(pwd.getpwuid, st.st_uid),
        "group": _name(grp.getgrgid, st.st_gid),
        "signature": sig,
    }


def directory_state(path: str) -> dict[str, Any]:
    """Whether PATH is a directory, with its mode, owner and group."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"exists": False}
    if not stat.S_ISDIR(st.st_mode):
        return {"exists": False, "other": True}
    return {
        "exists": True,
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "owner": _name(pwd.getpwuid, st.st_uid),
        "group": _name(grp.getgrgid, st.st_gid),
    }


def codecs() -> list[str]:
    """Codecs this host can decompress: zstd needs its binary, gzip is Python's zlib."""
    return ["zstd", "gzip", "none"] if shutil.which("zstd") else ["gzip", "none"]


def text(path: str) -> str | None:
    """PATH's text for a diff, or None when it is missing, binary or over 64 KiB."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT + 1)
    except OSError:
        return None
    if len(data) > MAX_TEXT:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to a request {files, directories, read_content, known, settle_ns}: every path must be absolute."""
    known = request.get("known") or {}
    paths = (
        list(request.get("files", [])) + list(request.get("directories", [])) + list(request.get("read_content", []))
    )
    for path in paths:
        if not os.path.isabs(path):
            raise ValueError(f"{path!r} is not an absolute path")
    return {
        "files": {
            p: digest(p, known.get(p), int(request.get("settle_ns", SETTLE_NS))) for p in request.get("files", [])
        },
        "directories": {p: directory_state(p) for p in request.get("directories", [])},
        "codecs": codecs(),
        "content": {p: text(p) for p in request.get("read_content", [])},
    }


def main() -> None:
    try:
        answer = read(json.loads(sys.stdin.read()))
    except (OSError, ValueError) as exc:
        answer = {"failed": True, "msg": f"cannot read the host: {exc}"}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
