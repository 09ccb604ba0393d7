# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""File filters: which wanted files differ from what a host has."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def stale_files(
    items: Sequence[Mapping[str, Any]],
    installed: Mapping[str, Mapping[str, Any]],
    checksums: Mapping[str, str] | None = None,
    owner: str = "root",
    group: str = "root",
) -> list[Mapping[str, Any]]:
    """The items whose dest is missing or differs in sha256, mode, owner or group.

    Each item has ``dest``, optional ``mode`` (default "0755"), ``owner`` and
    ``group`` (default: the parameters), and a wanted content: its ``sha256``,
    else ``checksums[src]``, else the sha256 of ``src`` read here on the
    controller (for small generated files such as certificates; a ``src``
    that does not exist yet counts as stale and is left to the copy to
    report). ``installed`` is the ``files`` result of
    ``airgap.k8s.file_digests`` for the same dests.
    """
    checksums = checksums or {}
    stale = []
    for item in items:
        dest = item.get("dest")
        if not dest:
            raise AnsibleFilterError(f"stale_files: item {dict(item)!r} has no dest")
        src = str(item.get("src", ""))
        want = item.get("sha256") or checksums.get(src)
        if not want:
            if not os.path.isabs(src):
                raise AnsibleFilterError(
                    f"stale_files: no sha256 for {dest} (give the item a sha256, a src listed in checksums,"
                    " or an absolute src on the controller)"
                )
            want = _sha256(src)
        have = installed.get(dest)
        if have is None:
            raise AnsibleFilterError(f"stale_files: {dest} was not read (pass every dest to file_digests)")
        mode = str(item.get("mode", "0755"))
        if (
            want is None
            or not have.get("exists")
            or have.get("sha256") != want
            or have.get("mode") != mode.zfill(4)
            or have.get("owner") != item.get("owner", owner)
            or have.get("group") != item.get("group", group)
        ):
            stale.append(item)
    return stale


class FilterModule:
    def filters(self) -> dict:
        return {"stale_files": stale_files}
