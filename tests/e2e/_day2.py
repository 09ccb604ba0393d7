"""What the day-2 tests (backup and restore, certificates, controller state) share.

The one place to adapt when the end-to-end fixtures change.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import Cluster, PlaybookRun, run_playbook
from .test_05_ha import pause_image, probe, ready_nodes

__all__ = ["cluster_dir", "last_task", "pause_image", "playbook", "probe", "ready_nodes"]


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
