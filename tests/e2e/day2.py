"""Helpers of the day-2 end-to-end modules (test_60_add_nodes, test_78_remove_nodes, test_79_reset).

The fixture contract they rely on (tests/e2e/conftest.py's ``cluster``):
- ``cluster.spares``: at least two started hosts (name -> address) that are
  not in ``cluster.inventory`` and that ``cluster.key`` logs in to as root;
  ``cluster.ssh`` reaches them too;
- the cluster in ``cluster.inventory``: three control planes that are the
  etcd members, at least one worker, flannel;
- the day-2 modules run in file order and nothing else changes the cluster's
  membership meanwhile.
With the conftest of this branch: ``E2E_HA=1 E2E_NODES=6 E2E_SPARES=2``.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .conftest import Cluster, PlaybookRun

DAY2_INVENTORY = "hosts-day2.yml"

# Runs on a node until /run/day2-probe.stop exists (or once with "once"):
# GET the node's own Node object through the node-local load balancer with
# the kubelet's credentials, a new TLS connection each time, every 0.2 s.
# Prints {"ok": n, "errors": [...]}.
LB_PROBE = textwrap.dedent(
    """
    import base64, json, os, re, socket, ssl, sys, tempfile, time, urllib.request
    once = sys.argv[1:] == ["once"]
    conf = open("/etc/kubernetes/kubelet.conf").read()
    pem = {k: base64.b64decode(re.search(k + r"-data: *(\\S+)", conf).group(1)) for k in ("client-certificate", "client-key")}
    ok, errors = 0, []
    with tempfile.TemporaryDirectory(dir="/run") as d:
        for k, v in pem.items():
            with open(os.open(os.path.join(d, k), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(v)
        ctx = ssl.create_default_context(cafile="/etc/kubernetes/pki/ca.crt")
        ctx.load_cert_chain(os.path.join(d, "client-certificate"), os.path.join(d, "client-key"))
        url = "https://127.0.0.1:6443/api/v1/nodes/" + socket.gethostname()
        while True:
            try:
                with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
                    if json.load(r)["kind"] == "Node":
                        ok += 1
            except Exception as exc:
                errors.append("%.1f %s" % (time.time(), exc))
            if once or os.path.exists("/run/day2-probe.stop"):
                break
            time.sleep(0.2)
    print(json.dumps({"ok": ok, "errors": errors}))
    """
)


def lb_answers(cluster: Cluster, host: str) -> tuple[bool, str]:
    """One request through HOST's load balancer; (answered, output)."""
    proc = cluster.ssh(host, f"python3 -c {shlex.quote(LB_PROBE)} once", check=False)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        return False, proc.stdout + proc.stderr
    return result["ok"] == 1, proc.stdout.strip()


@dataclass
class LbProbes:
    """Requests through the load balancer of each host, all the time until stop()."""

    cluster: Cluster
    hosts: list[str]
    results: dict[str, dict] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> LbProbes:
        for host in self.hosts:
            self.cluster.ssh(host, "rm -f /run/day2-probe.stop")
            thread = threading.Thread(target=self._run, args=(host,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _run(self, host: str) -> None:
        proc = self.cluster.ssh(host, f"python3 -c {shlex.quote(LB_PROBE)}", check=False, timeout=3600)
        try:
            self.results[host] = json.loads(proc.stdout)
        except ValueError:
            self.results[host] = {"ok": 0, "errors": [f"probe did not run: {proc.stdout} {proc.stderr}"]}

    def stop(self) -> dict[str, dict]:
        for host in self.hosts:
            self.cluster.ssh(host, "touch /run/day2-probe.stop", check=False)
        for thread in self.threads:
            thread.join(timeout=60)
        return self.results


def write_inventory(cluster: Cluster, groups: dict[str, list[str]], ssh_address: dict[str, str] | None = None) -> Path:
    """The cluster's inventory plus spares in ``groups`` ({group: [spare, ...]}), next to it (same cluster dir).

    ``ssh_address`` overrides a spare's ansible_host (an address nobody answers on, for the refusal test).
    """
    inv = yaml.safe_load(cluster.inventory.read_text())
    for group, names in groups.items():
        for name in names:
            ssh = (ssh_address or {}).get(name, cluster.spares[name])
            inv["all"]["hosts"][name] = {"ansible_host": ssh, "ip": cluster.spares[name]}
            inv["all"]["children"][group].setdefault("hosts", {})
            if inv["all"]["children"][group]["hosts"] is None:
                inv["all"]["children"][group]["hosts"] = {}
            inv["all"]["children"][group]["hosts"][name] = {}
    path = cluster.inventory.parent / DAY2_INVENTORY
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def allow_even(members_after: int) -> list[str]:
    """The extra variable a change needs when it leaves an even number of etcd members."""
    return ["-e", "etcd_allow_even=true"] if members_after % 2 == 0 else []


_CHANGED = re.compile(r"^changed: \[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\]")


def changed_tasks_by_host(run: PlaybookRun) -> dict[str, list[str]]:
    """Task (or handler) name -> per host that reported it changed, from the run's log."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in run.log.read_text(errors="replace").splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            current = line[line.find("[") + 1 : line.rfind("]")]
        else:
            match = _CHANGED.match(line)
            if match:
                out.setdefault(match["host"], [])
                if current not in out[match["host"]]:
                    out[match["host"]].append(current)
    return out


def node_names(cluster: Cluster) -> set[str]:
    return {n["metadata"]["name"] for n in cluster.kubectl_json("get", "nodes")["items"]}


def ready(cluster: Cluster) -> dict[str, bool]:
    return {
        n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
        for n in cluster.kubectl_json("get", "nodes")["items"]
    }


def etcd_members(cluster: Cluster, via: str, members: list[str], addresses: dict[str, str]) -> dict:
    """airgap.k8s.etcd_health from ``via`` over ``members``' client URLs (expects exactly them)."""
    return cluster.module(
        via,
        "airgap.k8s.etcd_health",
        {
            "endpoints": [f"https://{addresses[m]}:2379" for m in members],
            "ca_cert": "/etc/etcd/pki/ca.crt",
            "client_cert": "/etc/etcd/pki/healthcheck-client.crt",
            "client_key": "/etc/etcd/pki/healthcheck-client.key",
            "expected_members": len(members),
            "wait_timeout": 60,
        },
    )


def lb_backends(cluster: Cluster, host: str) -> dict[str, int]:
    """haproxy's apiserver backends on HOST: name -> operational state (2 = up)."""
    out = cluster.ssh(host, "echo 'show servers state kube_apiserver' | socat stdio /run/haproxy/admin.sock").stdout
    return {line.split()[3]: int(line.split()[5]) for line in out.splitlines()[2:] if line.strip()}


# What a host that held any part of the cluster must not have any more.
# Each check prints what it found; an empty output is clean.
CLEAN_CHECKS = {
    "units": "systemctl list-unit-files --no-legend 'kubelet*' 'kube-*' 'etcd*' 'containerd*' 'docker*' "
    "'cri-docker*' 'haproxy*' | awk '{print $1}'",
    "processes": "for p in kubelet kube-proxy kube-apiserver etcd containerd containerd-shim-runc-v2 dockerd haproxy "
    "flanneld; do pgrep -x $p >/dev/null && echo $p; done; true",
    "binaries": "cd /usr/local/bin && ls kubelet kube-proxy kube-apiserver kube-controller-manager kube-scheduler "
    "kubectl etcd etcdctl etcdutl containerd containerd-shim-runc-v2 ctr runc crictl dockerd docker cri-dockerd "
    "2>/dev/null; true",
    "config": "ls -d /etc/kubernetes /etc/etcd /etc/containerd /etc/docker /etc/haproxy /etc/crictl.yaml "
    "/etc/cni /opt/cni /var/lib/cni /var/log/pods /var/log/kubernetes /var/cache/airgap-k8s "
    "/etc/sysctl.d/99-airgap-k8s.conf /etc/modules-load.d/airgap-k8s.conf 2>/dev/null; true",
    # The sandbox mounts volumes there: they may stay as empty mount points.
    "data": "for d in /var/lib/etcd /var/lib/kubelet /var/lib/containerd /var/lib/docker /var/lib/kube-proxy "
    '/run/containerd /run/flannel; do [ -n "$(ls -A $d 2>/dev/null)" ] && echo $d; done; true',
    "mounts": "findmnt -rn -o TARGET | grep -E '^/var/lib/kubelet/|^/run/containerd/|^/run/netns/' ; true",
    "interfaces": "ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(cni0|flannel\\.1|docker0|kube-ipvs0)$'; true",
    "iptables chains": "for t in iptables-nft-save iptables-legacy-save ip6tables-nft-save ip6tables-legacy-save; do "
    "command -v $t >/dev/null && $t 2>/dev/null | grep -E '^:(KUBE-|FLANNEL-|DOCKER)' | sed \"s/^/$t /\"; done; true",
    "ipsets": "command -v ipset >/dev/null && ipset list -n | grep -E '^KUBE-'; true",
    "etc hosts": "grep -n 'airgap.k8s cluster hosts' /etc/hosts; true",
    "users": "getent passwd etcd; getent group etcd; true",
}


def leftovers(cluster: Cluster, host: str) -> dict[str, str]:
    """What of the cluster is still on HOST, by check (empty: clean)."""
    found = {}
    for name, command in CLEAN_CHECKS.items():
        out = cluster.ssh(host, command).stdout.strip()
        if out:
            found[name] = out
    return found


def agnhost_image() -> str:
    from .conftest import BUNDLE_DIR

    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
    refs = [a["image"] for a in manifest["artifacts"] if a["kind"] == "image" and "agnhost" in (a.get("image") or "")]
    assert refs, "the bundle has no agnhost test image"
    return refs[0]
