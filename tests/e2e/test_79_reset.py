"""Day-2: reset.yml takes a cluster off its hosts, and site.yml deploys onto them again.

The cheaper scenario: a one-host cluster of its own on a spare host (its own
inventory and controller-side cluster directory next to the fixture's), so
the fixture's cluster keeps running. Fixture contract: tests/e2e/day2.py;
the spare must be clean (test_78_remove_nodes leaves it so) and is left
clean.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from . import day2
from .conftest import Cluster, PlaybookRun, run_playbook, tail

pytestmark = pytest.mark.day2


@pytest.fixture(scope="module")
def single(cluster: Cluster):
    """A one-host inventory (etcd, control plane and worker) on the first spare, in a directory of its own."""
    if not cluster.spares:
        pytest.fail("the reset test needs a spare host: see tests/e2e/day2.py")
    host = next(iter(cluster.spares))
    assert day2.leftovers(cluster, host) == {}, "the spare is not clean before the reset test"
    base = cluster.inventory.parent
    directory = base / "reset"
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "group_vars").mkdir(parents=True)
    shutil.copy(base / "group_vars" / "all.yml", directory / "group_vars" / "all.yml")
    inv = yaml.safe_load(cluster.inventory.read_text())
    inv["all"]["hosts"] = {host: {"ansible_host": cluster.spares[host], "ip": cluster.spares[host]}}
    for group in ("etcd", "kube_control_plane", "kube_node"):
        inv["all"]["children"][group] = {"hosts": {host: {}}}
    (directory / "hosts.yml").write_text(yaml.safe_dump(inv, sort_keys=False))
    yield host, directory / "hosts.yml"
    run_playbook(directory / "hosts.yml", "reset.yml", "reset-cleanup", "-e", "reset_confirm=yes")


def node_ready(cluster: Cluster, kubeconfig, host: str) -> bool:
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


def deployed(inventory, name: str) -> PlaybookRun:
    run = run_playbook(inventory, "site.yml", name)
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    return run


def test_reset_refuses_without_confirmation(cluster: Cluster, single):
    host, inventory = single
    deployed(inventory, "reset-site-1")
    run = run_playbook(inventory, "reset.yml", "reset-unconfirmed")
    assert run.rc != 0
    log = run.log.read_text(errors="replace")
    assert "TASK [Refuse without reset_confirm=yes]" in log
    assert "reset.yml deletes the cluster, its etcd data and every workload" in log
    assert run.changed == 0
    assert node_ready(cluster, inventory.parent / "cluster" / "admin.conf", host)


def test_reset_leaves_nothing_of_the_cluster_and_keeps_the_controller_state(cluster: Cluster, single):
    host, inventory = single
    run = run_playbook(inventory, "reset.yml", "reset-1", "-e", "reset_confirm=yes")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert day2.leftovers(cluster, host) == {}
    assert (inventory.parent / "cluster" / "pki" / "ca.key").exists(), "the controller's PKI must be kept"

    again = run_playbook(inventory, "reset.yml", "reset-2", "-e", "reset_confirm=yes")
    assert again.rc == 0 and again.changed == 0, "a second reset changed:\n" + "\n".join(again.changed_tasks())


def test_site_deploys_again_onto_a_reset_host(cluster: Cluster, single):
    host, inventory = single
    deployed(inventory, "reset-site-2")
    assert node_ready(cluster, inventory.parent / "cluster" / "admin.conf", host)


def test_reset_with_the_controller_state_deletes_the_cluster_directory(cluster: Cluster, single):
    host, inventory = single
    run = run_playbook(inventory, "reset.yml", "reset-3", "-e", "reset_confirm=yes", "-e", "reset_controller_state=yes")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert not (inventory.parent / "cluster").exists()
    assert day2.leftovers(cluster, host) == {}
