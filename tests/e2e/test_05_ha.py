"""HA: three control planes behind every node's local load balancer.

Runs in its own session on the HA sandbox (E2E_HA=1 E2E_NODES=4: nodes 1-3
control plane and etcd, node 4 a worker); `make e2e` runs it after the
default session. Stopping one control-plane node must leave the API
answering through the load balancer, the worker Ready, and the cluster able
to schedule and run a new pod (etcd quorum, controller-manager and scheduler
leader election on the survivors).
"""

from __future__ import annotations

import itertools
import json
import shlex
import subprocess
import textwrap
import threading
import time

import pytest

from .conftest import Cluster, bundle_image, env, run_playbook, tail

pytestmark = pytest.mark.ha

# A request every kubelet makes, through the node-local load balancer with
# the kubelet's own credentials: GET its Node object (authenticated, checked
# by the Node authorizer, read from etcd). Prints the status and the kind.
# (/readyz is no good here: a draining apiserver answers it with 500 on
# purpose during --shutdown-delay-duration, while serving real requests.)
PROBE = textwrap.dedent(
    """
    import base64, json, os, re, socket, ssl, sys, tempfile, urllib.request
    conf = open("/etc/kubernetes/kubelet.conf").read()
    pem = {k: base64.b64decode(re.search(k + r"-data: *(\\S+)", conf).group(1)) for k in ("client-certificate", "client-key")}
    with tempfile.TemporaryDirectory(dir="/run") as d:
        for k, v in pem.items():
            with open(os.open(os.path.join(d, k), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(v)
        ctx = ssl.create_default_context(cafile="/etc/kubernetes/pki/ca.crt")
        ctx.load_cert_chain(os.path.join(d, "client-certificate"), os.path.join(d, "client-key"))
        url = "https://127.0.0.1:6443/api/v1/nodes/" + socket.gethostname()
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=20) as r:
                print(r.status, json.load(r)["kind"])
        except Exception as exc:
            print("error", exc)
            sys.exit(1)
    """
)


@pytest.fixture(scope="module")
def topology(cluster: Cluster) -> tuple[list[str], str]:
    control_planes = cluster.groups["kube_control_plane"]
    workers = [h for h in cluster.groups["kube_node"] if h not in control_planes]
    if len(control_planes) < 3 or not workers:
        pytest.fail("the HA tests need 3 control-plane nodes and a worker: run with E2E_HA=1 E2E_NODES=4")
    return control_planes, workers[0]


def via(
    cluster: Cluster, host: str, *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl as the administrator, straight to HOST's apiserver."""
    return cluster.kubectl(f"--server=https://{cluster.hosts[host]}:6443", *args, check=check, stdin=stdin)


def ready_nodes(cluster: Cluster, host: str) -> dict[str, bool]:
    nodes = json.loads(via(cluster, host, "get", "nodes", "-o", "json").stdout)["items"]
    return {
        n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
        for n in nodes
    }


def probe(cluster: Cluster, host: str) -> tuple[bool, str]:
    proc = cluster.ssh(host, f"python3 -c {shlex.quote(PROBE)}", check=False, timeout=60)
    return proc.returncode == 0 and proc.stdout.startswith("200 Node"), (proc.stdout + proc.stderr).strip()


def test_every_node_ready(cluster: Cluster, topology):
    control_planes, _ = topology
    assert ready_nodes(cluster, control_planes[0]) == dict.fromkeys(cluster.hosts, True)


def test_every_apiserver_ready_and_in_every_load_balancer(cluster: Cluster, topology):
    control_planes, worker = topology
    for host in control_planes:
        assert via(cluster, host, "get", "--raw", "/readyz").stdout.strip() == "ok", host
    # haproxy's view from the worker: every apiserver is a backend and UP (state 2).
    state = cluster.ssh(worker, "echo 'show servers state kube_apiserver' | socat stdio /run/haproxy/admin.sock").stdout
    up = {line.split()[3] for line in state.splitlines()[2:] if line.strip() and line.split()[5] == "2"}
    assert up == set(control_planes), state


def test_rolling_restart_keeps_the_api_answering(cluster: Cluster, topology):
    """A control-plane change restarts one apiserver at a time; clients never notice."""
    control_planes, worker = topology
    results: list[tuple[float, bool, str]] = []
    stop = threading.Event()

    def keep_probing() -> None:
        while not stop.is_set():
            ok, out = probe(cluster, worker)
            results.append((time.monotonic(), ok, out))
            time.sleep(0.5)

    prober = threading.Thread(target=keep_probing, daemon=True)
    prober.start()
    try:
        run = run_playbook(cluster.inventory, "site.yml", "site-rolling", "-e", "control_plane_audit_log_maxage=29")
    finally:
        stop.set()
        prober.join(timeout=120)
    assert run.rc == 0 and run.failed == 0, tail(run.log)
    restarted = [t for t in run.changed_tasks() if "Restart kube-apiserver" in t]
    assert len(restarted) == len(control_planes), run.changed_tasks()
    # One at a time: each apiserver came up (was restarted) at a different moment.
    starts = []
    for host in control_planes:
        unit = cluster.ssh(host, "systemctl show kube-apiserver -p ExecStart -p ActiveEnterTimestampMonotonic").stdout
        assert "--audit-log-maxage=29" in unit, (host, unit)
        starts.append(int(unit.split("ActiveEnterTimestampMonotonic=")[1].split()[0]))
    starts.sort()
    assert all(b - a >= 2_000_000 for a, b in itertools.pairwise(starts)), f"apiservers restarted together: {starts}"
    failures = [f"{out}" for _, ok, out in results if not ok]
    assert len(results) >= 20, f"only {len(results)} probes ran during the rolling restart"
    assert not failures, f"{len(failures)} of {len(results)} requests through the worker's LB failed: {failures[:5]}"


def test_losing_a_control_plane_node_keeps_the_api_answering(cluster: Cluster, topology):
    control_planes, worker = topology
    victim, survivor = control_planes[0], control_planes[1]
    ok, out = probe(cluster, worker)
    assert ok, f"the probe through the worker's load balancer failed before any node was stopped: {out}"
    subprocess.run(["podman", "stop", "--time", "5", victim], env=env(), check=True, capture_output=True)
    stopped = time.monotonic()

    # Every request through the worker's load balancer is answered, from the
    # first second on: haproxy retries a dead backend's connection elsewhere.
    failures = []
    for _ in range(20):
        ok, out = probe(cluster, worker)
        if not ok:
            failures.append(f"{time.monotonic() - stopped:.0f}s: {out}")
        time.sleep(1)
    assert not failures, "requests through the worker's load balancer failed:\n" + "\n".join(failures)

    # The cluster still works: a new pod is scheduled on the worker and runs
    # (etcd quorum of two, leader election moves to a survivor if needed).
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "e2e-ha-probe", "namespace": "default"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": worker},
            "containers": [{"name": "pause", "image": pause_image()}],
        },
    }
    via(cluster, survivor, "apply", "-f", "-", stdin=json.dumps(manifest))
    via(cluster, survivor, "wait", "--for=condition=Ready", "pod/e2e-ha-probe", "--timeout=180s")

    # Past the node-monitor grace period (40 s), the worker, whose kubelet
    # reaches the API only through its load balancer, is still Ready.
    time.sleep(max(0.0, 50 - (time.monotonic() - stopped)))
    ready = ready_nodes(cluster, survivor)
    assert ready[worker], ready
    assert all(ready[h] for h in control_planes[1:]), ready


def pause_image() -> str:
    """The pause image reference the inventory installs (preloaded on every node)."""
    return bundle_image("pause")
