"""_etcd_backup: names, retention, checksums, metadata, and the checks before a restore."""

from __future__ import annotations

import json
import os
import stat

import pytest
from _pkifactory import NOW

from ansible_collections.airgap.k8s.plugins.module_utils import _etcd_backup as b

MEMBERS = {
    "header": {"cluster_id": 1, "member_id": 2},
    "members": [
        {"ID": 12345678901234567890, "name": "node2", "peerURLs": ["https://10.0.0.12:2380"], "clientURLs": ["https://10.0.0.12:2379"]},
        {"ID": 1, "name": "node1", "peerURLs": ["https://10.0.0.11:2380"], "clientURLs": ["https://10.0.0.11:2379"]},
    ],
}  # fmt: skip
STATUS = {"hash": 3546512345, "revision": 4242, "totalKey": 900, "totalSize": 4194304, "version": "3.6.0"}
FPS = {"ca/kubernetes": "a" * 64, "ca/etcd": "b" * 64, "ca/front-proxy": "c" * 64, "service_account": "d" * 64, "encryption_key": "e" * 64}  # fmt: skip


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def make_backup(root, name="etcd-20261122T080000Z", data=b"snapshot bytes", cluster="airgap", fps=FPS):
    path = root / name
    path.mkdir(parents=True)
    (path / b.SNAPSHOT).write_bytes(data)
    digest = b.sha256_file(str(path / b.SNAPSHOT))
    (path / b.CHECKSUM).write_text(b.checksum_line(digest))
    meta = b.build_metadata(
        cluster_name=cluster,
        created=NOW,
        sha256=digest,
        size=len(data),
        status=b.status_from_etcdutl(STATUS),
        members=b.members_from_etcdctl(MEMBERS),
        source={"name": "node2", "endpoint": "https://10.0.0.12:2379"},
        etcd_version="3.6.16",
        controller_fingerprints=fps,
        state_files=["pki", "encryption-key"],
        made_by="test",
    )
    (path / b.METADATA).write_text(json.dumps(meta))
    return path


def test_names_sort_by_time_and_only_ours_are_listed(tmp_path):
    assert b.backup_name(NOW) == "etcd-20261122T080000Z"
    for name in ("etcd-20261122T080000Z", "etcd-20261121T080000Z", "etcd-notatime", ".incoming-node1.db"):
        (tmp_path / name).mkdir()
    (tmp_path / "etcd-20261123T080000Z").write_text("a file, not a backup")
    assert [os.path.basename(p) for p in b.list_backups(str(tmp_path))] == [
        "etcd-20261121T080000Z",
        "etcd-20261122T080000Z",
    ]
    assert b.list_backups(str(tmp_path / "none")) == []


@pytest.mark.parametrize(
    ("count", "keep", "pruned"), [(3, 7, 0), (7, 7, 0), (8, 7, 1), (10, 3, 7), (5, 0, 0), (2, 1, 1)]
)
def test_to_prune_keeps_the_newest(count, keep, pruned):
    backups = [f"etcd-2026112{i}T000000Z" for i in range(count)]
    result = b.to_prune(backups, keep)
    assert result == backups[:pruned]


def test_checksum_lines_round_trip_as_sha256sum_writes_them():
    digest = "0123456789abcdef" * 4
    assert b.checksum_line(digest) == f"{digest}  snapshot.db\n"
    assert b.parse_checksum(b.checksum_line(digest)) == digest
    assert b.parse_checksum(digest.upper()) == digest
    with pytest.raises(b.BackupError, match="not a sha256 checksum line"):
        b.parse_checksum("deadbeef  snapshot.db")


def test_members_and_status_in_our_names():
    assert b.members_from_etcdctl(MEMBERS) == [
        {"name": "node1", "id": "1", "peer_urls": ["https://10.0.0.11:2380"], "client_urls": ["https://10.0.0.11:2379"], "is_learner": False},
        {"name": "node2", "id": "ab54a98ceb1f0ad2", "peer_urls": ["https://10.0.0.12:2380"], "client_urls": ["https://10.0.0.12:2379"], "is_learner": False},
    ]  # fmt: skip
    assert b.status_from_etcdutl(STATUS) == {
        "revision": 4242,
        "hash": 3546512345,
        "total_keys": 900,
        "total_size": 4194304,
        "storage_version": "3.6.0",
    }
    with pytest.raises(b.BackupError, match="no revision"):
        b.status_from_etcdutl({"hash": 1})


