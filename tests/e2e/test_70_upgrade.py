"""Day-2: upgrade.yml from the previous versions to the defaults, with a workload that must not notice.

Fixture contract: the cluster (tests/e2e/conftest.py's ``cluster``) is
deployed at the test versions set ``previous`` (E2E_VERSIONS=previous:
Kubernetes 1.35.8, etcd 3.6.15, containerd 2.4.1, pause 3.10.1), with flannel
and three etcd members; nothing else changes it while this module runs.
The module moves the inventory to the default versions
(``sandbox.py inventory --versions default``) and leaves the cluster upgraded.

    E2E_VERSIONS=previous pytest -m upgrade tests/e2e
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import textwrap
import threading
import time
from dataclasses import dataclass, field

import pytest
import yaml

from . import day2
from .conftest import ROOT, SANDBOX_DIR, SANDBOX_NAME, TABLE, VENV_BIN, Cluster, env, run_playbook, tail

pytestmark = pytest.mark.upgrade

TABLE_DATA = yaml.safe_load(TABLE.read_text())["airgap_artifacts"]
DEFAULT = {c: str(TABLE_DATA[c]["default"]) for c in ("kubernetes", "etcd", "containerd", "pause")}
PREVIOUS = {c: str(TABLE_DATA[c]["test_versions"]["previous"]) for c in DEFAULT}

NAMESPACE = "upgrade-probe"

# Runs on a node until /run/upgrade-probe.stop exists: GET the Service's
# ClusterIP twice a second (a new connection each time; kube-proxy's rules
# on the host route it to a pod). Prints {"ok": n, "errors": [...]}.
SERVICE_PROBE = textwrap.dedent(
    """
    import json, os, sys, time, urllib.request
    url, ok, errors = sys.argv[1], 0, []
    while not os.path.exists("/run/upgrade-probe.stop"):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                ok += 1
        except Exception as exc:
            errors.append("%.1f %s" % (time.time(), exc))
        time.sleep(0.5)
    print(json.dumps({"ok": ok, "errors": errors}))
    """
)


def workload(image: str) -> list[dict]:
    """Two replicas behind a PodDisruptionBudget (minAvailable 1) and a Service."""
    labels = {"app": "upgrade-probe"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        # One replica per node, so a drain takes at most one.
                        "affinity": {
                            "podAntiAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": [
                                    {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}
                                ]
                            }
                        },
                        "terminationGracePeriodSeconds": 30,
                        "containers": [
                            {
                                "name": "web",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "args": ["netexec", "--http-port=8080"],
                                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
                                # Keep serving while the endpoint is withdrawn everywhere.
                                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ]


@dataclass
class ReadyWatch:
    """The Deployment's fewest ready replicas, polled every second until stop()."""

    cluster: Cluster
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ReadyWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            out = self.cluster.kubectl("-n", NAMESPACE, "get", "deployment", "web", "-o", "json", check=False)
            if out.returncode == 0:
                self.samples.append(int(json.loads(out.stdout)["status"].get("readyReplicas") or 0))
            time.sleep(1)

    def stop(self) -> list[int]:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        return self.samples


def refused(cluster: Cluster, name: str, *extra: str):
    """upgrade.yml with ``extra``; it must fail and change nothing."""
    run = run_playbook(cluster.inventory, "upgrade.yml", name, *extra)
    assert run.rc != 0, f"upgrade.yml was not refused:\n{tail(run.log)}"
    assert run.changed == 0, run.changed_tasks()
    return run, run.log.read_text(errors="replace")


def kube_versions(cluster: Cluster) -> dict[str, str]:
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes(cluster)}


def nodes(cluster: Cluster) -> list[dict]:
    return cluster.kubectl_json("get", "nodes")["items"]


def test_the_cluster_runs_the_previous_versions(cluster: Cluster):
    assert set(kube_versions(cluster).values()) == {"v" + PREVIOUS["kubernetes"]}, (
        "deploy the cluster with E2E_VERSIONS=previous"
    )


def test_a_skipped_minor_is_refused_by_the_skew_check(cluster: Cluster):
    major, minor = PREVIOUS["kubernetes"].split(".")[:2]
    skipped = next(v for v in TABLE_DATA["kubernetes"]["versions"] if v.startswith(f"{major}.{int(minor) + 2}."))
    _, log = refused(cluster, "upgrade-refuse-skip", "-e", f"kube_version={skipped}")
    assert "TASK [airgap.k8s.day2 : Refuse an upgrade the version skew policy or the cluster's state forbids]" in log
    assert f"going to {skipped} skips a minor version" in log, log[-3000:]


