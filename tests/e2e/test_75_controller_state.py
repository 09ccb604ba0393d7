"""Day-2: safe controller state.

With the controller's cluster directory moved away, site.yml refuses before
any change, naming the check and how to restore the directory; nothing is
minted on the controller and no host is touched. Moved back, site.yml runs
with changed=0.
"""

from __future__ import annotations

import shutil

import pytest

from .conftest import Cluster, run_playbook, tail

pytestmark = pytest.mark.ha

CHECK = "airgap.k8s.preflight : Check the controller's cluster directory holds the state of the cluster the hosts run"


def fingerprints(cluster: Cluster) -> dict[str, str]:
    """What every host holds that a new PKI would replace."""
    cmd = "sha256sum /etc/kubernetes/pki/ca.crt /etc/kubernetes/kubelet.conf 2>/dev/null; true"
    return {h: cluster.ssh(h, cmd).stdout for h in cluster.hosts}


def test_site_yml_refuses_without_the_cluster_directory_then_runs_clean_with_it(cluster: Cluster):
    cluster_dir = cluster.inventory.parent / "cluster"
    away = cluster.inventory.parent / "cluster.moved-away"
    before = fingerprints(cluster)
    shutil.move(cluster_dir, away)
    try:
        run = run_playbook(cluster.inventory, "site.yml", "site-no-cluster-dir")
        assert run.rc != 0, tail(run.log)
        text = run.log.read_text()
        tasks = [line for line in text.splitlines() if line.startswith("TASK [")]
        assert tasks[-1].startswith(f"TASK [{CHECK}]"), tasks[-3:]
        assert f"the controller's cluster directory {cluster_dir} does not exist" in text
        assert "Nothing was changed." in text and "etcd_backup.yml" in text
        assert run.changed == 0, run.changed_tasks()
        assert not cluster_dir.exists(), "site.yml created a new cluster directory (new CAs) before refusing"
        assert fingerprints(cluster) == before
    finally:
        if cluster_dir.exists():
            shutil.rmtree(cluster_dir)
        shutil.move(away, cluster_dir)
    again = run_playbook(cluster.inventory, "site.yml", "site-cluster-dir-back")
    assert again.rc == 0 and again.failed == 0, tail(again.log)
    assert again.changed == 0, "changed with the directory back:\n" + "\n".join(again.changed_tasks())
