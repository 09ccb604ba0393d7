# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Read-only probes of a host for os_prepare, each a pure function of files under a root.

Every function takes ``root`` (``/`` on a host, a fixture directory in the
unit tests) and only reads. ``airgap.k8s.os_probe`` calls them all in one
module run, so the role's checks and its idempotent configuration cost one
round trip instead of one per question.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable, Mapping

_SWAP_LINE = re.compile(r"^([^#\s]+\s+\S+\s+swap\s+.*)$")


def _read(root: str, path: str) -> str | None:
    try:
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def module_states(root: str, release: str, modules: Mapping[str, str]) -> dict[str, str]:
    """NAME -> loaded | builtin | absent, for each module NAME with its kernel config symbol."""
    loaded = {line.split(" ", 1)[0] for line in (_read(root, "/proc/modules") or "").splitlines()}
    builtin_list = _read(root, f"/lib/modules/{release}/modules.builtin") or ""
    config = _read(root, f"/boot/config-{release}") or ""
    try:
        with gzip.open(os.path.join(root, "proc/config.gz"), "rt") as handle:
            config += "\n" + handle.read()
    except OSError:
        pass
    config_lines = set(config.splitlines())
    out = {}
    for name, symbol in modules.items():
        if name in loaded:
            out[name] = "loaded"
        elif (
            os.path.isdir(os.path.join(root, "sys/module", name))
            or re.search(rf"/{re.escape(name)}\.ko(\.[a-z]+)?$", builtin_list, re.M)
            or (symbol and symbol != name and f"{symbol}=y" in config_lines)
        ):
            out[name] = "builtin"
        else:
            out[name] = "absent"
    return out


def _sockets(root: str, wanted: set[int]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for table, listening in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        text = _read(root, f"/proc/net/{table}")
        for line in (text or "").splitlines()[1:]:
            cols = line.split()
            if len(cols) < 10:
                continue
            port = int(cols[1].rsplit(":", 1)[1], 16)
            if cols[3] == listening and port in wanted:
                found.setdefault(cols[9], set()).add(port)
    return found


def _socket_owners(root: str, inodes: Iterable[str]) -> dict[str, set[str]]:
    inodes = set(inodes)
    names: dict[str, set[str]] = {}
    proc = os.path.join(root, "proc")
    for pid in filter(str.isdigit, os.listdir(proc)):
        try:
            with open(os.path.join(proc, pid, "comm"), encoding="utf-8") as handle:
                comm = handle.read().strip()
            for fd in os.listdir(os.path.join(proc, pid, "fd")):
                target = os.readlink(os.path.join(proc, pid, "fd", fd))
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    names.setdefault(target[8:-1], set()).add(comm)
        except OSError:
            continue
    return names


def taken_ports(root: str, ports: Iterable[int], allowed: Iterable[str]) -> dict[str, list[str]]:
    """Wanted ports listened on (TCP or UDP) by a process not in ALLOWED: port -> process names."""
    socks = _sockets(root, {int(p) for p in ports})
    owners = _socket_owners(root, socks) if socks else {}
    by_port: dict[int, set[str]] = {}
    for inode, port_set in socks.items():
        for port in port_set:
            by_port.setdefault(port, set()).update(owners.get(inode, {"unknown"}))
    allowed = set(allowed)
    return {str(p): sorted(n) for p, n in sorted(by_port.items()) if not n & allowed}


def active_swaps(root: str) -> list[str]:
    return [line.split()[0] for line in (_read(root, "/proc/swaps") or "").splitlines()[1:] if line.strip()]


def fstab_swap_lines(root: str) -> list[str]:
    """Uncommented swap entries of /etc/fstab (os_prepare comments them out)."""
    return [line for line in (_read(root, "/etc/fstab") or "").splitlines() if _SWAP_LINE.match(line)]


def sysctls(root: str, names: Iterable[str]) -> dict[str, str | None]:
    """Live value of each sysctl (whitespace normalised), None where the kernel has no such key."""
    out: dict[str, str | None] = {}
    for name in names:
        text = _read(root, "/proc/sys/" + name.replace(".", "/"))
        out[name] = " ".join(text.split()) if text is not None else None
    return out


def unit_files(root: str, units: Iterable[str]) -> list[str]:
    """Which of UNITS have a unit file in the usual systemd directories."""
    dirs = ("etc/systemd/system", "run/systemd/system", "lib/systemd/system", "usr/lib/systemd/system")
    return [u for u in units if any(os.path.exists(os.path.join(root, d, f"{u}.service")) for d in dirs)]