def test_copy_state_is_private_and_complete(tmp_path):
    cluster = tmp_path / "cluster"
    (cluster / "pki" / "etcd").mkdir(parents=True)
    (cluster / "pki" / "ca.key").write_text("k")
    (cluster / "pki" / "ca.crt").write_text("c")
    (cluster / "pki" / "etcd" / "ca.key").write_text("ek")
    (cluster / "encryption-key").write_text("x")
    (cluster / "admin.conf").write_text("not saved")
    os.umask(0o022)
    copied = b.copy_state(str(cluster), str(tmp_path / "state"), ["pki", "encryption-key"])
    assert sorted(copied) == ["encryption-key", "pki/ca.crt", "pki/ca.key", "pki/etcd/ca.key"]
    state = tmp_path / "state"
    assert (state / "pki" / "etcd" / "ca.key").read_text() == "ek"
    assert not (state / "admin.conf").exists()
    for path in [state, *state.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    with pytest.raises(b.BackupError, match="does not exist: the backup needs it"):
        b.copy_state(str(cluster), str(tmp_path / "state2"), ["pki", "sa.key"])


def test_a_sound_backup_verifies(tmp_path):
    path = make_backup(tmp_path)
    result = b.verify(str(path), cluster_name="airgap", controller_fingerprints=FPS)
    assert result.problems == [] and result.warnings == []
    assert result.snapshot == str(path / b.SNAPSHOT)
    assert result.metadata["snapshot"]["revision"] == 4242
    # The same through its snapshot file, and as the newest backup.
    assert b.verify(str(path / b.SNAPSHOT), cluster_name="airgap", controller_fingerprints=FPS).problems == []
    make_backup(tmp_path, "etcd-20261101T000000Z")
    latest = b.verify("latest", cluster_name="airgap", controller_fingerprints=FPS, backup_root=str(tmp_path))
    assert latest.directory == str(path)


def test_one_changed_byte_is_refused(tmp_path):
    path = make_backup(tmp_path, data=b"snapshot bytes")
    snapshot = path / b.SNAPSHOT
    data = bytearray(snapshot.read_bytes())
    data[3] ^= 0x01
    snapshot.write_bytes(bytes(data))
    result = b.verify(str(path), cluster_name="airgap", controller_fingerprints=FPS)
    assert len(result.problems) == 2  # both records disagree with the file
    assert all("the file is damaged or was changed; use another backup" in p for p in result.problems)
    recorded = b.parse_checksum((path / b.CHECKSUM).read_text())
    assert result.problems[0].startswith(
        f"{snapshot} has sha256 {b.sha256_file(str(snapshot))}, but {snapshot}.sha256 records {recorded}"
    )


def test_no_recorded_checksum_is_refused(tmp_path):
    (tmp_path / "snap.db").write_bytes(b"data")
    result = b.verify(str(tmp_path / "snap.db"), cluster_name="airgap", ignore_cluster_name=True)
    assert result.problems == [f"no recorded checksum for {tmp_path}/snap.db (snapshot.db.sha256 or metadata.json): an unverifiable snapshot is not restored"]  # fmt: skip


def test_a_bare_snapshot_with_its_checksum_needs_the_override(tmp_path):
    (tmp_path / "snap.db").write_bytes(b"data")
    (tmp_path / "snap.db.sha256").write_text(b.checksum_line(b.sha256_file(str(tmp_path / "snap.db")), "snap.db"))
    refused = b.verify(str(tmp_path / "snap.db"), cluster_name="airgap")
    assert refused.problems == [
        f"{tmp_path}/snap.db has no metadata.json, so its cluster is unknown; "
        "set restore_ignore_cluster_name=true if it is this cluster's"
    ]
    allowed = b.verify(str(tmp_path / "snap.db"), cluster_name="airgap", ignore_cluster_name=True)
    assert allowed.problems == [] and "cluster is unknown" in allowed.warnings[0]


def test_another_clusters_snapshot_needs_the_override(tmp_path):
    path = make_backup(tmp_path, cluster="prod")
    refused = b.verify(str(path), cluster_name="airgap", controller_fingerprints=FPS)
    assert refused.problems == [
        "the snapshot is from cluster 'prod', this inventory's is 'airgap'; "
        "set restore_ignore_cluster_name=true if you mean to restore it here"
    ]
    assert (
        b.verify(str(path), cluster_name="airgap", ignore_cluster_name=True, controller_fingerprints=FPS).problems == []
    )


def test_a_snapshot_taken_with_other_keys_is_refused_even_with_the_override(tmp_path):
    path = make_backup(tmp_path)
    now = dict(FPS, encryption_key="f" * 64, service_account="0" * 64)
    result = b.verify(str(path), cluster_name="airgap", ignore_cluster_name=True, controller_fingerprints=now)
    (problem,) = result.problems
    assert "does not match the one the snapshot was taken with (encryption_key, service_account)" in problem
    assert f"cp -a {path}/state/. <airgap_cluster_dir>/" not in problem  # no state/ in this backup
    (path / b.STATE).mkdir()
    (problem,) = b.verify(str(path), cluster_name="airgap", controller_fingerprints=now).problems
    assert f"(cp -a {path}/state/. <airgap_cluster_dir>/)" in problem


def test_a_members_local_backup_cannot_check_the_keys(tmp_path):
    path = make_backup(tmp_path, fps=None)
    result = b.verify(str(path), cluster_name="airgap", controller_fingerprints=FPS)
    assert result.problems == [] and "records no controller state" in result.warnings[0]


def test_locate_refuses_what_is_not_there(tmp_path):
    with pytest.raises(b.BackupError, match=r"does not exist; give a backup directory or its snapshot\.db"):
        b.locate(str(tmp_path / "nope"))
    with pytest.raises(b.BackupError, match="there is no backup in"):
        b.locate("latest", str(tmp_path))
