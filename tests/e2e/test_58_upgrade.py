"""Upgrade: upgrade.yml from the previous versions to the defaults, with a workload that must not notice.

With E2E_VERSIONS=previous (make e2e, make e2e-upgrade) the lifecycle
run deploys the versions table's test versions set ``previous`` (Kubernetes
1.35.8, etcd 3.6.15, containerd 2.4.1, pause 3.10.1) on its five nodes (three control planes with
etcd, a containerd and a Docker worker). This module refuses unsafe
upgrades first (each refusal changes nothing), then moves the inventory to
the defaults (``cluster.set_vars``) and runs upgrade.yml while a Service, a
Deployment with a disruption budget and the API through every node's load
balancer are probed. It leaves the cluster upgraded, at the defaults: the
day-2 modules after it add nodes at those versions.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from .conftest import SANDBOX_VERSIONS, TABLE, Cluster, PlaybookRun, Prober, refused_on, tail

pytestmark = [pytest.mark.upgrade, pytest.mark.ha]

TABLE_DATA = yaml.safe_load(TABLE.read_text())["airgap_artifacts"]
DEFAULT = {c: str(TABLE_DATA[c]["default"]) for c in ("kubernetes", "etcd", "containerd", "pause")}
PREVIOUS = {c: str(TABLE_DATA[c]["test_versions"]["previous"]) for c in DEFAULT}
# The inventory variable of each upgraded component.
VERSION_VARS = {"kubernetes": "kube_version", "etcd": "etcd_version", "containerd": "containerd_version",
                "pause": "pause_version"}  # fmt: skip

if SANDBOX_VERSIONS != "previous":
    pytest.skip(
        f"the upgrade needs a deploy at the previous versions (E2E_VERSIONS=previous, not {SANDBOX_VERSIONS!r})",
        allow_module_level=True,
    )

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
                                # Keep serving while the endpoint is withdrawn everywhere (and, when the
                                # other replica has just become ready, while every node's kube-proxy learns
                                # it). 5 s was once too short on a loaded 2-core CI host: one refused
                                # connection in 702 (kube-proxy programs in 1-2 s here when idle).
                                "lifecycle": {"preStop": {"sleep": {"seconds": 15}}},
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
    run = cluster.playbook("upgrade.yml", name, *extra, hosts=refused_on(cluster.inv))
    assert run.rc != 0, f"upgrade.yml was not refused:\n{tail(run.log)}"
    assert run.changed == 0, run.changed_tasks()
    return run, run.text()


def etcd_versions(cluster: Cluster) -> dict[str, str]:
    """etcd endpoint -> the version that member's server reports."""
    report = cluster.etcdctl(cluster.etcd_members[0], "endpoint status --cluster -w json").stdout
    return {s["Endpoint"]: s["Status"]["version"] for s in json.loads(report)}


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
    node = cluster.workers[-1]
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
    member = cluster.etcd_members[-1]
    cluster.ssh(member, "systemctl stop etcd")
    try:
        _, log = refused(cluster, "upgrade-refuse-unhealthy", "-e", "day2_health_timeout=5")
    finally:
        cluster.ssh(member, "systemctl start etcd")
    assert "Refusing to upgrade: the cluster is not healthy (" in log, log[-3000:]
    cluster.wait_for("every etcd member healthy again", cluster.etcd_healthy, timeout=120)


