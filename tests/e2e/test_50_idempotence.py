"""Re-running site.yml changes nothing; check mode reports nothing to change.

After the install, workload, etcd and security checks: it also proves the
cluster converged back after the etcd failure.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import Cluster, tail

# On a converged host these only read (file_digests, dpkg-query) and copy
# nothing: one round trip per role instead of one per file.
COPIES = (
    "airgap.k8s.os_prepare : Copy the bundle's packages",
    "airgap.k8s.bundle_install : Install files from the bundle",
    "airgap.k8s.etcd : Install this member's certificates and keys",
    "airgap.k8s.control_plane : Install the control-plane certificates and keys",
    "airgap.k8s.kube_node : Install the cluster CA certificate, the kubelet serving pair and the kubelet kubeconfig",
)


def copied(log: Path, task: str) -> list[str]:
    """Result lines other than 'skipping' under every header of TASK."""
    out, inside = [], False
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            inside = line[line.find("[") + 1 : line.rfind("]")] == task
        elif inside and line.startswith(("ok:", "changed:")):
            out.append(line)
    return out


def test_second_run_reports_no_change(cluster: Cluster):
    run = cluster.playbook("site.yml", "site-2")
    assert run.ok, tail(run.log)
    assert run.changed == 0, "changed on the second run:\n" + "\n".join(run.changed_tasks())
    for task in COPIES:
        assert f"TASK [{task}]" in run.log.read_text(), f"no task {task!r}: renamed?"
        assert not copied(run.log, task), f"{task} still copies on a converged host: {copied(run.log, task)[:3]}"


def test_check_mode_reports_no_change(cluster: Cluster):
    run = cluster.playbook("site.yml", "site-check", "--check", "--diff")
    assert run.ok, tail(run.log)
    assert run.changed == 0, "check mode would change:\n" + "\n".join(run.changed_tasks())
