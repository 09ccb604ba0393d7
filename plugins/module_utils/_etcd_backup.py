# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""etcd backups on the controller: layout, metadata, retention and verification.

Private to the collection. A backup is a directory ``etcd-<UTC time>`` under
the backup root (``etcd_backup_dir``) holding:

    snapshot.db           the snapshot (etcdctl snapshot save), mode 0600
    snapshot.db.sha256    its sha256, in sha256sum's format
    metadata.json         cluster name, time, etcd version, revision, members...
    state/                the controller state needed to use it (pki/, encryption-key),
                          directories 0700, files 0600; absent in the local
                          backups the members' timer makes

Everything but the file helpers is a pure function of its arguments.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import typing as t
from dataclasses import dataclass, field

FORMAT = 1
TIMER_UNIT = "airgap-etcd-backup.timer"
SNAPSHOT = "snapshot.db"
CHECKSUM = "snapshot.db.sha256"
METADATA = "metadata.json"
STATE = "state"
NAME_FORMAT = "etcd-%Y%m%dT%H%M%SZ"
NAME = re.compile(r"^etcd-\d{8}T\d{6}Z$")
DIR_MODE = 0o700
FILE_MODE = 0o600
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BackupError(ValueError):
    """Something the user has to fix; the message says what."""


def backup_name(now: datetime.datetime) -> str:
    return now.astimezone(datetime.timezone.utc).strftime(NAME_FORMAT)  # noqa: UP017 - targets may run Python < 3.11


def list_backups(root: str) -> list[str]:
    """Backup directories under ``root``, oldest first (their names sort by time)."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return [os.path.join(root, n) for n in sorted(names) if NAME.match(n) and os.path.isdir(os.path.join(root, n))]


def to_prune(backups: t.Sequence[str], keep: int) -> list[str]:
    """The backups beyond the newest ``keep`` (0 keeps all)."""
    if keep <= 0 or len(backups) <= keep:
        return []
    return list(backups[: len(backups) - keep])


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_line(sha256: str, name: str = SNAPSHOT) -> str:
    """As ``sha256sum`` writes it, so ``sha256sum -c`` checks it."""
    return f"{sha256}  {name}\n"


def parse_checksum(text: str) -> str:
    """The sha256 of a ``sha256sum`` line (or a bare digest)."""
    words = text.split()
    digest = words[0].lower() if words else ""
    if not _SHA256.match(digest):
        raise BackupError(f"{text.strip()[:80]!r} is not a sha256 checksum line")
    return digest


def _uint(value: t.Any) -> int:
    return int(value or 0)


def members_from_etcdctl(doc: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """``etcdctl member list -w json`` to name, hex ID and URLs, sorted by name."""
    members = []
    for m in doc.get("members") or []:
        members.append(
            {
                "name": m.get("name") or "",
                "id": format(_uint(m.get("ID")), "x"),
                "peer_urls": list(m.get("peerURLs") or []),
                "client_urls": list(m.get("clientURLs") or []),
                "is_learner": bool(m.get("isLearner")),
            }
        )
    return sorted(members, key=lambda m: (m["name"], m["id"]))


def status_from_etcdutl(doc: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """``etcdutl snapshot status -w json`` in this collection's names."""
    if "revision" not in doc:
        raise BackupError(f"etcdutl snapshot status gave no revision: {json.dumps(doc)[:200]}")
    return {
        "revision": _uint(doc.get("revision")),
        "hash": _uint(doc.get("hash")),
        "total_keys": _uint(doc.get("totalKey")),
        "total_size": _uint(doc.get("totalSize")),
        "storage_version": doc.get("version") or None,
    }


def build_metadata(
    *,
    cluster_name: str,
    created: datetime.datetime,
    sha256: str,
    size: int,
    status: t.Mapping[str, t.Any],
    members: t.Sequence[t.Mapping[str, t.Any]],
    source: t.Mapping[str, t.Any],
    etcd_version: str | None,
    controller_fingerprints: t.Mapping[str, t.Any] | None,
    state_files: t.Sequence[str] = (),
    made_by: str,
) -> dict[str, t.Any]:
    return {
        "format": FORMAT,
        "cluster_name": cluster_name,
        "created": created.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),  # noqa: UP017
        "etcd_version": etcd_version,
        "snapshot": {"file": SNAPSHOT, "sha256": sha256, "size": size, **status},
        "source": dict(source),
        "members": [dict(m) for m in members],
        "controller_state": (
            {"files": list(state_files), "fingerprints": dict(controller_fingerprints)}
            if controller_fingerprints is not None
            else None
        ),
        "made_by": made_by,
    }


# --- files -------------------------------------------------------------------


