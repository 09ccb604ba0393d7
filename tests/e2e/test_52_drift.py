"""Drift repair: what an operator (or a disk) broke on a node, site.yml puts back.

On one control-plane node (an etcd member): a binary deleted, a certificate
deleted, a unit file deleted (the roles install no drop-ins; a whole unit is
the harder case), a flag changed in a unit and applied (the service runs
with it), and the etcd system user given a login shell. One
site.yml run restores all of it, restarting what runs with the wrong
settings; then site.yml in check mode reports nothing to change: the repair
converged, and check mode on a converged cluster changes nothing (the one
check-mode run of the lifecycle order).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from .conftest import ARCH, BUNDLE_DIR, Cluster, tail

PKI = "/etc/kubernetes/pki"


@pytest.fixture(scope="module")
def victim(cluster: Cluster) -> str:
    return cluster.control_planes[-1]


def sha256(cluster: Cluster, host: str, path: str) -> str:
    return cluster.ssh(host, f"sha256sum {path}").stdout.split()[0]


def running_flags(cluster: Cluster, host: str, binary: str) -> str:
    return cluster.ssh(host, f"tr '\\0' ' ' < /proc/$(pidof {binary})/cmdline").stdout


def test_site_yml_repairs_a_drifted_node(cluster: Cluster, victim: str):
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
    scheduler_sha = next(
        a["sha256"]
        for a in manifest["artifacts"]
        if a["name"] == "kube-scheduler" and a["version"] == cluster.kube_version and a["arch"] == ARCH
    )
    cert_sha = hashlib.sha256((cluster.cluster_dir / "pki" / "apiserver.crt").read_bytes()).hexdigest()
    assert "--profiling=false" in running_flags(cluster, victim, "kube-apiserver")

    # The flag first: the apiserver restarts with it (and its certificate, still there).
    cluster.ssh(
        victim,
        "set -e; sed -i 's/--profiling=false/--profiling=true/' /etc/systemd/system/kube-apiserver.service; "
        "systemctl daemon-reload; systemctl restart kube-apiserver",
        timeout=240,
    )
    # Then the files; the running services keep what they loaded.
    cluster.ssh(
        victim,
        f"set -e; rm /usr/local/bin/kube-scheduler {PKI}/apiserver.crt /etc/systemd/system/kube-proxy.service; "
        "systemctl daemon-reload; usermod -s /bin/bash etcd",
    )
    assert cluster.ssh(victim, "getent passwd etcd").stdout.strip().endswith(":/bin/bash")
    assert "--profiling=true" in running_flags(cluster, victim, "kube-apiserver")

    repair = cluster.playbook("site.yml", "site-drift-repair")
    assert repair.ok, tail(repair.log)
    assert repair.changed > 0
    assert repair.recap[victim]["changed"] >= 5, repair.changed_tasks()

    assert sha256(cluster, victim, "/usr/local/bin/kube-scheduler") == scheduler_sha
    assert sha256(cluster, victim, f"{PKI}/apiserver.crt") == cert_sha
    assert cluster.ssh(victim, "systemctl is-active kube-proxy kube-scheduler").stdout.split() == ["active", "active"]
    assert "--profiling=false" in cluster.ssh(victim, "systemctl cat kube-apiserver").stdout
    assert cluster.ssh(victim, "getent passwd etcd").stdout.strip().endswith(":/var/lib/etcd:/usr/sbin/nologin")
    # The running apiserver was restarted with the repaired unit.
    assert "--profiling=false" in running_flags(cluster, victim, "kube-apiserver")
    assert cluster.kubectl("get", "--raw", "/readyz", server=victim).stdout.strip() == "ok"

    check = cluster.playbook("site.yml", "site-check", "--check", "--diff")
    assert check.ok, tail(check.log)
    assert check.changed == 0, "check mode would change after the repair:\n" + "\n".join(check.changed_tasks())
