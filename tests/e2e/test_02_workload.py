"""A workload on the cluster: spread, pod-to-pod, Service DNS, NodePort."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from .conftest import Cluster, bundle_image

NS = "e2e"


def _agnhost_image() -> str:
    return bundle_image("agnhost")


@pytest.fixture(scope="module")
def web(cluster: Cluster):
    image = _agnhost_image()
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": NS},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "affinity": {
                                "podAntiAffinity": {
                                    "requiredDuringSchedulingIgnoredDuringExecution": [
                                        {
                                            "labelSelector": {"matchLabels": {"app": "web"}},
                                            "topologyKey": "kubernetes.io/hostname",
                                        }
                                    ]
                                }
                            },
                            "containers": [
                                {
                                    "name": "agnhost",
                                    "image": image,
                                    "imagePullPolicy": "Never",
                                    "args": ["netexec", "--http-port=8080"],
                                    "ports": [{"containerPort": 8080}],
                                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                                }
                            ],
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": NS},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web-np", "namespace": NS},
                "spec": {
                    "type": "NodePort",
                    "selector": {"app": "web"},
                    "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}],
                },
            },
        ],
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    cluster.kubectl("-n", NS, "rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    pods = cluster.kubectl_json("-n", NS, "get", "pods", "-l", "app=web")["items"]
    yield pods
    cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def test_replicas_spread_over_two_nodes(web):
    nodes = {p["spec"]["nodeName"] for p in web}
    assert len(web) == 2 and len(nodes) == 2, [(p["metadata"]["name"], p["spec"].get("nodeName")) for p in web]


def test_pod_to_pod_across_nodes(cluster: Cluster, web):
    a, b = web
    out = cluster.kubectl(
        "-n", NS, "exec", a["metadata"]["name"], "--", "/agnhost", "connect", f"{b['status']['podIP']}:8080",
        "--timeout=5s",
    )  # fmt: skip
    assert out.returncode == 0


def test_service_reachable_by_dns_name_from_a_pod(cluster: Cluster, web):
    a = web[0]["metadata"]["name"]
    name = f"web.{NS}.svc.cluster.local"
    deadline = time.monotonic() + 60
    while True:
        proc = cluster.kubectl(
            "-n", NS, "exec", a, "--", "/agnhost", "connect", f"{name}:80", "--timeout=5s", check=False
        )
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert proc.returncode == 0, proc.stderr


def test_nodeport_reachable_from_the_controller(cluster: Cluster, web):
    pod_names = {p["metadata"]["name"] for p in web}
    seen = set()
    for host, ip in cluster.hosts.items():
        with urllib.request.urlopen(f"http://{ip}:30080/hostname", timeout=10) as resp:
            body = resp.read().decode().strip()
        assert body in pod_names, f"{host}: {body!r}"
        seen.add(body)
    assert seen
