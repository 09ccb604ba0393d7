"""Re-running site.yml changes nothing; check mode reports nothing to change.

Runs last: it also proves the cluster converged back after the etcd test.
"""

from __future__ import annotations

from .conftest import Cluster, run_playbook, tail


def test_second_run_reports_no_change(cluster: Cluster):
    run = run_playbook(cluster.inventory, "site.yml", "site-2")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert run.changed == 0, "changed on the second run:\n" + "\n".join(run.changed_tasks())


def test_check_mode_reports_no_change(cluster: Cluster):
    run = run_playbook(cluster.inventory, "site.yml", "site-check", "--check", "--diff")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert run.changed == 0, "check mode would change:\n" + "\n".join(run.changed_tasks())
