"""Day-2 slot, last: site.yml refuses to run without the controller's cluster directory, then changes nothing.

With the controller's cluster directory moved away, site.yml refuses before
any change, naming the check and how to restore the directory; nothing is
minted on the controller and no host is touched. Moved back, site.yml runs
with changed=0 on every host: the cluster is left as it was found. At the
end of the whole order this is also the site.yml run after every change of
the order (the upgrade, the restore, the renewal, the adds, the removal, the
reset host and the removed member joining again): each left the hosts as
site.yml would have (test_58 leaves its own site.yml run to this one when
the day-2 modules run; test_70, test_78 and test_79 have none of their own).
"""

from __future__ import annotations

import shutil

import pytest

from . import day2
from .conftest import Cluster, refused_on, tail

pytestmark = [pytest.mark.ha, pytest.mark.day2]


@pytest.fixture(scope="module", autouse=True)
def _whole_cluster(cluster: Cluster) -> None:
    day2.require_whole(cluster)


CHECK = "airgap.k8s.preflight : Check the controller's cluster directory holds the state of the cluster the hosts run"


def fingerprints(cluster: Cluster) -> dict[str, str]:
    """What every host holds that a new PKI would replace."""
    cmd = "sha256sum /etc/kubernetes/pki/ca.crt /etc/kubernetes/kubelet.conf 2>/dev/null; true"
    return {h: cluster.ssh(h, cmd).stdout for h in cluster.inv.hosts}


def test_site_yml_refuses_without_the_cluster_directory_then_runs_clean_with_it(cluster: Cluster):
    directory = cluster.cluster_dir
    away = directory.with_name("cluster.moved-away")
    before = fingerprints(cluster)
    shutil.move(directory, away)
    try:
        run = cluster.playbook("site.yml", "site-no-cluster-dir", hosts=refused_on(cluster.inv))
        assert run.rc != 0, tail(run.log)
        text = run.text()
        assert run.last_task() == CHECK, tail(run.log)
        assert f"the controller's cluster directory {directory} does not exist" in text
        assert "Nothing was changed." in text and "etcd_backup.yml" in text
        assert run.changed == 0, run.changed_tasks()
        assert not directory.exists(), "site.yml created a new cluster directory (new CAs) before refusing"
        assert fingerprints(cluster) == before
    finally:
        if directory.exists():
            shutil.rmtree(directory)
        shutil.move(away, directory)
    again = cluster.playbook("site.yml", "site-cluster-dir-back")
    assert again.ok, tail(again.log)
    assert again.changed == 0, "changed with the directory back:\n" + "\n".join(again.changed_tasks())
