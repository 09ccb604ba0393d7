"""airgap.k8s.etcd_backup_store and etcd_backup_verify through main()."""

from __future__ import annotations

import json
import os
import stat
from unittest import mock

import pytest
from _pkifactory import KEY, NOW, ca, make_cluster_dir

from ansible_collections.airgap.k8s.plugins.module_utils import _etcd_backup as b
from ansible_collections.airgap.k8s.plugins.module_utils._pki import KeySpec, generate_private_key
from ansible_collections.airgap.k8s.plugins.modules import etcd_backup_store, etcd_backup_verify

STATUS = {"hash": 1, "revision": 77, "totalKey": 12, "totalSize": 20480, "version": "3.6.0"}
MEMBERS = {"members": [{"ID": 255, "name": "node1", "peerURLs": ["https://10.0.0.11:2380"], "clientURLs": ["https://10.0.0.11:2379"]}]}  # fmt: skip


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def cluster(tmp_path):
    identity = {"ca": ca(), "etcd": ca("etcd-ca"), "front-proxy": ca("fp-ca"), "sa": generate_private_key(KeySpec("ecdsa", 256))}  # fmt: skip
    directory = make_cluster_dir(tmp_path / "cluster", identity)
    identity["ca"].write(directory / "pki", "apiserver")  # any leaf file: the whole pki/ is saved
    return directory


def store_args(cluster, tmp_path, data=b"etcd snapshot", **over):
    incoming = tmp_path / "incoming.db"
    incoming.write_bytes(data)
    args = {
        "backup_dir": str(cluster / "backups"),
        "snapshot": str(incoming),
        "sha256": b.sha256_file(str(incoming)),
        "cluster_name": "airgap",
        "cluster_dir": str(cluster),
        "status": STATUS,
        "members": MEMBERS,
        "source": {"name": "node1", "endpoint": "https://10.0.0.11:2379"},
        "etcd_version": "3.6.16",
    }
    return {**args, **over}


def store(run_module, args, when=NOW, **kw):
    with mock.patch.object(etcd_backup_store, "utcnow", return_value=when):
        return run_module(etcd_backup_store.main, args, **kw)


def test_files_a_private_backup_with_checksum_metadata_and_state(run_module, cluster, tmp_path):
    os.umask(0o022)
    run = store(run_module, store_args(cluster, tmp_path))
    assert not run.failed, run.result
    path = cluster / "backups" / "etcd-20261122T080000Z"
    assert run.result["path"] == str(path) and run.result["changed"] is True
    assert sorted(p.name for p in path.iterdir()) == ["metadata.json", "snapshot.db", "snapshot.db.sha256", "state"]
    assert (path / "snapshot.db").read_bytes() == b"etcd snapshot"
    assert not (tmp_path / "incoming.db").exists(), "moved, not copied"
    digest = b.sha256_file(str(path / "snapshot.db"))
    assert (path / "snapshot.db.sha256").read_text() == f"{digest}  snapshot.db\n"
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["cluster_name"] == "airgap" and meta["created"] == "2026-11-22T08:00:00Z"
    assert meta["snapshot"] | {} == {
        "file": "snapshot.db", "sha256": digest, "size": 13, "revision": 77, "hash": 1,
        "total_keys": 12, "total_size": 20480, "storage_version": "3.6.0",
    }  # fmt: skip
    assert meta["members"] == [{"name": "node1", "id": "ff", "peer_urls": ["https://10.0.0.11:2380"], "client_urls": ["https://10.0.0.11:2379"], "is_learner": False}]  # fmt: skip
    assert meta["etcd_version"] == "3.6.16" and meta["source"]["name"] == "node1"
    assert meta["controller_state"]["fingerprints"]["encryption_key"] == b.hashlib.sha256(KEY.encode()).hexdigest()
    assert (path / "state" / "pki" / "ca.key").read_bytes() == (cluster / "pki" / "ca.key").read_bytes()
    assert (path / "state" / "encryption-key").read_text() == KEY + "\n"
    for p in [cluster / "backups", path, *path.rglob("*")]:
        assert mode(p) == (0o700 if p.is_dir() else 0o600), p
    # What it filed is what verify accepts.
    check = run_module(
        etcd_backup_verify.main, {"path": str(path), "cluster_name": "airgap", "cluster_dir": str(cluster)}
    )
    assert not check.failed, check.result
    assert check.result["sha256"] == digest and check.result["metadata"] == meta


