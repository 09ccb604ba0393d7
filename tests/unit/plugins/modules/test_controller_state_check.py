"""airgap.k8s.cluster_state_info and controller_state_check through main()."""

from __future__ import annotations

import pytest
from _pkifactory import identity, make_cluster_dir, make_control_plane

from ansible_collections.airgap.k8s.plugins.modules import cluster_state_info, controller_state_check


@pytest.fixture(scope="module", name="identity")
def _identity():
    return identity()


def host_args(root):
    return {
        "etcd_data_dir": str(root / "var" / "lib" / "etcd"),
        "kubernetes_dir": str(root / "etc" / "kubernetes"),
        "etcd_pki_dir": str(root / "etc" / "etcd" / "pki"),
        "systemd_dir": str(root / "systemd"),
    }


def test_info_reads_the_host(run_module, tmp_path, identity):
    make_control_plane(tmp_path, identity)
    run = run_module(cluster_state_info.main, host_args(tmp_path), check_mode=True)
    assert not run.failed and run.result["changed"] is False
    assert run.result["state"]["etcd_data"] and run.result["state"]["kube_apiserver"]


def test_check_passes_for_the_clusters_own_directory(run_module, tmp_path, identity):
    state = run_module(
        cluster_state_info.main, host_args(make_control_plane(tmp_path / "n1", identity) and tmp_path / "n1")
    )
    cluster = make_cluster_dir(tmp_path / "cluster", identity)
    run = run_module(
        controller_state_check.main, {"cluster_dir": str(cluster), "hosts": {"node1": state.result["state"]}}
    )
    assert not run.failed, run.result
    assert run.result["running"]["etcd data"] == ["node1"] and run.result["problems"] == []


def test_check_refuses_a_missing_directory_and_names_the_newest_backup(run_module, tmp_path, identity):
    make_control_plane(tmp_path / "n1", identity)
    state = run_module(cluster_state_info.main, host_args(tmp_path / "n1")).result["state"]
    backups = tmp_path / "backups"
    (backups / "etcd-20261120T000000Z").mkdir(parents=True)
    (backups / "etcd-20261121T000000Z").mkdir()
    run = run_module(
        controller_state_check.main,
        {"cluster_dir": str(tmp_path / "cluster"), "hosts": {"node1": state}, "backup_dir": str(backups)},
    )
    assert run.failed
    msg = run.result["msg"]
    assert msg.startswith("Refusing to go on: the hosts run a cluster (etcd data on node1;")
    assert f"the controller's cluster directory {tmp_path}/cluster does not exist" in msg
    assert f"The newest backup found is {backups}/etcd-20261121T000000Z" in msg
    assert run.result["problems"] == [f"the controller's cluster directory {tmp_path}/cluster does not exist"]


def test_check_refuses_bad_input(run_module, tmp_path):
    run = run_module(controller_state_check.main, {"cluster_dir": str(tmp_path), "hosts": {"node1": "x"}})
    assert run.failed and run.result["msg"].startswith("hosts.node1: expected the state cluster_state_info returns")


@pytest.mark.parametrize("module", [cluster_state_info, controller_state_check])
def test_docs_match_the_argument_spec(documented_spec, module):
    documented, actual = documented_spec(module)
    assert documented == actual
