"""Render checks for the manifests of the flannel, calico and coredns roles.

Each case runs the role's `*_configure` tasks with ansible-playbook on this
machine. kubectl is replaced by a recorder (this is a unit test of the
templates and of the diff-then-apply logic, not of kubectl): it keeps what it
reads on stdin and answers `kubectl diff` with the exit code the case asks for
(1 = the cluster differs, 0 = it is equal). The recorded manifests are parsed
as YAML and checked for what a user cares about. tests/integration or the
sandbox run the same roles against a real apiserver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ARTIFACTS = yaml.safe_load((ROOT / "roles/cluster_defaults/defaults/main/artifacts.yml").read_text())[
    "airgap_artifacts"
]

pytestmark = pytest.mark.slow

RECORDER = """#!{python}
# argv[1] is the kubectl verb (diff, apply); the manifest comes on stdin.
import json, os, sys
import yaml
data = sys.stdin.read()
n = len(os.listdir({out!r}))
with open(os.path.join({out!r}, "%03d-%s.yml" % (n, sys.argv[1])), "w") as fh:
    fh.write(data)
if sys.argv[1] == "diff":
    sys.exit({diff_rc})
# A server-side dry run with -o json answers with the objects, as a List.
if "--dry-run=server" in sys.argv and "json" in sys.argv:
    print(json.dumps({{"apiVersion": "v1", "kind": "List", "items": [d for d in yaml.safe_load_all(data) if d]}}))
"""

INVENTORY = """
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: {python}
  hosts:
    node1: {{ip: 192.0.2.11}}
    node2: {{ip: 192.0.2.12}}
  children:
    kube_control_plane: {{hosts: {{node1: }}}}
    kube_node: {{hosts: {{node1: , node2: }}}}
    k8s_cluster: {{children: {{kube_control_plane: , kube_node: }}}}
"""


def image(component: str, name: str, version: str | None = None) -> str:
    entry = ARTIFACTS[component]
    ref = next(f["image"] for f in entry["files"] if f["name"] == name)
    return ref.replace("{version}", version or entry["default"])


def run_role(tmp_path: Path, role: str, extra: dict | None = None, diff_rc: int = 1, check: bool = False):
    """Run the role's configure tasks; return (recorded calls, ansible-playbook output)."""
    out = tmp_path / "calls"
    out.mkdir()
    recorder = tmp_path / "kubectl"
    recorder.write_text(RECORDER.format(python=sys.executable, out=str(out), diff_rc=diff_rc))
    recorder.chmod(0o755)
    (tmp_path / "hosts.yml").write_text(INVENTORY.format(python=sys.executable))
    (tmp_path / "play.yml").write_text(
        f"---\n- hosts: k8s_cluster\n  gather_facts: false\n  roles:\n    - role: airgap.k8s.{role}\n"
    )
    extra_vars = {f"_{role}_kubectl": [str(recorder)], **(extra or {})}
    (tmp_path / "extra.json").write_text(json.dumps(extra_vars))
    cmd = [
        str(ANSIBLE_PLAYBOOK),
        "-i",
        str(tmp_path / "hosts.yml"),
        str(tmp_path / "play.yml"),
        "--tags",
        f"{role}_configure",
        "-e",
        f"@{tmp_path / 'extra.json'}",
    ]
    if check:
        cmd.append("--check")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = []
    for path in sorted(out.iterdir()):
        verb = path.stem.split("-", 1)[1]
        calls.append((verb, [d for d in yaml.safe_load_all(path.read_text()) if d]))
    return calls, proc.stdout


def recap(output: str, host: str = "node1") -> dict[str, int]:
    line = next(ln for ln in output.splitlines() if ln.startswith(host) and "ok=" in ln)
    return {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}


