# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Pure helpers of the modules that take a component off a host (paths_absent, network_cleanup).

Parsing /proc/self/mountinfo and iptables-save output, and deciding what to
remove, is done here without touching the system, so it is unit-tested on
recorded text; the modules only run the commands.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field

# Directories no component owns: removing one of them (or a parent of one)
# would take the host down with the cluster. A role's remove entry point
# names its own files and directories, never these.
PROTECTED = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/etc/systemd",
        "/etc/systemd/system",
        "/home",
        "/lib",
        "/lib64",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/usr/sbin",
        "/var",
        "/var/cache",
        "/var/lib",
        "/var/log",
        "/var/run",
    }
)


_WILDCARD = re.compile(r"[*?\[]")


def is_pattern(path: str) -> bool:
    return bool(_WILDCARD.search(path))


def refused_path(path: str) -> str | None:
    """Why ``path`` may not be removed, or None. A wildcard may only end the last component, after a literal prefix."""
    if not os.path.isabs(path):
        return f"{path!r} is not an absolute path"
    normal = os.path.normpath(path)
    if normal in PROTECTED:
        return f"{path} is a system directory, not a component's own path"
    if is_pattern(normal):
        parent, last = os.path.split(normal)
        if is_pattern(parent) or _WILDCARD.match(last):
            return f"{path}: a wildcard may only follow a literal prefix in the last component (e.g. cni-*)"
        if parent in PROTECTED:
            return f"{path}: no wildcards directly in the system directory {parent}"
    return None


def _unescape(field_: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def mount_points(mountinfo: str) -> list[str]:
    """Mount points listed in /proc/self/mountinfo (field 5), in file order."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(_unescape(fields[4]))
    return points


def mounts_below(mountinfo: str, path: str) -> list[str]:
    """Mount points strictly below ``path``, deepest first (the order to unmount them)."""
    root = os.path.normpath(path).rstrip("/") + "/"
    below = {p for p in mount_points(mountinfo) if p.startswith(root)}
    return sorted(below, key=lambda p: (-p.count("/"), p))


def is_mount_point(mountinfo: str, path: str) -> bool:
    return os.path.normpath(path) in mount_points(mountinfo)


# --- iptables ----------------------------------------------------------------


def _matches(name: str, prefixes: list[str]) -> bool:
    return any(name.startswith(p) for p in prefixes)


@dataclass
class TableCleanup:
    """One table of an iptables-save dump with the component's chains and the rules that use them taken out."""

    table: str
    chains: list[str] = field(default_factory=list)  # chains removed
    rules: int = 0  # rules removed (in the removed chains and jumps to them)
    text: str = ""  # the table as iptables-restore should load it


def _target(words: list[str]) -> str | None:
    for flag in ("-j", "--jump", "-g", "--goto"):
        if flag in words:
            i = words.index(flag)
            if i + 1 < len(words):
                return words[i + 1]
    return None


def filter_iptables_save(dump: str, prefixes: list[str]) -> list[TableCleanup]:
    """Tables of ``dump`` (iptables-save output) that hold chains starting with one of ``prefixes``.

    Each returned table's ``text`` is the whole table without those chains,
    their rules and every rule that jumps or goes to them; restoring it
    (iptables-restore without --noflush, one table) leaves every other rule
    as it was. Tables with nothing to remove are not returned.
    """
    out: list[TableCleanup] = []
    current: TableCleanup | None = None
    lines: list[str] = []
    for line in dump.splitlines():
        if line.startswith("*"):
            current, lines = TableCleanup(table=line[1:].strip()), [line]
            continue
        if current is None:
            continue
        if line.startswith(":"):
            chain = line[1:].split()[0]
            if _matches(chain, prefixes):
                current.chains.append(chain)
                continue
        elif line.startswith("-A "):
            words = line.split()
            target = _target(words)
            if _matches(words[1], prefixes) or (target is not None and _matches(target, prefixes)):
                current.rules += 1
                continue
        elif line.strip() == "COMMIT":
            lines.append(line)
            if current.chains or current.rules:
                current.text = "\n".join(lines) + "\n"
                out.append(current)
            current = None
            continue
        lines.append(line)
    return out


def nft_tables(listing: str) -> list[tuple[str, str]]:
    """(family, name) of each table in `nft list tables` output."""
    tables = []
    for line in listing.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "table":
            tables.append((words[1], words[2]))
    return tables


def wanted_links(present: list[str], patterns: list[str]) -> list[str]:
    """Interfaces in ``present`` that match one of ``patterns`` (shell globs, e.g. cali*)."""
    return [name for name in present if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