def test_a_downgrade_is_refused_by_the_skew_check(cluster: Cluster):
    major, minor, patch = PREVIOUS["kubernetes"].split(".")
    older = f"{major}.{minor}.{int(patch) - 1}"
    _, log = refused(cluster, "upgrade-refuse-downgrade", "-e", f"kube_version={older}")
    assert f"runs {PREVIOUS['kubernetes']}, newer than the inventory's {older}: a downgrade" in log, log[-3000:]
    assert "-e upgrade_allow_downgrade=true" in log


def test_a_node_cordoned_by_someone_else_is_refused(cluster: Cluster):
    node = cluster.groups["kube_node"][-1]
    cluster.kubectl("cordon", node)
    try:
        _, log = refused(cluster, "upgrade-refuse-cordoned")
    finally:
        cluster.kubectl("uncordon", node)
    assert f"cordoned by someone else (no airgap.k8s/cordoned-by annotation): {node}." in log, log[-3000:]
    assert "-e upgrade_ignore_cordoned=true" in log


def test_a_target_missing_from_the_bundle_is_refused(cluster: Cluster):
    # In the versions table, one minor up (the skew allows it), but not in the test bundle.
    missing = next(v for v in TABLE_DATA["etcd"]["versions"] if v not in (DEFAULT["etcd"], PREVIOUS["etcd"]))
    _, log = refused(cluster, "upgrade-refuse-bundle", "-e", f"etcd_version={missing}")
    assert "TASK [airgap.k8s.preflight : Verify the bundle holds every file this inventory needs]" in log
    assert "cannot install this inventory" in log and missing in log, log[-3000:]


def test_an_unhealthy_etcd_is_refused(cluster: Cluster):
    member = cluster.groups["etcd"][-1]
    cluster.ssh(member, "systemctl stop etcd")
    try:
        _, log = refused(cluster, "upgrade-refuse-unhealthy", "-e", "day2_health_timeout=5")
    finally:
        cluster.ssh(member, "systemctl start etcd")
    assert "Refusing to upgrade: the cluster is not healthy (" in log, log[-3000:]
    day2.etcd_members(cluster, cluster.groups["etcd"][0], cluster.groups["etcd"], cluster.hosts)


