"""Day-2 slot, backup and restore: etcd backup and restore of the lifecycle cluster (3 members, after the upgrade).

Before the backup: ConfigMap A, a Secret (encrypted at rest) and a
Deployment. After it: ConfigMap B, A deleted. A snapshot with one byte
changed is refused before anything stops; the real restore brings A back,
B is gone, the Secret decrypts, every node is Ready, the workload runs and
etcd is healthy with all its members. (The 1-member case: molecule
scenario etcd_backup.) Leaves the same cluster (members, nodes) it found,
with the etcd data of the backup.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from . import day2
from .conftest import Cluster, refused_on, tail

pytestmark = [pytest.mark.ha, pytest.mark.day2]


@pytest.fixture(scope="module", autouse=True)
def _whole_cluster(cluster: Cluster) -> None:
    day2.require_whole(cluster)


NS = "e2e-backup"
SECRET = "s3cr3t-written-before-the-backup"
VERIFY_TASK = "Check the backup's checksum, cluster and controller state"


def started_at(cluster: Cluster, host: str, unit: str) -> str:
    return cluster.ssh(host, f"systemctl show {unit} -p ActiveEnterTimestampMonotonic --value").stdout.strip()


@pytest.fixture(scope="module")
def backup(cluster: Cluster) -> dict:
    """The state before the backup, the backup, then the changes after it."""
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": NS}, "data": {"k": "a"}},
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "before", "namespace": NS},
                "stringData": {"password": SECRET},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "keep", "namespace": NS},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "keep"}},
                    "template": {
                        "metadata": {"labels": {"app": "keep"}},
                        "spec": {
                            "containers": [
                                {"name": "pause", "image": cluster.image("pause"), "imagePullPolicy": "Never"}
                            ]
                        },
                    },
                },
            },
        ],
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    cluster.kubectl("-n", NS, "rollout", "status", "deployment/keep", "--timeout=180s", timeout=200)
    leader = leader_name(cluster)
    run = cluster.playbook("etcd_backup.yml", "etcd-backup", hosts=cluster.etcd_members)
    assert run.ok, tail(run.log)
    backups = cluster.cluster_dir / "backups"
    newest = sorted(p for p in backups.iterdir() if p.name.startswith("etcd-"))[-1]
    cluster.kubectl("-n", NS, "create", "configmap", "b", "--from-literal=k=b")
    cluster.kubectl("-n", NS, "delete", "configmap", "a")
    return {"path": newest, "leader": leader, "leader_after": leader_name(cluster)}


def leader_name(cluster: Cluster) -> str:
    host = cluster.etcd_members[0]
    status = json.loads(cluster.etcdctl(host, "endpoint status --cluster -w json").stdout)
    members = json.loads(cluster.etcdctl(host, "member list -w json").stdout)["members"]
    leader = status[0]["Status"]["leader"]
    return next(m["name"] for m in members if m["ID"] == leader)


def test_backup_is_filed_with_checksum_metadata_and_controller_state(cluster: Cluster, backup):
    path: Path = backup["path"]
    assert sorted(p.name for p in path.iterdir()) == ["metadata.json", "snapshot.db", "snapshot.db.sha256", "state"]
    digest = hashlib.sha256((path / "snapshot.db").read_bytes()).hexdigest()
    assert (path / "snapshot.db.sha256").read_text() == f"{digest}  snapshot.db\n"
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["cluster_name"] == "airgap" and meta["snapshot"]["sha256"] == digest
    assert sorted(m["name"] for m in meta["members"]) == sorted(cluster.etcd_members)
    assert all(m["peer_urls"] == [f"https://{cluster.hosts[m['name']]}:2380"] for m in meta["members"])
    # A follower gives the snapshot (unless leadership moved while it was taken).
    if backup["leader"] == backup["leader_after"]:
        assert meta["source"]["name"] != backup["leader"], meta["source"]
    # etcd's own tool reads the filed snapshot and agrees on the revision.
    status = json.loads(
        subprocess.run(
            [str(cluster.bundle_file("etcd", "etcdutl")), "snapshot", "status", str(path / "snapshot.db"), "-w", "json"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert status["revision"] == meta["snapshot"]["revision"] and status["totalKey"] == meta["snapshot"]["total_keys"]
    # The controller state needed to use it: CA keys, service-account keys, encryption key; private.
    for rel in ("pki/ca.key", "pki/etcd/ca.key", "pki/front-proxy-ca.key", "pki/sa.key", "encryption-key"):
        assert (path / "state" / rel).read_bytes() == (cluster.cluster_dir / rel).read_bytes(), rel
    for p in [path, *path.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def test_a_snapshot_with_one_changed_byte_is_refused_before_anything_stops(cluster: Cluster, backup):
    doctored = backup["path"].parent / "etcd-20000101T000000Z"
    shutil.copytree(backup["path"], doctored)
    try:
        snapshot = doctored / "snapshot.db"
        data = bytearray(snapshot.read_bytes())
        data[len(data) // 2] ^= 0x01
        snapshot.write_bytes(bytes(data))
        units = {h: "etcd" for h in cluster.etcd_members} | {h: "kube-apiserver" for h in cluster.control_planes}
        before = {(h, u): started_at(cluster, h, u) for h, u in units.items()}
        run = cluster.playbook(
            "etcd_restore.yml",
            "etcd-restore-damaged",
            "-e",
            f"etcd_snapshot={doctored}",
            "-e",
            "restore_confirm=yes",
            hosts=refused_on(cluster.inv),
        )
        assert run.rc != 0, tail(run.log)
        assert run.last_task() == VERIFY_TASK, tail(run.log)
        assert "the file is damaged or was changed; use another backup" in run.text()
        assert run.changed == 0, run.changed_tasks()
        assert {(h, u): started_at(cluster, h, u) for h, u in units.items()} == before, "something was restarted"
        assert cluster.kubectl("-n", NS, "get", "configmap", "b", "-o", "name").stdout.strip() == "configmap/b"
    finally:
        shutil.rmtree(doctored)


def test_restore_brings_back_what_the_backup_held(cluster: Cluster, backup):
    run = cluster.playbook(
        "etcd_restore.yml",
        "etcd-restore",
        "-e",
        f"etcd_snapshot={backup['path']}",
        "-e",
        "restore_confirm=yes",
        hosts=[*cluster.etcd_members, *cluster.control_planes],
    )
    assert run.ok, tail(run.log)
    restored = datetime.datetime.now(datetime.UTC)
    # A is back, B is gone.
    assert cluster.kubectl("-n", NS, "get", "configmap", "a", "-o", "jsonpath={.data.k}").stdout == "a"
    gone = cluster.kubectl("-n", NS, "get", "configmap", "b", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stdout + gone.stderr
    # The Secret written before the backup decrypts (same encryption key).
    value = cluster.kubectl("-n", NS, "get", "secret", "before", "-o", "jsonpath={.data.password}").stdout
    assert base64.b64decode(value).decode() == SECRET
    # Every node Ready, and its kubelet talking to the restored cluster: its Lease renewed
    # after the restore (the Ready condition alone comes back from the snapshot).
    assert cluster.node_ready(server=cluster.control_planes[0]) == dict.fromkeys(cluster.nodes, True)
    deadline = time.monotonic() + 90
    while True:
        leases = cluster.kubectl_json("-n", "kube-node-lease", "get", "leases")["items"]
        renewed = {
            lease["metadata"]["name"]: datetime.datetime.fromisoformat(
                lease["spec"]["renewTime"].replace("Z", "+00:00")
            )
            > restored
            for lease in leases
        }
        if all(renewed.get(h) for h in cluster.nodes) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert all(renewed.get(h) for h in cluster.nodes), renewed
    deadline = time.monotonic() + 180
    while True:
        pods = cluster.kubectl_json("-n", NS, "get", "pods", "-l", "app=keep")["items"]
        running = [
            p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ]
        if len(running) == 2 or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert len(running) == 2, [(p["metadata"]["name"], p["status"].get("phase")) for p in pods]
    # etcd: healthy, every member, a new cluster, the old data kept aside.
    assert cluster.etcd_healthy()
    assert cluster.etcd_member_names() == sorted(cluster.etcd_members)
    for member in cluster.etcd_members:
        kept = cluster.ssh(member, "ls -d /var/lib/etcd/before-restore-*/member/snap").stdout.split()
        assert len(kept) == 1, (member, kept)
        assert cluster.ssh(member, "test ! -e /var/lib/etcd/restore", check=False).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def _cleanup(cluster: Cluster):
    yield
    cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)