@pytest.fixture(scope="module")
def upgraded(cluster: Cluster):
    """The workload, the probes, the inventory moved to the defaults, then upgrade.yml."""
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": workload(
        cluster.image("agnhost"))}))  # fmt: skip
    cluster.kubectl("-n", NAMESPACE, "rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    service_ip = cluster.kubectl_json("-n", NAMESPACE, "get", "service", "web")["spec"]["clusterIP"]

    cluster.set_vars(**{VERSION_VARS[c]: v for c, v in DEFAULT.items()})

    prober = cluster.workers[-1]
    cluster.ssh(prober, "rm -f /run/upgrade-probe.stop")
    service: dict = {}

    def probe_service() -> None:
        cmd = f"python3 -c {shlex.quote(SERVICE_PROBE)} http://{service_ip}/hostname"
        proc = cluster.ssh(prober, cmd, check=False, timeout=7200)
        service.update(json.loads(proc.stdout) if proc.stdout.strip() else {"ok": 0, "errors": [proc.stderr]})

    thread = threading.Thread(target=probe_service, daemon=True)
    thread.start()
    ready = ReadyWatch(cluster).start()
    try:
        with Prober(cluster, cluster.hosts) as api:
            run = cluster.playbook("upgrade.yml", "upgrade")
    finally:
        cluster.ssh(prober, "touch /run/upgrade-probe.stop", check=False)
        thread.join(timeout=60)
        samples = ready.stop()
    # The run prints the backup it took before the first change.
    backup = re.search(r"Backup before the upgrade: (\S+)", run.text())
    yield {"run": run, "service": service, "api": api, "ready": samples, "backup": backup and backup.group(1)}
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def during(run: PlaybookRun, error: str) -> str:
    """A probe's "<epoch> <error>" with the playbook task that was running then."""
    stamp, _, _ = error.partition(" ")
    try:
        return f"{error} -- during {run.task_at(float(stamp))}"
    except ValueError:
        return error


def test_upgrade_succeeds(upgraded):
    run = upgraded["run"]
    assert run.ok, tail(run.log)
    print(f"upgrade.yml took {run.seconds:.0f}s")


def test_the_service_answered_throughout(upgraded):
    service = upgraded["service"]
    total = service["ok"] + len(service["errors"])
    print(f"Service requests during the upgrade: {service['ok']}/{total} succeeded")
    assert service["ok"] > 0
    assert service["errors"] == [], [during(upgraded["run"], e) for e in service["errors"][:20]]


def test_the_api_answered_through_every_load_balancer(cluster: Cluster, upgraded):
    api: Prober = upgraded["api"]
    for host in cluster.hosts:
        assert api.answered(host) > 0, (host, api.results.get(host))
    assert not api.failures(), {h: [during(upgraded["run"], x) for x in e[:20]] for h, e in api.failures().items()}


def test_the_workload_always_had_a_ready_replica(upgraded):
    samples = upgraded["ready"]
    assert samples, "the readiness watch took no sample"
    assert min(samples) >= 1, f"ready replicas fell to {min(samples)}"


def test_every_component_reports_the_new_version(cluster: Cluster, upgraded):
    assert upgraded["run"].rc == 0
    want = "v" + DEFAULT["kubernetes"]
    for cp in cluster.control_planes:
        version = json.loads(cluster.kubectl("get", "--raw", "/version", server=cp).stdout)
        assert version["gitVersion"] == want, (cp, version)
    for node in nodes(cluster):
        name, info = node["metadata"]["name"], node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == want, (name, info)
        runtime, _, version = info["containerRuntimeVersion"].partition("://")
        expected = DEFAULT["containerd"] if cluster.runtime(name) == "containerd" else str(
            cluster.var(name, "docker_version"))  # fmt: skip
        # Semver build metadata after "+" (Debian's Docker reports 20.10.24+dfsg1) is not the version.
        assert (runtime, version.lstrip("v").partition("+")[0]) == (cluster.runtime(name), expected), (name, info)
        assert not node["spec"].get("unschedulable"), name
        assert "airgap.k8s/cordoned-by" not in (node["metadata"].get("annotations") or {})
    assert cluster.etcd_healthy()
    assert set(etcd_versions(cluster).values()) == {DEFAULT["etcd"]}, etcd_versions(cluster)
    for node in cluster.nodes:
        if cluster.runtime(node) != "containerd":
            continue
        # The running daemon's version (ctr asks it), not only the file on disk.
        server = cluster.ssh(node, "ctr version | sed -n '/^Server:/,$ s/^ *Version: *//p'").stdout.strip()
        assert server.lstrip("v") == DEFAULT["containerd"], (node, server)


def test_a_backup_was_taken_before_anything_changed(cluster: Cluster, upgraded):
    assert upgraded["backup"], "upgrade.yml printed no backup:\n" + tail(upgraded["run"].log)
    path = Path(upgraded["backup"])
    assert path.parent == cluster.cluster_dir / "backups", path
    meta = json.loads((path / "metadata.json").read_text())
    # Taken before the etcd members changed: the backup records the old version.
    assert meta["etcd_version"] == PREVIOUS["etcd"], meta
    digest = hashlib.sha256((path / "snapshot.db").read_bytes()).hexdigest()
    assert (path / "snapshot.db.sha256").read_text() == f"{digest}  snapshot.db\n"
    assert meta["snapshot"]["sha256"] == digest
    assert (path / "state" / "pki" / "etcd" / "ca.key").read_bytes() == (
        cluster.cluster_dir / "pki" / "etcd" / "ca.key"
    ).read_bytes()
    assert oct(path.stat().st_mode & 0o777) == "0o700" and oct((path / "snapshot.db").stat().st_mode & 0o777) == "0o600"


def test_a_second_upgrade_changes_nothing(cluster: Cluster, upgraded):
    assert upgraded["run"].rc == 0
    run = cluster.playbook("upgrade.yml", "upgrade-again")
    assert run.ok, tail(run.log)
    assert run.changed == 0, "changed on the second upgrade:\n" + "\n".join(run.changed_tasks())


def test_site_after_the_upgrade_changes_nothing(cluster: Cluster, upgraded, request: pytest.FixtureRequest):
    """Without the day-2 modules (make e2e-upgrade): in the whole order, test_85's site.yml is the one after
    the upgrade (and after every day-2 change), so this run is not repeated here."""
    if any(item.get_closest_marker("day2") for item in request.session.items):
        pytest.skip("the whole order: test_85_controller_state's site.yml run (changed=0) comes after the upgrade")
    assert upgraded["run"].rc == 0
    run = cluster.playbook("site.yml", "upgrade-site")
    assert run.ok, tail(run.log)
    assert run.changed == 0, "site.yml changed after the upgrade:\n" + "\n".join(run.changed_tasks())


def test_site_refuses_to_change_a_running_clusters_version(cluster: Cluster, upgraded):
    assert upgraded["run"].rc == 0
    run = cluster.playbook(
        "site.yml", "upgrade-site-refuse", "-e", f"kube_version={PREVIOUS['kubernetes']}", hosts=refused_on(cluster.inv)
    )
    log = run.text()
    assert run.rc != 0 and run.changed == 0, run.changed_tasks()
    assert "TASK [airgap.k8s.day2 : Refuse a version change outside upgrade.yml]" in log
    assert f"(inventory: {PREVIOUS['kubernetes']})" in log and "Run playbooks/upgrade.yml" in log, log[-3000:]