@pytest.fixture(scope="module")
def upgraded(cluster: Cluster):
    """The workload, the probes, the inventory moved to the defaults, then upgrade.yml."""
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": workload(
        day2.agnhost_image())}))  # fmt: skip
    cluster.kubectl("-n", NAMESPACE, "rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    service_ip = cluster.kubectl_json("-n", NAMESPACE, "get", "service", "web")["spec"]["clusterIP"]

    subprocess.run(
        [str(VENV_BIN / "python"), str(ROOT / "tools/sandbox/sandbox.py"), "inventory", "--name", SANDBOX_NAME,
         "--versions", "default"],
        cwd=ROOT, env=env(), check=True,
    )  # fmt: skip
    group_vars = yaml.safe_load((SANDBOX_DIR / "group_vars" / "all.yml").read_text())
    assert group_vars.get("kube_version", DEFAULT["kubernetes"]) == DEFAULT["kubernetes"]

    prober = cluster.groups["kube_node"][-1]
    cluster.ssh(prober, "rm -f /run/upgrade-probe.stop")
    service: dict = {}

    def probe_service() -> None:
        cmd = f"python3 -c {shlex.quote(SERVICE_PROBE)} http://{service_ip}/hostname"
        proc = cluster.ssh(prober, cmd, check=False, timeout=7200)
        service.update(json.loads(proc.stdout) if proc.stdout.strip() else {"ok": 0, "errors": [proc.stderr]})

    thread = threading.Thread(target=probe_service, daemon=True)
    thread.start()
    api = day2.LbProbes(cluster, list(cluster.hosts)).start()
    ready = ReadyWatch(cluster).start()
    try:
        run = run_playbook(cluster.inventory, "upgrade.yml", "upgrade")
    finally:
        cluster.ssh(prober, "touch /run/upgrade-probe.stop", check=False)
        thread.join(timeout=60)
        api_results = api.stop()
        samples = ready.stop()
    yield {"run": run, "service": service, "api": api_results, "ready": samples}
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_upgrade_succeeds(upgraded):
    run = upgraded["run"]
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    print(f"upgrade.yml took {run.seconds:.0f}s")


def test_the_service_answered_throughout(upgraded):
    service = upgraded["service"]
    total = service["ok"] + len(service["errors"])
    print(f"Service requests during the upgrade: {service['ok']}/{total} succeeded")
    assert service["ok"] > 0
    assert service["errors"] == [], service["errors"][:20]


def test_the_api_answered_through_every_load_balancer(cluster: Cluster, upgraded):
    if len(cluster.groups["kube_control_plane"]) < 2:
        pytest.skip("one control plane: the API is down while its apiserver restarts (run on the HA sandbox)")
    for host, result in upgraded["api"].items():
        assert result["ok"] > 0, (host, result)
        assert result["errors"] == [], (host, result["errors"][:20])


def test_the_workload_always_had_a_ready_replica(upgraded):
    samples = upgraded["ready"]
    assert samples, "the readiness watch took no sample"
    assert min(samples) >= 1, f"ready replicas fell to {min(samples)}"


def test_every_component_reports_the_new_version(cluster: Cluster, upgraded):
    assert upgraded["run"].rc == 0
    want = "v" + DEFAULT["kubernetes"]
    for cp in cluster.groups["kube_control_plane"]:
        version = cluster.kubectl_json("--server", f"https://{cluster.hosts[cp]}:6443", "get", "--raw", "/version")
        assert version["gitVersion"] == want, (cp, version)
    for node in nodes(cluster):
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == want, (node["metadata"]["name"], info)
        assert info["containerRuntimeVersion"].removeprefix("containerd://").lstrip("v") == DEFAULT["containerd"], info
        assert not node["spec"].get("unschedulable"), node["metadata"]["name"]
        assert "airgap.k8s/cordoned-by" not in (node["metadata"].get("annotations") or {})
    etcd = day2.etcd_members(cluster, cluster.groups["etcd"][0], cluster.groups["etcd"], cluster.hosts)
    assert etcd["healthy"], etcd
    assert {m["version"] for m in etcd["members"]} == {DEFAULT["etcd"]}, etcd["members"]
    for node in cluster.groups["kube_node"]:
        # The running daemon's version (ctr asks it), not only the file on disk.
        server = cluster.ssh(node, "ctr version | sed -n '/^Server:/,$ s/^ *Version: *//p'").stdout.strip()
        assert server.lstrip("v") == DEFAULT["containerd"], (node, server)


def test_the_snapshot_was_taken_before_the_upgrade(cluster: Cluster, upgraded):
    backups = sorted((cluster.inventory.parent / "cluster" / "backups").glob("pre-upgrade-*.db"))
    assert backups, "no pre-upgrade snapshot on the controller"
    digest = hashlib.sha256(backups[-1].read_bytes()).hexdigest()
    assert backups[-1].with_name(backups[-1].name + ".sha256").read_text() == f"{digest}  {backups[-1].name}\n"
    assert oct(backups[-1].stat().st_mode & 0o777) == "0o600"


def test_a_second_upgrade_changes_nothing(cluster: Cluster, upgraded):
    assert upgraded["run"].rc == 0
    run = run_playbook(cluster.inventory, "upgrade.yml", "upgrade-again")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert run.changed == 0, "changed on the second upgrade:\n" + "\n".join(run.changed_tasks())


def test_site_after_the_upgrade_changes_nothing(cluster: Cluster, upgraded):
    assert upgraded["run"].rc == 0
    run = run_playbook(cluster.inventory, "site.yml", "upgrade-site")
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    assert run.changed == 0, "site.yml changed after the upgrade:\n" + "\n".join(run.changed_tasks())


def test_site_refuses_to_change_a_running_clusters_version(cluster: Cluster, upgraded):
    assert upgraded["run"].rc == 0
    run = run_playbook(
        cluster.inventory, "site.yml", "upgrade-site-refuse", "-e", f"kube_version={PREVIOUS['kubernetes']}"
    )
    log = run.log.read_text(errors="replace")
    assert run.rc != 0 and run.changed == 0, run.changed_tasks()
    assert "TASK [airgap.k8s.day2 : Refuse a version change outside upgrade.yml]" in log
    assert f"(inventory: {PREVIOUS['kubernetes']})" in log and "Run playbooks/upgrade.yml" in log, log[-3000:]
