"""Failure tests on the converged cluster: a bad inventory is refused and touches nothing.

The same refusals as test_05 (there on bare hosts), now on a running
cluster after every earlier section: site.yml stops in preflight with the
message, and no file under /etc/kubernetes, /etc/etcd, the runtimes' and the
load balancer's directories, /usr/local/bin or the units changes on any node.
"""

from __future__ import annotations

import pytest

from .conftest import REFUSALS, SANDBOX_DIR, Cluster, refuse, snapshot


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_inventory_refused_on_the_running_cluster(cluster: Cluster, case, tmp_path):
    before = snapshot(cluster.sandbox)
    inv = cluster.inv.copy_to(SANDBOX_DIR / f"refused-running-{case}" / "hosts.yml")
    # The running cluster's own controller state: without it every playbook
    # refuses first in the safe-controller-state check (test_85), before the
    # check under test could speak.
    inv.vars["airgap_cluster_dir"] = str(cluster.cluster_dir)
    refuse(cluster.sandbox, inv, case, tmp_path, before)