def by_kind(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


# flannel


def test_flannel_vxlan_default(tmp_path):
    calls, output = run_role(tmp_path, "flannel")
    assert [verb for verb, _ in calls] == ["diff", "apply", "diff", "apply"]
    # The namespace is applied on its own, before the objects that live in it.
    assert [d["kind"] for d in calls[0][1]] == ["Namespace"]
    objs = by_kind(calls[3][1])
    assert set(objs) == {
        ("ServiceAccount", "flannel"),
        ("ClusterRole", "flannel"),
        ("ClusterRoleBinding", "flannel"),
        ("ConfigMap", "kube-flannel-cfg"),
        ("DaemonSet", "kube-flannel-ds"),
    }
    assert all(
        d["metadata"]["namespace"] == "kube-flannel"
        for d in calls[3][1]
        if d["kind"] != "ClusterRole" and d["kind"] != "ClusterRoleBinding"
    )
    net_conf = json.loads(objs["ConfigMap", "kube-flannel-cfg"]["data"]["net-conf.json"])
    assert net_conf == {
        "Network": "10.244.0.0/16",
        "EnableNFTables": False,
        "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472},
    }
    pod = objs["DaemonSet", "kube-flannel-ds"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == image("flannel", "kube-flannel") == "ghcr.io/flannel-io/flannel:v0.28.10"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"] == ["--ip-masq", "--kube-subnet-mgr"]
    assert pod["hostNetwork"] is True
    assert "initContainers" not in pod  # the role installs the CNI plugin on the hosts
    assert recap(output)["changed"] == 2


def test_flannel_host_gw_iface_and_pods_cidr(tmp_path):
    calls, _ = run_role(
        tmp_path,
        "flannel",
        {
            "flannel_backend": "host-gw",
            "flannel_iface": "eth1",
            "kube_pods_cidr": "10.32.0.0/16",
            "kube_proxy_mode": "nftables",
        },
    )
    objs = by_kind(calls[-1][1])
    net_conf = json.loads(objs["ConfigMap", "kube-flannel-cfg"]["data"]["net-conf.json"])
    assert net_conf == {"Network": "10.32.0.0/16", "EnableNFTables": True, "Backend": {"Type": "host-gw"}}
    container = objs["DaemonSet", "kube-flannel-ds"]["spec"]["template"]["spec"]["containers"][0]
    assert "--iface=eth1" in container["args"]


def test_flannel_unchanged_cluster_is_not_applied(tmp_path):
    """kubectl diff exit 0: nothing is applied and nothing reports changed."""
    calls, output = run_role(tmp_path, "flannel", diff_rc=0)
    assert [verb for verb, _ in calls] == ["diff", "diff"]
    assert recap(output)["changed"] == 0


def test_flannel_rejects_unknown_backend(tmp_path):
    with pytest.raises(AssertionError, match="flannel_backend"):
        run_role(tmp_path, "flannel", {"flannel_backend": "udp"})


# coredns


def test_coredns(tmp_path):
    calls, output = run_role(tmp_path, "coredns")
    assert [verb for verb, _ in calls] == ["diff", "apply"]
    objs = by_kind(calls[1][1])
    assert set(objs) == {
        ("ServiceAccount", "coredns"),
        ("ClusterRole", "system:coredns"),
        ("ClusterRoleBinding", "system:coredns"),
        ("ConfigMap", "coredns"),
        ("Deployment", "coredns"),
        ("Service", "kube-dns"),
    }
    assert objs["Service", "kube-dns"]["spec"]["clusterIP"] == "10.96.0.10"
    corefile = objs["ConfigMap", "coredns"]["data"]["Corefile"]
    for line in (
        "kubernetes cluster.local in-addr.arpa ip6.arpa {",
        "forward . /etc/resolv.conf {",
        "cache 30",
        "loop",
        "reload",
        "loadbalance",
        "health {",
        "ready",
    ):
        assert line in corefile
    deploy = objs["Deployment", "coredns"]["spec"]
    assert deploy["replicas"] == 2
    pod = deploy["template"]["spec"]
    # One replica per node; nodes whose taints the pods do not tolerate do not count.
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["maxSkew"] == 1
    assert spread["whenUnsatisfiable"] == "DoNotSchedule" and spread["nodeTaintsPolicy"] == "Honor"
    assert spread["labelSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    # The runtime role preloads the CoreDNS image on every node (table roles: node).
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    (container,) = pod["containers"]
    assert container["image"] == image("coredns", "coredns")
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8181, "scheme": "HTTP"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080, "scheme": "HTTP"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert recap(output)["changed"] == 1


def test_coredns_custom_service_cidr_and_upstreams(tmp_path):
    calls, _ = run_role(
        tmp_path,
        "coredns",
        {
            "kube_service_cidr": "10.100.0.0/16",
            "cluster_domain": "k8s.example",
            "coredns_upstream_nameservers": ["192.0.2.53", "192.0.2.54"],
        },
    )
    objs = by_kind(calls[-1][1])
    assert objs["Service", "kube-dns"]["spec"]["clusterIP"] == "10.100.0.10"
    corefile = objs["ConfigMap", "coredns"]["data"]["Corefile"]
    assert "kubernetes k8s.example in-addr.arpa ip6.arpa {" in corefile
    assert "forward . 192.0.2.53 192.0.2.54 {" in corefile


# calico


@pytest.mark.parametrize(
    ("encapsulation", "ipip", "vxlan", "backend"),
    [("IPIP", "Always", "Never", "bird"), ("VXLAN", "Never", "Always", "vxlan"), ("None", "Never", "Never", "bird")],
)
def test_calico_encapsulation(tmp_path, encapsulation, ipip, vxlan, backend):
    calls, output = run_role(tmp_path, "calico", {"calico_encapsulation": encapsulation, "calico_validate_only": True})
    # Validation is one server-side dry run per manifest; it changes nothing.
    assert [verb for verb, _ in calls] == ["apply"]
    assert recap(output)["changed"] == 0
    objs = by_kind(calls[0][1])
    assert objs["ConfigMap", "calico-config"]["data"]["calico_backend"] == backend
    json.loads(objs["ConfigMap", "calico-config"]["data"]["cni_network_config"].replace("__CNI_MTU__", "0"))
    pod = objs["DaemonSet", "calico-node"]["spec"]["template"]["spec"]
    node = pod["containers"][0]
    env = env_of(node)
    assert env["CALICO_IPV4POOL_CIDR"] == "10.244.0.0/16"
    assert env["CALICO_IPV4POOL_IPIP"] == ipip
    assert env["CALICO_IPV4POOL_VXLAN"] == vxlan
    assert ("-bird-ready" in node["readinessProbe"]["exec"]["command"]) == (backend == "bird")
    assert node["image"] == image("calico", "calico-node")
    assert {c["image"] for c in pod["initContainers"]} == {
        image("calico", "calico-cni"),
        image("calico", "calico-node"),
    }
    controllers = objs["Deployment", "calico-kube-controllers"]["spec"]["template"]["spec"]["containers"][0]
    assert controllers["image"] == image("calico", "calico-kube-controllers")


def test_calico_validation_refuses_images_outside_the_bundle(tmp_path):
    with pytest.raises(AssertionError, match=r"runs images the bundle does not hold: docker\.io/calico/node:latest"):
        run_role(
            tmp_path, "calico", {"calico_validate_only": True, "calico_node_image": "docker.io/calico/node:latest"}
        )


def test_calico_requires_crds_unless_validating(tmp_path):
    with pytest.raises(AssertionError, match="calico_crds_manifest"):
        run_role(tmp_path, "calico")


def test_calico_applies_crds_first(tmp_path):
    crds = tmp_path / "crds.yaml"
    crds.write_text(
        "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: ippools.crd.projectcalico.org}\n"
    )
    calls, _ = run_role(tmp_path, "calico", {"calico_crds_manifest": str(crds)})
    assert [verb for verb, _ in calls] == ["diff", "apply", "diff", "apply"]
    assert calls[1][1][0]["kind"] == "CustomResourceDefinition"
    assert ("DaemonSet", "calico-node") in by_kind(calls[3][1])
