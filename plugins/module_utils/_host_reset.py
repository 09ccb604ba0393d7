# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Taking a component off a host: the modules paths_absent, network_cleanup and component_remove.

The pure part (parsing /proc/self/mountinfo, iptables-save and dpkg-query
output, and deciding what to remove) touches nothing, so it is unit-tested on
recorded text. HostRemoval, at the end, runs the commands and removes the
files: each module's steps are its methods, so network_cleanup, paths_absent
and component_remove remove network state and paths the same way.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
import shutil
import typing as t
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible.module_utils.basic import AnsibleModule

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


def refusals(paths: Sequence[str]) -> list[str]:
    """Why each of ``paths`` that may not be removed may not (refused_path of the normalised path)."""
    return [r for r in (refused_path(os.path.normpath(p)) for p in paths) if r]


def refused_prefix(prefix: str) -> str | None:
    """Why processes whose executable starts with ``prefix`` may not all be killed, or None.

    A prefix is a component's own executable (or its start, containerd-shim for
    containerd-shim-runc-v2): not relative, and not a system directory, whose
    processes would be the host's own.
    """
    if not os.path.isabs(prefix):
        return f"{prefix!r} is not an absolute executable path"
    if os.path.normpath(prefix) in PROTECTED:
        return f"{prefix} is a system directory: it would kill the host's own processes"
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


def installed_packages(listing: str) -> list[str]:
    """Packages dpkg reports installed in `dpkg-query --show --showformat='${Package} ${db:Status-Status};'` output.

    A package that was removed but kept its configuration (config-files), or
    is not installed, is left alone.
    """
    packages = []
    for entry in listing.split(";"):
        words = entry.split()
        if len(words) > 1 and words[1] == "installed":
            packages.append(words[0])
    return packages


def exe_matches(exe: str, prefixes: Sequence[str]) -> bool:
    """Whether a process's executable (the /proc/PID/exe link) starts with one of ``prefixes``."""
    return any(exe.startswith(p) for p in prefixes)


# --- running it ----------------------------------------------------------------


class RemoveError(Exception):
    """A command or a file operation failed; the message says which, in the tool's own words."""


def iptables_commands() -> list[str]:
    """One iptables command per backend and IP version that is installed (legacy and nft rules are separate)."""
    commands = []
    for family in ("iptables", "ip6tables"):
        backends = [f"{family}-{b}" for b in ("nft", "legacy") if shutil.which(f"{family}-{b}-save")]
        if not backends and shutil.which(f"{family}-save"):
            backends = [family]
        commands.extend(backends)
    return commands


def read_mountinfo() -> str:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
        return handle.read()


def expand(path: str) -> list[str]:
    """The path itself, or what a wildcard in its last component matches (sorted)."""
    return sorted(glob.glob(path)) if is_pattern(path) else [path]


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def empty_directory(path: str) -> None:
    for entry in os.listdir(path):
        remove_path(os.path.join(path, entry))


def network_argument_spec() -> dict[str, dict[str, t.Any]]:
    """The options of HostRemoval.network() (documented in the airgap.k8s._network_cleanup doc fragment)."""
    return {
        name: {"type": "list", "elements": "str", "default": []}
        for name in ("links", "chain_prefixes", "ipset_prefixes", "nft_tables")
    }


