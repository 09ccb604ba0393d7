"""What the day-2 tests (backup and restore, certificates, controller state) share.

The one place to adapt when the end-to-end fixtures change.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from .conftest import Cluster, PlaybookRun, env, run_playbook
from .test_05_ha import pause_image, probe, ready_nodes

__all__ = ["cluster_dir", "every_node_up", "last_task", "pause_image", "playbook", "probe", "ready_nodes"]


def playbook(cluster: Cluster, name: str, label: str, *extra: str) -> PlaybookRun:
    """Run playbooks/NAME against the sandbox; the log is build/e2e/LABEL.log."""
    return run_playbook(cluster.inventory, name, label, *extra)


def cluster_dir(cluster: Cluster) -> Path:
    """The controller's cluster directory of the sandbox inventory."""
    return cluster.inventory.parent / "cluster"


def last_task(log: Path) -> str:
    """The name of the last task a run started (the one that failed, when it stopped)."""
    tasks = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("TASK [")]
    return tasks[-1][len("TASK [") : tasks[-1].rfind("]")] if tasks else ""


def every_node_up(cluster: Cluster, timeout: float = 420) -> None:
    """Start sandbox nodes an earlier test left stopped, and wait until every node is Ready and etcd healthy.

    The day-2 tests need the whole cluster; in this branch's order the HA failure
    test (test_05_ha) runs before them and leaves a control-plane node stopped.
    """
    for host in cluster.hosts:
        state = subprocess.run(
            ["podman", "inspect", "-f", "{{.State.Running}}", host],
            env=env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if state != "true":
            subprocess.run(["podman", "start", host], env=env(), capture_output=True, check=True)
    deadline = time.monotonic() + timeout
    first = cluster.groups["etcd"][0]
    while True:
        try:
            ready = ready_nodes(cluster, cluster.groups["kube_control_plane"][0])
            health = json.loads(
                cluster.ssh(first, ". /etc/etcd/etcdctl.env && etcdctl endpoint health --cluster -w json").stdout
            )
        except (AssertionError, subprocess.TimeoutExpired, json.JSONDecodeError):
            ready, health = {}, []
        if (ready and all(ready.values()) and len(ready) == len(cluster.hosts)
                and health and all(h["health"] for h in health)):  # fmt: skip
            return
        assert time.monotonic() < deadline, f"the cluster is not whole: nodes {ready}, etcd {health}"
        time.sleep(5)
