"""Day-2 slot, reset: reset.yml takes a cluster off its hosts, and the reset host can be deployed again.

The cheaper scenario: a one-host cluster of its own on the first spare (its
own inventory and controller-side cluster directory, build/sandbox-<name>/reset),
so the lifecycle cluster keeps running. The spare must be clean:
test_78_remove_nodes removed it from the lifecycle cluster, so site.yml
deploying the one-host cluster onto it proves a removed host can be deployed
again. After the resets, one add_nodes.yml run adds both spares back to the
lifecycle cluster: the reset host as a worker and the etcd member and control
plane test_78 removed, under its old name (remove really resets it). Leaves
every node in the cluster (4 etcd members, 4 control planes, 3 workers) for
the failure tests and test_85's site.yml run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from . import day2
from .conftest import SANDBOX_DIR, Cluster, PlaybookRun, run_playbook, tail

pytestmark = [pytest.mark.ha, pytest.mark.day2]


@pytest.fixture(scope="module")
def single(cluster: Cluster):
    """A one-host inventory (etcd, control plane and worker) on the first spare, in a directory of its own."""
    host, _ = day2.day2_hosts(cluster)
    if host not in cluster.spares:
        pytest.fail(f"{host} is in the lifecycle cluster's inventory: test_78_remove_nodes did not remove it")
    assert day2.leftovers(cluster, host) == {}, "the spare is not clean before the reset test"
    shutil.rmtree(SANDBOX_DIR / "reset", ignore_errors=True)
    inv = cluster.inv.copy_to(SANDBOX_DIR / "reset" / "hosts.yml")
    inv.addresses = {host: cluster.spares[host]}
    inv.groups = {group: [host] for group in ("etcd", "kube_control_plane", "kube_node")}
    inv.host_vars = {}
    inv.write()
    yield host, inv.path
    if host in cluster.spares and (inv.path.parent / "cluster").exists():
        # A test below failed before the host was reset for good: leave it clean for the next run.
        run_playbook(inv.path, "reset.yml", "reset-cleanup", "-e", "reset_confirm=yes", hosts=[host])


def node_ready(cluster: Cluster, kubeconfig: Path, host: str) -> bool:
    proc = subprocess.run(
        [str(cluster.kubectl_bin), "--kubeconfig", str(kubeconfig), "get", "node", host, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        return False
    conditions = json.loads(proc.stdout)["status"]["conditions"]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def deployed(cluster: Cluster, inventory: Path, host: str, name: str) -> PlaybookRun:
    run = run_playbook(inventory, "site.yml", name, hosts=[host])
    assert run.ok, tail(run.log)
    kubeconfig = inventory.parent / "cluster" / "admin.conf"
    cluster.wait_for(f"{host} Ready in its own cluster", lambda: node_ready(cluster, kubeconfig, host), timeout=180)
    return run


def test_reset_refuses_without_confirmation(cluster: Cluster, single):
    host, inventory = single
    deployed(cluster, inventory, host, "reset-site-1")
    run = run_playbook(inventory, "reset.yml", "reset-unconfirmed", hosts=[host])
    assert run.rc != 0
    log = run.text()
    assert run.last_task() == "Refuse without reset_confirm=yes", tail(run.log)
    assert "reset.yml deletes the cluster, its etcd data and every workload" in log
    assert run.changed == 0
    assert node_ready(cluster, inventory.parent / "cluster" / "admin.conf", host)


def test_reset_leaves_nothing_of_the_cluster_and_keeps_the_controller_state(cluster: Cluster, single):
    host, inventory = single
    run = run_playbook(inventory, "reset.yml", "reset-1", "-e", "reset_confirm=yes", hosts=[host])
    assert run.ok, tail(run.log)
    assert day2.leftovers(cluster, host) == {}
    assert (inventory.parent / "cluster" / "pki" / "ca.key").exists(), "the controller's PKI must be kept"

    again = run_playbook(inventory, "reset.yml", "reset-2", "-e", "reset_confirm=yes", hosts=[host])
    assert again.ok and again.changed == 0, "a second reset changed:\n" + "\n".join(again.changed_tasks())


def test_reset_with_the_controller_state_deletes_the_cluster_directory(cluster: Cluster, single):
    host, inventory = single
    run = run_playbook(
        inventory, "reset.yml", "reset-3", "-e", "reset_confirm=yes", "-e", "reset_controller_state=yes", hosts=[host]
    )
    assert run.ok, tail(run.log)
    assert not (inventory.parent / "cluster").exists()
    assert day2.leftovers(cluster, host) == {}


def test_the_reset_host_and_the_removed_member_join_the_lifecycle_cluster_in_one_run(cluster: Cluster, single):
    """The reset host (clean, above) joins as a worker and the etcd member and control plane test_78
    removed joins again under its old name, both named in one add_nodes.yml run."""
    host, _ = single
    _, member = day2.day2_hosts(cluster)
    assert member in cluster.spares, "test_78_remove_nodes did not remove the etcd member and control plane"
    assert day2.leftovers(cluster, member) == {}, "the removed member is not clean"
    cluster.add_host(host, ["kube_node"])
    cluster.add_host(member, ["etcd", "kube_control_plane"])
    run = day2.add_nodes(cluster, "reset-hosts-join", [host, member])
    assert run.ok, tail(run.log)
    changed = run.changed_by_host()
    assert changed.get(host) and changed.get(member), f"a new host reported no change: {sorted(changed)}"
    ready = cluster.node_ready()
    assert ready.get(host) is True and ready.get(member) is True, ready
    day2.check_members_and_balancers(cluster)
    day2.require_whole(cluster)
