"""Calico: the manifests pass the apiserver's server-side validation and run only bundled images.

Calico's images cannot be built here (docs/network.md), so Calico cannot run
in the sandbox; what can be proven is that for every encapsulation the
rendered manifests are accepted by the real kube-apiserver (schema and
admission, `--dry-run=server`) and reference only the versions table's
images. Nothing is stored: the flannel cluster is left as it was.
"""

from __future__ import annotations

import pytest

from .conftest import Cluster, tail


def validate(cluster: Cluster, name: str, *extra: str):
    first_cp = cluster.control_planes[0]
    return cluster.playbook(
        "network.yml", name,
        "-l", first_cp, "-e", "kube_network_plugin=calico", "-e", "calico_validate_only=true", *extra,
        hosts=[first_cp],
    )  # fmt: skip


@pytest.mark.parametrize("encapsulation", ["IPIP", "VXLAN", "None"])
def test_manifests_accepted_by_the_apiserver(cluster: Cluster, encapsulation):
    run = validate(cluster, f"calico-{encapsulation}", "-e", f"calico_encapsulation={encapsulation}")
    assert run.ok, tail(run.log)
    log = run.log.read_text()
    assert "Accepted: " in log and "DaemonSet/calico-node" in log and "Deployment/calico-kube-controllers" in log, tail(
        run.log
    )
    assert run.changed == 0, run.changed_tasks()
    # Nothing was stored.
    assert cluster.kubectl("get", "daemonset", "-n", "kube-system", "calico-node", check=False).returncode != 0


def test_an_invalid_object_is_refused(cluster: Cluster):
    run = validate(cluster, "calico-invalid", "-e", '{"calico_node_resources": {"requests": {"cpu": "lots"}}}')
    assert run.rc != 0
    assert "quantities must match the regular expression" in run.log.read_text(), tail(run.log)


def test_an_image_outside_the_bundle_is_refused(cluster: Cluster):
    run = validate(cluster, "calico-foreign-image", "-e", "calico_node_image=docker.io/calico/node:latest")
    assert run.rc != 0
    assert "runs images the bundle does not hold: docker.io/calico/node:latest" in run.log.read_text(), tail(run.log)
