"""_state: does the controller's cluster directory belong to the cluster the hosts run?"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _pkifactory import KEY, NOW, ca, identity, make_cluster_dir, make_control_plane, read_host

from ansible_collections.airgap.k8s.plugins.module_utils import _state
from ansible_collections.airgap.k8s.plugins.module_utils._pki import KeySpec, generate_private_key


@pytest.fixture(scope="module", name="identity")
def _identity():
    return identity()


def test_host_state_of_a_control_plane(tmp_path, identity):
    state = make_control_plane(tmp_path, identity)
    assert state["etcd_data"] and state["kube_apiserver"]
    assert sorted((c["kind"], Path(c["path"]).relative_to(tmp_path).as_posix()) for c in state["cas"]) == [
        ("etcd", "etc/etcd/pki/ca.crt"),
        ("etcd", "etc/kubernetes/pki/etcd/ca.crt"),
        ("front-proxy", "etc/kubernetes/pki/front-proxy-ca.crt"),
        ("kubernetes", "etc/kubernetes/pki/ca.crt"),
    ]
    assert state["encryption_keys"]["sha256"] == [_state.key_sha256(KEY)]
    assert KEY not in str(state), "the key itself never leaves the host"
    assert "PUBLIC KEY" in state["service_account"]["pem"]


def test_host_state_of_a_bare_host(tmp_path):
    assert read_host(tmp_path) == {
        "etcd_data": False,
        "kube_apiserver": False,
        "cas": [],
        "service_account": None,
        "encryption_keys": None,
    }


def test_fresh_hosts_are_fine_whatever_the_controller_holds(tmp_path):
    controller = _state.controller_state(str(tmp_path / "missing"))
    evidence, problems = _state.evaluate(controller, {"node1": read_host(tmp_path), "node2": read_host(tmp_path)})
    assert problems == [] and not any(evidence.values())


def test_matching_directory_passes(tmp_path, identity):
    host = make_control_plane(tmp_path / "node1", identity)
    controller = _state.controller_state(str(make_cluster_dir(tmp_path / "cluster", identity)))
    evidence, problems = _state.evaluate(controller, {"node1": host})
    assert problems == []
    assert evidence == {"etcd data": ["node1"], "kube-apiserver": ["node1"], "cluster CA": ["node1"]}


def test_a_ca_renewed_with_its_key_still_matches(tmp_path, identity):
    host = make_control_plane(tmp_path / "node1", identity)
    renewed = dict(identity, ca=ca("kubernetes-ca", now=NOW.replace(year=2027), key=identity["ca"].key))
    assert renewed["ca"].cert.serial_number != identity["ca"].cert.serial_number
    controller = _state.controller_state(str(make_cluster_dir(tmp_path / "cluster", renewed)))
    assert _state.evaluate(controller, {"node1": host})[1] == []


def test_missing_directory_is_refused(tmp_path, identity):
    host = make_control_plane(tmp_path / "node1", identity)
    controller = _state.controller_state(str(tmp_path / "cluster"))
    evidence, problems = _state.evaluate(controller, {"node1": host})
    assert problems == [f"the controller's cluster directory {tmp_path}/cluster does not exist"]
    message = _state.refusal(controller, evidence, problems, [f"{tmp_path}/cluster/backups/etcd-20261201T000000Z"])
    assert message.startswith("Refusing to go on: the hosts run a cluster (etcd data on node1; kube-apiserver on node1")
    assert "Nothing was changed." in message
    assert f"cp -a {tmp_path}/cluster/backups/etcd-20261201T000000Z/state/. {tmp_path}/cluster/" in message


def test_directory_without_pki_is_refused(tmp_path, identity):
    host = make_control_plane(tmp_path / "node1", identity)
    (tmp_path / "cluster").mkdir()
    controller = _state.controller_state(str(tmp_path / "cluster"))
    (problem,) = _state.evaluate(controller, {"node1": host})[1]
    assert problem == f"{tmp_path}/cluster holds no pki/ca.crt (the cluster CA)"


def test_another_clusters_directory_is_refused_naming_each_difference(tmp_path, identity):
    host = make_control_plane(tmp_path / "node1", identity)
    other = {
        "ca": ca("kubernetes-ca"),
        "etcd": identity["etcd"],
        "front-proxy": identity["front-proxy"],
        "sa": generate_private_key(KeySpec("ecdsa", 256)),
    }
    controller = _state.controller_state(str(make_cluster_dir(tmp_path / "cluster", other, key="b3RoZXI=")))
    problems = _state.evaluate(controller, {"node1": host})[1]
    node = tmp_path / "node1" / "etc" / "kubernetes"
    assert problems == [
        f"node1: {node}/pki/ca.crt (CN=kubernetes-ca) is not the kubernetes CA of {tmp_path}/cluster "
        "(CN=kubernetes-ca): different keys",
        f"node1: {node}/pki/sa.pub is not the service-account key of {tmp_path}/cluster",
        f"node1: {node}/encryption-config.yaml does not hold the encryption key of {tmp_path}/cluster: "
        "its Secrets were written with another key",
    ]


def test_a_lost_encryption_key_is_refused(tmp_path, identity):
    host = make_control_plane(tmp_path / "node1", identity)
    cluster = make_cluster_dir(tmp_path / "cluster", identity)
    (cluster / "encryption-key").unlink()
    (problem,) = _state.evaluate(_state.controller_state(str(cluster)), {"node1": host})[1]
    assert "has no encryption-key: a new key would make every stored Secret unreadable" in problem


def test_a_worker_with_only_the_ca_counts(tmp_path, identity):
    worker = tmp_path / "node4"
    (worker / "etc" / "kubernetes" / "pki").mkdir(parents=True)
    (worker / "etc" / "kubernetes" / "pki" / "ca.crt").write_text(identity["ca"].pem)
    evidence, problems = _state.evaluate(_state.controller_state(str(tmp_path / "gone")), {"node4": read_host(worker)})
    assert evidence["cluster CA"] == ["node4"] and len(problems) == 1


def test_fingerprints_name_keys_not_contents(tmp_path, identity):
    cluster = make_cluster_dir(tmp_path / "cluster", identity)
    fps = _state.fingerprints(_state.controller_state(str(cluster)))
    assert set(fps) == {"ca/kubernetes", "ca/etcd", "ca/front-proxy", "service_account", "encryption_key"}
    assert fps["encryption_key"] == _state.key_sha256(KEY)
    shutil.rmtree(cluster / "pki" / "etcd")
    assert _state.fingerprints(_state.controller_state(str(cluster)))["ca/etcd"] is None