def write_private(path: str, content: bytes) -> None:
    """A new file that is 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.chmod(path, FILE_MODE)


def copy_state(cluster_dir: str, dest: str, entries: t.Sequence[str]) -> list[str]:
    """Copy ``entries`` of the cluster directory (files or trees) to ``dest``: directories 0700, files 0600.

    Returns the files copied, relative to ``dest``. A missing entry is an error:
    a backup without the CA keys or the encryption key could not be used.
    """
    copied: list[str] = []
    os.makedirs(dest, mode=DIR_MODE, exist_ok=True)
    os.chmod(dest, DIR_MODE)
    for entry in entries:
        source = os.path.join(cluster_dir, entry)
        if os.path.isdir(source):
            for root, dirs, files in os.walk(source):
                dirs.sort()
                rel_root = os.path.relpath(root, cluster_dir)
                target_root = os.path.join(dest, rel_root)
                os.makedirs(target_root, mode=DIR_MODE, exist_ok=True)
                os.chmod(target_root, DIR_MODE)
                for name in sorted(files):
                    with open(os.path.join(root, name), "rb") as handle:
                        write_private(os.path.join(target_root, name), handle.read())
                    copied.append(os.path.join(rel_root, name))
        elif os.path.isfile(source):
            with open(source, "rb") as handle:
                write_private(os.path.join(dest, entry), handle.read())
            copied.append(entry)
        else:
            raise BackupError(
                f"{source} does not exist: the backup needs it to be usable; run site.yml (or playbooks/pki.yml) first"
            )
    return copied


def remove_tree(path: str) -> None:
    shutil.rmtree(path)


# --- verification ------------------------------------------------------------


@dataclass
class Backup:
    """A backup found on disk and what checking it showed."""

    directory: str
    snapshot: str
    sha256: str | None = None
    metadata: dict[str, t.Any] | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def locate(path: str, backup_root: str | None = None) -> tuple[str, str]:
    """(backup directory, snapshot file) for a backup directory, a snapshot file, or ``latest``."""
    if path == "latest":
        if not backup_root:
            raise BackupError("etcd_snapshot=latest needs the backup directory (etcd_backup_dir)")
        found = list_backups(backup_root)
        if not found:
            raise BackupError(f"etcd_snapshot=latest: there is no backup in {backup_root}")
        path = found[-1]
    if os.path.isdir(path):
        return path, os.path.join(path, SNAPSHOT)
    if os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path)), path
    raise BackupError(f"etcd_snapshot: {path} does not exist; give a backup directory or its {SNAPSHOT}")


def _load_metadata(path: str) -> dict[str, t.Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except ValueError as exc:
        raise BackupError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError(f"{path} is not a format-{FORMAT} backup metadata file")
    return data


def verify(
    path: str,
    *,
    cluster_name: str,
    ignore_cluster_name: bool = False,
    controller_fingerprints: t.Mapping[str, t.Any] | None = None,
    backup_root: str | None = None,
) -> Backup:
    """Check a backup before a restore: checksum, metadata, cluster, controller state.

    Any entry in ``problems`` means: refuse. ``controller_fingerprints`` are the
    current cluster directory's (``_state.fingerprints``); a backup taken with
    other CAs, service-account key or encryption key would restore data this
    cluster cannot use.
    """
    directory, snapshot = locate(path, backup_root)
    backup = Backup(directory=directory, snapshot=snapshot)
    if not os.path.isfile(snapshot) or os.path.getsize(snapshot) == 0:
        backup.problems.append(f"{snapshot} is missing or empty")
        return backup
    actual = sha256_file(snapshot)
    backup.sha256 = actual

    recorded: dict[str, str] = {}
    checksum_file = snapshot + ".sha256"  # CHECKSUM for a backup's snapshot.db
    if os.path.isfile(checksum_file):
        with open(checksum_file, encoding="utf-8") as handle:
            recorded[checksum_file] = parse_checksum(handle.read())
    metadata_file = os.path.join(directory, METADATA) if os.path.basename(snapshot) == SNAPSHOT else None
    if metadata_file and os.path.isfile(metadata_file):
        backup.metadata = _load_metadata(metadata_file)
        meta_sha = (backup.metadata.get("snapshot") or {}).get("sha256")
        if meta_sha:
            recorded[metadata_file] = str(meta_sha)
    if not recorded:
        backup.problems.append(
            f"no recorded checksum for {snapshot} ({CHECKSUM} or {METADATA}): an unverifiable snapshot is not restored"
        )
    for source, digest in recorded.items():
        if digest != actual:
            backup.problems.append(
                f"{snapshot} has sha256 {actual}, but {source} records {digest}: the file is damaged or was changed; "
                "use another backup"
            )
    if backup.problems:
        return backup  # nothing else about a damaged file is worth saying

    meta = backup.metadata
    if meta is None:
        message = f"{snapshot} has no {METADATA}, so its cluster is unknown"
        if ignore_cluster_name:
            backup.warnings.append(message)
        else:
            backup.problems.append(message + "; set restore_ignore_cluster_name=true if it is this cluster's")
        return backup
    if meta.get("cluster_name") != cluster_name:
        message = f"the snapshot is from cluster {meta.get('cluster_name')!r}, this inventory's is {cluster_name!r}"
        if ignore_cluster_name:
            backup.warnings.append(message)
        else:
            backup.problems.append(message + "; set restore_ignore_cluster_name=true if you mean to restore it here")
    recorded_state = (meta.get("controller_state") or {}).get("fingerprints")
    if recorded_state and controller_fingerprints is not None:
        differ = sorted(k for k, v in recorded_state.items() if v and controller_fingerprints.get(k) != v)
        if differ:
            state_dir = os.path.join(directory, STATE)
            backup.problems.append(
                "the controller's cluster directory does not match the one the snapshot was taken with ("
                + ", ".join(differ)
                + "): restored Secrets would not decrypt or tokens would not verify; restore the directory first "
                + (f"(cp -a {state_dir}/. <airgap_cluster_dir>/)" if os.path.isdir(state_dir) else "")
            )
    elif not recorded_state:
        backup.warnings.append(
            f"{METADATA} records no controller state (a member's local backup): the encryption key it was written "
            "with cannot be checked"
        )
    return backup
