"""Re-running site.yml changes nothing.

After the install, workload, etcd and security checks: it also proves the
cluster converged back after the etcd failure. Check mode on a converged
cluster is the last run of test_52 (after the drift repair).
"""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Cluster, tail

# The tasks that move files to hosts (bundle files, certificates,
# configuration, .deb packages). On a converged host each only reads: one
# round trip, nothing sent. Their results carry sent_bytes, which the
# profile callback records per host (tasks under no_log report none).
MOVERS = ("airgap.k8s.install_files", "airgap.k8s.deb_install")


def sent(profile: Path) -> tuple[int, dict[str, int]]:
    """(number of mover results seen, bytes sent per 'task :: host' where not zero)."""
    seen, nonzero = 0, {}
    for task in json.loads(profile.read_text())["tasks"]:
        if task["action"] not in MOVERS:
            continue
        for host, size in task["sent_bytes"].items():
            seen += 1
            if size:
                nonzero[f"{task['role']} : {task['name']} :: {host}"] = size
    return seen, nonzero


def test_second_run_reports_no_change(cluster: Cluster):
    run = cluster.playbook("site.yml", "site-2")
    assert run.ok, tail(run.log)
    assert run.changed == 0, "changed on the second run:\n" + "\n".join(run.changed_tasks())
    seen, nonzero = sent(run.log.with_suffix(".profile.json"))
    assert seen >= 3 * len(cluster.hosts), f"only {seen} install_files/deb_install results: renamed, or no_log?"
    assert not nonzero, f"a converged host was sent files: {nonzero}"