def test_keeps_the_newest(run_module, cluster, tmp_path):
    for day in range(1, 5):
        run = store(run_module, store_args(cluster, tmp_path, keep=2), when=NOW.replace(day=day))
        assert not run.failed, run.result
    names = sorted(os.listdir(cluster / "backups"))
    assert names == ["etcd-20261103T080000Z", "etcd-20261104T080000Z"]
    assert run.result["pruned"] == [str(cluster / "backups" / "etcd-20261102T080000Z")]


def test_a_damaged_transfer_files_nothing(run_module, cluster, tmp_path):
    run = store(run_module, store_args(cluster, tmp_path, sha256="0" * 64))
    assert run.failed and "the transfer damaged it; run the backup again" in run.result["msg"]
    assert not (cluster / "backups").exists()


def test_missing_controller_state_leaves_no_half_backup(run_module, cluster, tmp_path):
    (cluster / "encryption-key").unlink()
    run = store(run_module, store_args(cluster, tmp_path))
    assert run.failed and "encryption-key does not exist: the backup needs it" in run.result["msg"]
    assert os.listdir(cluster / "backups") == []


def test_check_mode_writes_nothing(run_module, cluster, tmp_path):
    run = store(run_module, store_args(cluster, tmp_path), check_mode=True)
    assert not run.failed and run.result["changed"] is True
    assert not (cluster / "backups").exists() and (tmp_path / "incoming.db").exists()


def test_bad_input_is_refused(run_module, cluster, tmp_path):
    name = store(run_module, store_args(cluster, tmp_path, name="nightly"))
    assert name.failed and name.result["msg"].startswith("name: 'nightly' must look like etcd-20261201T031500Z")
    keep = store(run_module, store_args(cluster, tmp_path, keep=-1))
    assert keep.failed and keep.result["msg"].startswith("keep: -1 is negative")
    outside = store(run_module, store_args(cluster, tmp_path, state_files=["../secrets"]))
    assert outside.failed and outside.result["msg"] == "state_files: '../secrets' must be a path inside cluster_dir"


def test_verify_refuses_a_changed_byte_naming_both_checksums(run_module, cluster, tmp_path):
    path = store(run_module, store_args(cluster, tmp_path)).result["path"]
    snapshot = os.path.join(path, "snapshot.db")
    data = bytearray(open(snapshot, "rb").read())  # noqa: SIM115
    data[0] ^= 0xFF
    with open(snapshot, "wb") as handle:
        handle.write(data)
    run = run_module(etcd_backup_verify.main, {"path": path, "cluster_name": "airgap", "cluster_dir": str(cluster)})
    assert run.failed
    assert run.result["msg"].startswith(f"Refusing to restore {snapshot}: {snapshot} has sha256 ")
    assert len(run.result["problems"]) == 2


def test_verify_latest_and_missing(run_module, cluster, tmp_path):
    store(run_module, store_args(cluster, tmp_path))
    latest = run_module(
        etcd_backup_verify.main,
        {
            "path": "latest",
            "backup_dir": str(cluster / "backups"),
            "cluster_name": "airgap",
            "cluster_dir": str(cluster),
        },
    )
    assert not latest.failed and latest.result["directory"].endswith("etcd-20261122T080000Z")
    gone = run_module(
        etcd_backup_verify.main, {"path": str(tmp_path / "x"), "cluster_name": "a", "cluster_dir": str(cluster)}
    )
    assert gone.failed and "does not exist; give a backup directory" in gone.result["msg"]


@pytest.mark.parametrize("module", [etcd_backup_store, etcd_backup_verify])
def test_docs_match_the_argument_spec(documented_spec, module):
    documented, actual = documented_spec(module)
    assert documented == actual