class HostRemoval:
    """The removal steps of one module run.

    ``network_removed`` and ``paths_removed`` hold what network() and paths()
    removed (in check mode: would remove) under the names of network_cleanup's
    and paths_absent's return values, also when a step failed with
    RemoveError. In check mode the steps read, and change nothing.
    """

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.check_mode: bool = module.check_mode
        self.network_removed: dict[str, list[str]] = {"links": [], "chains": [], "ipsets": [], "nft_tables": []}
        self.paths_removed: dict[str, list[str]] = {"removed": [], "unmounted": [], "emptied": [], "removed_dirs": []}

    def run(
        self,
        argv: list[str],
        *,
        data: str | None = None,
        env: Mapping[str, str] | None = None,
        ok: Sequence[int] = (0,),
    ) -> str:
        """The command's standard output; RemoveError when its exit code is not in ``ok``."""
        rc, out, err = self.module.run_command(
            argv, data=data, binary_data=data is not None, environ_update=dict(env or {})
        )
        if rc not in ok:
            raise RemoveError(f"{' '.join(argv)} failed ({rc}): {err.strip() or out.strip()}")
        return out

    def network(self, options: Mapping[str, Sequence[str]]) -> None:
        """Delete the interfaces, iptables chains, nftables tables and ipsets of network_cleanup's options.

        ``options``: ``links``, ``chain_prefixes``, ``ipset_prefixes``,
        ``nft_tables`` (each may be left out). A tool that is not installed
        means there is nothing of its kind. Fills ``network_removed``.
        """
        links = options.get("links") or []
        chain_prefixes = options.get("chain_prefixes") or []
        ipset_prefixes = options.get("ipset_prefixes") or []
        tables = options.get("nft_tables") or []
        done = self.network_removed

        if links:
            present = [link["ifname"] for link in json.loads(self.run(["ip", "-j", "link", "show"]) or "[]")]
            for name in wanted_links(present, links):
                if not self.check_mode:
                    self.run(["ip", "link", "delete", name])
                done["links"].append(name)

        if chain_prefixes:
            for command in iptables_commands():
                for table in filter_iptables_save(self.run([f"{command}-save"]), chain_prefixes):
                    if not self.check_mode:
                        self.run([f"{command}-restore"], data=table.text)
                    done["chains"].extend(f"{command} {table.table} {chain}" for chain in table.chains)

        if tables and shutil.which("nft"):
            present_tables = {f"{family} {name}" for family, name in nft_tables(self.run(["nft", "list", "tables"]))}
            for wanted in tables:
                if " ".join(wanted.split()) in present_tables:
                    if not self.check_mode:
                        self.run(["nft", "delete", "table", *wanted.split()])
                    done["nft_tables"].append(wanted)

        # After the iptables rules: a set still referenced by a rule cannot be destroyed.
        if ipset_prefixes and shutil.which("ipset"):
            for name in self.run(["ipset", "list", "-n"]).split():
                if any(name.startswith(prefix) for prefix in ipset_prefixes):
                    if not self.check_mode:
                        self.run(["ipset", "destroy", name])
                    done["ipsets"].append(name)

    def unmount(self, point: str) -> None:
        rc, _out, err = self.module.run_command(["umount", point])
        if rc != 0:
            rc, _out, err = self.module.run_command(["umount", "--lazy", point])
            if rc != 0:
                raise RemoveError(f"cannot unmount {point}: {err.strip()}")

    def paths(self, paths: Sequence[str], empty_dirs: Sequence[str] = ()) -> None:
        """Remove the paths, unmounting what is mounted below them first, then the empty ``empty_dirs``.

        paths_absent's rules: a directory that is a mount point is emptied and
        kept, a file that is one is unmounted and deleted, a wildcard in the
        last component stands for what it matches. Refuses (RemoveError,
        nothing removed) what refusals() refuses; callers check first to say so
        in their own words. Fills ``paths_removed``.
        """
        removed, unmounted, emptied, removed_dirs = (
            self.paths_removed[key] for key in ("removed", "unmounted", "emptied", "removed_dirs")
        )
        asked = [os.path.normpath(p) for p in paths]
        empty_dirs = [os.path.normpath(p) for p in empty_dirs]
        refused = refusals(asked + empty_dirs)
        if refused:
            raise RemoveError("refuses: " + "; ".join(refused))

        mountinfo = read_mountinfo()
        for path in [match for pattern in asked for match in expand(pattern)]:
            if not os.path.lexists(path):
                continue
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            keep = is_dir and is_mount_point(mountinfo, path)
            if keep and not os.listdir(path) and not mounts_below(mountinfo, path):
                continue  # an empty mount point: nothing to do
            removed.append(path)
            below = mounts_below(mountinfo, path)
            if not is_dir and is_mount_point(mountinfo, path):
                below = [path]  # a bind-mounted file (a network namespace): unmount, then delete
            unmounted.extend(below)
            if keep:
                emptied.append(path)
            if self.check_mode:
                continue
            try:
                for point in below:
                    self.unmount(point)
                if keep:
                    empty_directory(path)
                else:
                    remove_path(path)
            except OSError as exc:
                raise RemoveError(f"cannot remove {path}: {exc}") from exc
            mountinfo = read_mountinfo()

        for directory in empty_dirs:
            gone = set(removed) if self.check_mode else set()
            if os.path.isdir(directory) and not os.path.islink(directory) and not is_mount_point(mountinfo, directory):
                left = [e for e in os.listdir(directory) if os.path.join(directory, e) not in gone | set(removed_dirs)]
                if not left:
                    removed_dirs.append(directory)
                    if not self.check_mode:
                        try:
                            os.rmdir(directory)
                        except OSError as exc:
                            raise RemoveError(f"cannot remove the empty directory {directory}: {exc}") from exc
