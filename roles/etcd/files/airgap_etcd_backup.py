#!/usr/bin/python3
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Scheduled local etcd backup, run by airgap-etcd-backup.timer on each member.

Takes a snapshot through this member's own client URL after a quorum read
(a member cut off from its peers fails instead of saving stale data), files
it as etcd-<UTC time>/ with snapshot.db, snapshot.db.sha256 and metadata.json
in the same format as playbooks/etcd_backup.yml (the shared code is
_etcd_backup.py beside this file), and keeps the newest --keep. Exit code 0
on success; the journal has the details either way.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _etcd_backup as backup  # beside this file, installed by the etcd role


def read_env(path: str) -> dict[str, str]:
    """``export NAME=value`` lines of the etcdctl environment file."""
    env: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            words = shlex.split(line, comments=True)
            if words[:1] == ["export"]:
                words = words[1:]
            for word in words:
                name, sep, value = word.partition("=")
                if sep:
                    env[name] = value
    return env


def run(argv: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def run_json(argv: list[str], env: dict[str, str]) -> t.Any:
    return json.loads(run(argv, env))


def take(args: argparse.Namespace, now: datetime.datetime) -> str:
    env = {**os.environ, **read_env(args.env_file), "ETCDCTL_API": "3"}
    etcdctl, etcdutl = args.etcdctl, args.etcdutl
    run_json([etcdctl, "endpoint", "health", "-w", "json"], env)  # a quorum read: fails without a leader
    status = run_json([etcdctl, "endpoint", "status", "-w", "json"], env)
    members = run_json([etcdctl, "member", "list", "-w", "json"], env)
    name = backup.backup_name(now)
    final = os.path.join(args.dir, name)
    partial = os.path.join(args.dir, f".{name}.partial")
    os.makedirs(args.dir, mode=backup.DIR_MODE, exist_ok=True)
    os.mkdir(partial, backup.DIR_MODE)
    try:
        snapshot = os.path.join(partial, backup.SNAPSHOT)
        run([etcdctl, "snapshot", "save", snapshot], env)
        os.chmod(snapshot, backup.FILE_MODE)
        info = backup.status_from_etcdutl(run_json([etcdutl, "snapshot", "status", snapshot, "-w", "json"], env))
        sha256 = backup.sha256_file(snapshot)
        backup.write_private(os.path.join(partial, backup.CHECKSUM), backup.checksum_line(sha256).encode())
        metadata = backup.build_metadata(
            cluster_name=args.cluster_name,
            created=now,
            sha256=sha256,
            size=os.path.getsize(snapshot),
            status=info,
            members=backup.members_from_etcdctl(members),
            source={"name": args.member, "endpoint": env.get("ETCDCTL_ENDPOINTS", "")},
            etcd_version=((status or [{}])[0].get("Status") or {}).get("version"),
            controller_fingerprints=None,
            made_by=f"{backup.TIMER_UNIT} on {args.member}",
        )
        backup.write_private(
            os.path.join(partial, backup.METADATA), (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode()
        )
        os.rename(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    for old in backup.to_prune(backup.list_backups(args.dir), args.keep):
        shutil.rmtree(old)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="where the backups are kept")
    parser.add_argument("--keep", type=int, default=7, help="newest backups to keep (0: all)")
    parser.add_argument("--cluster-name", required=True)
    parser.add_argument("--member", required=True, help="this member's name")
    parser.add_argument("--env-file", default="/etc/etcd/etcdctl.env")
    parser.add_argument("--etcdctl", default="/usr/local/bin/etcdctl")
    parser.add_argument("--etcdutl", default="/usr/local/bin/etcdutl")
    args = parser.parse_args(argv)
    os.umask(0o077)
    try:
        path = take(args, datetime.datetime.now(datetime.timezone.utc))  # noqa: UP017 - hosts may run Python < 3.11
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"etcd backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"etcd backup: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
