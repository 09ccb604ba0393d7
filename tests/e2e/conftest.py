"""End-to-end: one sealed sandbox, deployed once by site.yml over SSH, every check in a fixed order.

The lifecycle (docs/testing.md): the `sandbox` fixture starts bare nodes on a
sealed podman network; test_05 runs refusals while every host is still bare;
the `cluster` fixture then deploys once, and the test files run against that
one cluster in file order (install, workload, etcd, security, idempotence,
drift, reboot, HA, upgrade, the day-2 slot test_64..test_79, failures,
site.yml once more last: test_85). A day-2 test
is a new file in its slot that uses `cluster` (see the Cluster class).

Settings (environment):
  E2E_SANDBOX_NAME, E2E_SUBNET  which sandbox (default airgap-e2e, 10.89.78.0/24)
  E2E_SHAPE       lifecycle (default: 3 control planes with etcd, a containerd
                  and a Docker worker, two spares) or compact (`make sandbox`'s
                  shape: one control plane, etcd on three nodes)
  E2E_VARS        JSON object of inventory variables for the deploy, on top of
                  DEPLOY_VARS, e.g. '{"kube_version": "1.35.4"}'
  E2E_VERSIONS    a test_versions set of the versions table (e.g. previous)
                  to deploy instead of the defaults (sandbox.py --versions)
  E2E_KEEP=1      keep the sandbox afterwards
  E2E_REUSE=1     reuse a sandbox deployed by an earlier E2E_KEEP=1 session (no
                  teardown, no deploy): iterate on one test file
"""

from __future__ import annotations

import base64
import copy
import datetime
import ipaddress
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
VENV_BIN = Path(os.environ.get("VENV", ROOT / ".venv")) / "bin"
BUNDLE_DIR = Path(os.environ.get("BUNDLE_DIR", ROOT / "files" / "bundle")).resolve()
SANDBOX_NAME = os.environ.get("E2E_SANDBOX_NAME", "airgap-e2e")
SANDBOX_SUBNET = os.environ.get("E2E_SUBNET", "10.89.78.0/24")
# A test_versions set of the versions table (e.g. previous) to deploy instead of the defaults.
SANDBOX_VERSIONS = os.environ.get("E2E_VERSIONS", "default")
SANDBOX_DIR = BUILD / f"sandbox-{SANDBOX_NAME}"
LOG_DIR = BUILD / "e2e" / SANDBOX_NAME
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
TABLE = ROOT / "roles" / "cluster_defaults" / "defaults" / "main" / "artifacts.yml"
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)"
)
CHANGED = re.compile(r"^changed: \[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\]")


@dataclass(frozen=True)
class Shape:
    """Which started node (by index) plays which part; spares are started but not in the inventory."""

    nodes: int
    etcd: tuple[int, ...]
    control_plane: tuple[int, ...]
    workers: tuple[int, ...]
    spares: tuple[int, ...] = ()
    host_vars: dict[int, dict[str, Any]] = field(default_factory=dict)


SHAPES = {
    # 3 control planes with etcd (tainted), a containerd worker, a Docker worker; two spares for the
    # day-2 tests: test_70 adds the first as a worker, the second as an etcd member and control plane.
    "lifecycle": Shape(
        nodes=7,
        etcd=(1, 2, 3),
        control_plane=(1, 2, 3),
        workers=(4, 5),
        spares=(6, 7),
        host_vars={5: {"container_runtime": "docker"}},
    ),
    # `make sandbox`'s shape: etcd on three nodes, one of them the only control plane; all are workers.
    "compact": Shape(nodes=3, etcd=(1, 2, 3), control_plane=(1,), workers=(1, 2, 3)),
}
SHAPE_NAME = os.environ.get("E2E_SHAPE", "lifecycle")

# Inventory variables of every e2e deploy, on top of what tools/sandbox writes
# (the bundle's versions, the container-host settings). The one place for
# deploy-time overrides: E2E_VARS adds to it, Cluster.set_vars changes it later.
DEPLOY_VARS: dict[str, Any] = {
    # chrony from the bundle, the first control plane serving the others; the
    # nodes' clock is the test machine's, so chronyd never sets it.
    "os_prepare_chrony": True,
    "os_prepare_chrony_set_clock": False,
    # EventRateLimit's Namespace limit low enough that one kubectl on this
    # machine exceeds it (test_45_cis); the Server limit stays the default.
    "control_plane_event_rate_limits": [
        {"type": "Server", "qps": 5000, "burst": 20000},
        {"type": "Namespace", "qps": 2, "burst": 20, "cacheSize": 2000},
    ],
    **json.loads(os.environ.get("E2E_VARS") or "{}"),
}


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["CONTAINERS_CONF"] = str(ROOT / "tools" / "sandbox" / "containers.conf")
    out["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    out["PATH"] = f"{VENV_BIN}:{out.get('PATH', '')}"
    out["ANSIBLE_FORCE_COLOR"] = "0"
    return out


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------- playbook runs


@dataclass
class PlaybookRun:
    rc: int
    log: Path
    recap: dict[str, dict[str, int]]
    seconds: float

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    @property
    def failed(self) -> int:
        return sum(h["failed"] + h["unreachable"] for h in self.recap.values())

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.failed == 0

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def _results(self) -> Iterator[tuple[str, str]]:
        """(task or handler name, result line) for every result line of the log."""
        current = ""
        for line in self.text().splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line[line.find("[") + 1 : line.rfind("]")]
            elif line.startswith(("ok:", "changed:", "failed:", "fatal:", "skipping:")):
                yield current, line

    def changed_tasks(self) -> list[str]:
        """Task names that reported a change (for a readable assertion message)."""
        return [f"{task} :: {line[:160]}" for task, line in self._results() if line.startswith("changed:")]

    def changed_by_host(self) -> dict[str, list[str]]:
        """Host -> the tasks (and handlers) that reported it changed."""
        out: dict[str, list[str]] = {}
        for task, line in self._results():
            match = CHANGED.match(line)
            if match and task not in out.setdefault(match["host"], []):
                out[match["host"]].append(task)
        return out

    def task_at(self, when: float) -> str:
        """The task (or handler) the run was in at the epoch time ``when``, from the
        profile_tasks timestamp under each header; for placing a probe's error."""
        current, started, header = "before the first task", "", ""
        for line in self.text().splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                header = line[line.find("[") + 1 : line.rfind("]")]
            elif (stamp := PROFILE_STAMP.match(line)) and header:
                at = datetime.datetime.strptime(stamp["at"], "%A %d %B %Y %H:%M:%S %z").timestamp()
                if at > when:
                    break
                current, started, header = header, stamp["at"], ""
        return f"{current} (started {started})" if started else current

    def last_task(self) -> str:
        """The last task the run started (the one that failed, when it stopped)."""
        tasks = [line for line in self.text().splitlines() if line.startswith("TASK [")]
        return tasks[-1][len("TASK [") : tasks[-1].rfind("]")] if tasks else ""


# The line profile_tasks prints under each task header.
PROFILE_STAMP = re.compile(r"^(?P<at>\w+ \d\d \w+ \d{4} +\d\d:\d\d:\d\d [+-]\d{4}) [(]")


def parse_recap(log: Path) -> dict[str, dict[str, int]]:
    recap = {}
    for line in log.read_text(errors="replace").splitlines():
        m = RECAP.match(line)
        if m:
            recap[m["host"]] = {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
    return recap


def run_playbook(inventory: Path, playbook: str, name: str, *extra: str, hosts: Iterable[str]) -> PlaybookRun:
    """ansible-playbook, its log in build/e2e/<sandbox>/<name>.log.

    Whatever the outcome, the PLAY RECAP must list every host in HOSTS: a run
    that printed no recap (a crash, a syntax error) or skipped a host must not
    read as "changed=0".
    """
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    path = playbook if playbook.startswith("/") else str(ROOT / "playbooks" / playbook)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), path, *extra]
    # The profile callback (tools/benchmark_callback) records every task's
    # time and the bytes install_files/deb_install sent: <name>.profile.json.
    run_env = env()
    run_env["ANSIBLE_CALLBACK_PLUGINS"] = str(ROOT / "tools" / "benchmark_callback")
    run_env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks,airgap_profile"
    run_env["AIRGAP_PROFILE_OUT"] = str(LOG_DIR / f"{name}.profile.json")
    start = time.monotonic()
    with log.open("w") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(
            cmd, cwd=ROOT, env=run_env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, check=False
        )
    run = PlaybookRun(proc.returncode, log, parse_recap(log), time.monotonic() - start)
    missing = sorted(set(hosts) - set(run.recap))
    assert not missing, f"{name}: PLAY RECAP lacks {missing} (rc={run.rc}, log {log}):\n{tail(log)}"
    return run


# ---------------------------------------------------------------- inventory


class _Dumper(yaml.SafeDumper):
    """YAML without anchors: an inventory a person can read and diff."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


@dataclass
class Inventory:
    """An inventory written from data: hosts.yml, group_vars/all.yml, host_vars/<host>.yml."""

    path: Path  # .../hosts.yml
    connection: dict[str, Any]  # all.vars: SSH user, key, options
    addresses: dict[str, str]  # inventory host -> ip
    groups: dict[str, list[str]]  # etcd, kube_control_plane, kube_node
    vars: dict[str, Any]  # group_vars/all.yml
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)

    def write(self) -> Path:
        root = self.path.parent
        for sub in ("group_vars", "host_vars"):
            (root / sub).mkdir(parents=True, exist_ok=True)
            for old in (root / sub).glob("*.yml"):
                old.unlink()
        doc = {
            "all": {
                "vars": self.connection,
                "hosts": {h: {"ansible_host": ip, "ip": ip} for h, ip in self.addresses.items()},
                "children": {
                    **{g: {"hosts": {h: {} for h in members}} for g, members in self.groups.items()},
                    "k8s_cluster": {"children": {"kube_control_plane": {}, "kube_node": {}}},
                },
            }
        }
        header = "# Written by tests/e2e/conftest.py (Inventory.write).\n"
        self.path.write_text(header + dump(doc))
        (root / "group_vars" / "all.yml").write_text(header + dump(self.vars))
        for host, hv in self.host_vars.items():
            if hv:
                (root / "host_vars" / f"{host}.yml").write_text(header + dump(hv))
        return self.path

    def copy_to(self, path: Path) -> Inventory:
        """A deep copy that writes elsewhere (for a deliberately bad inventory)."""
        other = copy.deepcopy(self)
        other.path = path
        return other

    @property
    def hosts(self) -> list[str]:
        return list(self.addresses)


# ---------------------------------------------------------------- the sandbox


def sandbox_cmd(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(VENV_BIN / "python"), str(ROOT / "tools" / "sandbox" / "sandbox.py"), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env(), check=check, text=True)


def podman(*args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", *args], env=env(), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {shlex.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@dataclass
class Sandbox:
    """Started nodes: names, addresses, SSH key; what tools/sandbox wrote for them."""

    shape: Shape
    nodes: dict[str, str]  # every started node -> ip
    key: Path
    connection: dict[str, Any]
    vars: dict[str, Any]  # the sandbox's group_vars/all.yml
    subnet: str
    gateway: str  # the sealed network's dead-end default gateway

    def name(self, index: int) -> str:
        return f"{SANDBOX_NAME}-node{index}"

    def ssh(self, host: str, command: str, check: bool = True, timeout: int = 60) -> subprocess.CompletedProcess[str]:
        """Run a command on a node over real SSH, as the inventory does."""
        cmd = self.ssh_argv(host, command)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{host}: {command!r} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def ssh_argv(self, host: str, command: str) -> list[str]:
        return [
            "ssh", "-i", str(self.key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", f"root@{self.nodes[host]}", command,
        ]  # fmt: skip

    def inventory(self, path: Path, shape: Shape | None = None) -> Inventory:
        """The shape's inventory for these nodes (spares left out), not yet written."""
        shape = shape or self.shape
        in_inventory = sorted(set(shape.etcd) | set(shape.control_plane) | set(shape.workers))
        return Inventory(
            path=path,
            connection=dict(self.connection),
            addresses={self.name(i): self.nodes[self.name(i)] for i in in_inventory},
            groups={
                "etcd": [self.name(i) for i in shape.etcd],
                "kube_control_plane": [self.name(i) for i in shape.control_plane],
                "kube_node": [self.name(i) for i in shape.workers],
            },
            vars={**self.vars, **DEPLOY_VARS},
            host_vars={self.name(i): dict(hv) for i, hv in shape.host_vars.items()},
        )


def reusing() -> bool:
    return os.environ.get("E2E_REUSE") == "1"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The shape's nodes, started bare (or reused with E2E_REUSE=1); removed afterwards unless E2E_KEEP=1."""
    if not (BUNDLE_DIR / "manifest.json").exists():
        pytest.fail(f"No bundle at {BUNDLE_DIR}: run `make bundle` first (make e2e does).")
    if SHAPE_NAME not in SHAPES:
        pytest.fail(f"E2E_SHAPE={SHAPE_NAME!r}: use one of {', '.join(SHAPES)}")
    shape = SHAPES[SHAPE_NAME]
    image = subprocess.run(
        [str(ROOT / "tools" / "sandbox" / "image.sh"), "--ref"], capture_output=True, text=True, check=True
    ).stdout.strip()
    settings = [
        "--name", SANDBOX_NAME, "--subnet", SANDBOX_SUBNET, "--nodes", str(shape.nodes),
        "--image", image, "--bundle-dir", str(BUNDLE_DIR), "--timeout", "600", "--versions", SANDBOX_VERSIONS,
    ]  # fmt: skip
    if not reusing():
        # Bare hosts every session: the deploy is what is under test.
        sandbox_cmd("down", "--name", SANDBOX_NAME)
        for stale in LOG_DIR.glob("*.log"):
            stale.unlink()
    sandbox_cmd("up", *settings)
    try:
        written = yaml.safe_load((SANDBOX_DIR / "hosts.yml").read_text())["all"]
        state = json.loads((SANDBOX_DIR / "state.json").read_text())
        subnet = ipaddress.ip_network(state["SUBNET"])
        yield Sandbox(
            shape=shape,
            nodes={name: hv["ip"] for name, hv in written["hosts"].items()},
            key=SANDBOX_DIR / "id_ed25519",
            connection=written["vars"],
            vars=yaml.safe_load((SANDBOX_DIR / "group_vars" / "all.yml").read_text()) or {},
            subnet=str(subnet),
            gateway=str(subnet.broadcast_address - 1),
        )
    finally:
        if os.environ.get("E2E_KEEP") != "1" and not reusing():
            sandbox_cmd("down", "--name", SANDBOX_NAME, check=False)


# ---------------------------------------------------------------- the cluster


def table() -> dict[str, Any]:
    return yaml.safe_load(TABLE.read_text())["airgap_artifacts"]


@dataclass
class Cluster:
    """The deployed cluster. Day-2 tests change it through these methods.

    Fields: `sandbox` (the nodes), `inv` (the Inventory the deploy used;
    `inventory` is its hosts.yml), `spares` (started nodes not in the
    inventory, name -> ip), `first_run` (site.yml's first run).
    """

    sandbox: Sandbox
    inv: Inventory
    first_run: PlaybookRun
    spares: dict[str, str] = field(default_factory=dict)

    # -- inventory
    @property
    def inventory(self) -> Path:
        return self.inv.path

    @property
    def hosts(self) -> dict[str, str]:
        """Inventory hosts -> ip."""
        return self.inv.addresses

    @property
    def groups(self) -> dict[str, list[str]]:
        return self.inv.groups

    @property
    def control_planes(self) -> list[str]:
        return self.groups["kube_control_plane"]

    @property
    def etcd_members(self) -> list[str]:
        return self.groups["etcd"]

    @property
    def nodes(self) -> list[str]:
        """Kubernetes nodes: control planes and workers."""
        return sorted(set(self.control_planes) | set(self.groups["kube_node"]))

    @property
    def workers(self) -> list[str]:
        """Nodes that run workloads (kube_node; control planes not in it are tainted)."""
        return self.groups["kube_node"]

    def var(self, host: str, name: str) -> Any:
        """An inventory variable as HOST sees it (host_vars, then group_vars/all), or the table default."""
        if name in self.inv.host_vars.get(host, {}):
            return self.inv.host_vars[host][name]
        return self.inv.vars.get(name)

    def runtime(self, host: str) -> str:
        return self.var(host, "container_runtime") or "containerd"

    @property
    def kube_version(self) -> str:
        return str(self.inv.vars.get("kube_version") or table()["kubernetes"]["default"])

    def set_vars(self, **values: Any) -> None:
        """Change group_vars/all.yml (e.g. versions for an upgrade); the next playbook run applies them."""
        self.inv.vars.update(values)
        self.inv.write()

    def add_host(self, name: str, groups: Iterable[str], **host_vars: Any) -> None:
        """Move a spare into the inventory (add-node tests); the next playbook run installs it."""
        ip = self.spares.pop(name)
        self.inv.addresses[name] = ip
        for group in groups:
            self.inv.groups[group].append(name)
        if host_vars:
            self.inv.host_vars[name] = host_vars
        self.inv.write()

    def remove_host(self, name: str) -> None:
        """Take a host out of the inventory; it becomes a spare again (remove-node tests)."""
        ip = self.inv.addresses.pop(name)
        for members in self.inv.groups.values():
            if name in members:
                members.remove(name)
        self.inv.host_vars.pop(name, None)
        self.spares[name] = ip
        self.inv.write()

    def playbook(self, playbook: str, name: str, *extra: str, hosts: Iterable[str] | None = None) -> PlaybookRun:
        """Run a playbook against the inventory; the recap must list HOSTS (default: every inventory host)."""
        return run_playbook(self.inventory, playbook, name, *extra, hosts=self.inv.hosts if hosts is None else hosts)

    # -- reaching the cluster
    @property
    def kubeconfig(self) -> Path:
        return self.inventory.parent / "cluster" / "admin.conf"

    @property
    def cluster_dir(self) -> Path:
        """The controller-side state: pki/, kubeconfigs, encryption key."""
        return self.inventory.parent / "cluster"

    @property
    def kubectl_bin(self) -> Path:
        return BUNDLE_DIR / "kubernetes" / self.kube_version / ARCH / "kubectl"

    def kubectl(
        self, *args: str, check: bool = True, timeout: int = 120, stdin: str | None = None, server: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """kubectl as the administrator; SERVER (a control-plane host) talks to that apiserver directly."""
        via = [f"--server=https://{self.hosts[server]}:6443"] if server else []
        cmd = [str(self.kubectl_bin), "--kubeconfig", str(self.kubeconfig), *via, *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def kubectl_json(self, *args: str, server: str | None = None) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json", server=server).stdout)

    def ssh(self, host: str, command: str, check: bool = True, timeout: int = 60) -> subprocess.CompletedProcess[str]:
        """A command on any started node (inventory host or spare) over SSH."""
        return self.sandbox.ssh(host, command, check=check, timeout=timeout)

    def read_bytes(self, host: str, path: str) -> bytes:
        return base64.b64decode(self.ssh(host, f"base64 -w0 {shlex.quote(path)}").stdout)

    def put_file(self, host: str, path: str, data: bytes, mode: str = "0600") -> None:
        # On stdin: a file of any size (an argument is limited to a few hundred KiB).
        command = f"umask 077 && cat > {shlex.quote(path)} && chmod {mode} {shlex.quote(path)}"
        proc = subprocess.run(
            self.sandbox.ssh_argv(host, command), input=data, capture_output=True, timeout=300, check=False
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"{host}: writing {path} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
            )

    def module(self, host: str, name: str, args: dict) -> dict:
        """Run one of the collection's modules on a host (ad hoc, over SSH) and return its result."""
        e = env() | {
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json",  # not profile_tasks: it prints before the JSON
        }
        cmd = [str(VENV_BIN / "ansible"), "-i", str(self.inventory), host, "-m", name, "-a", json.dumps(args)]
        proc = subprocess.run(cmd, cwd=ROOT, env=e, capture_output=True, text=True, timeout=300, check=False)
        try:
            data = json.loads(proc.stdout[proc.stdout.find("{") :])
        except json.JSONDecodeError as exc:
            raise AssertionError(f"{name} on {host}: no JSON output:\n{proc.stdout}\n{proc.stderr}") from exc
        return data["plays"][0]["tasks"][0]["hosts"][host]

    def etcdctl(self, host: str, args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """etcdctl on an etcd member with the health-check client certificate (/etc/etcd/etcdctl.env)."""
        return self.ssh(host, f". /etc/etcd/etcdctl.env && etcdctl {args}", check=check)

    # -- state
    def node_ready(self, server: str | None = None) -> dict[str, bool]:
        """Kubernetes node -> Ready (SERVER: ask that control plane's apiserver)."""
        items = self.kubectl_json("get", "nodes", server=server)["items"]
        return {
            n["metadata"]["name"]: any(
                c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]
            )
            for n in items
        }

    def ready_since(self, hosts: Iterable[str], moment: float, server: str | None = None) -> dict[str, bool]:
        """Per host: Ready, with a kubelet heartbeat later than MOMENT (time.time()), e.g. a reboot."""
        out = dict.fromkeys(hosts, False)
        for node in self.kubectl_json("get", "nodes", server=server)["items"]:
            name = node["metadata"]["name"]
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            beat = datetime.datetime.fromisoformat(ready["lastHeartbeatTime"].replace("Z", "+00:00")).timestamp()
            if name in out:
                out[name] = ready["status"] == "True" and beat > moment
        return out

    def etcd_healthy(self, via: str | None = None) -> bool:
        member = via or self.etcd_members[0]
        proc = self.etcdctl(member, "endpoint health --cluster -w json --command-timeout=5s", check=False)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return False
        return len(report) == len(self.etcd_members) and all(h["health"] for h in report)

    def etcd_member_names(self, via: str | None = None) -> list[str]:
        """The etcd cluster's member names, as a member (VIA) lists them."""
        out = self.etcdctl(via or self.etcd_members[0], "member list -w json").stdout
        return sorted(m["name"] for m in json.loads(out)["members"])

    def lb_backends(self, host: str) -> dict[str, int]:
        """HOST's load balancer: apiserver backend -> haproxy's operational state (2 = UP)."""
        out = self.ssh(host, "echo 'show servers state kube_apiserver' | socat stdio /run/haproxy/admin.sock").stdout
        return {line.split()[3]: int(line.split()[5]) for line in out.splitlines()[2:] if line.strip()}

    def wait_for(self, what: str, predicate, timeout: float = 300, interval: float = 5):
        """Poll PREDICATE until it returns something true; fail naming WHAT and the last value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = predicate()
            except (AssertionError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
                last = f"{type(exc).__name__}: {str(exc)[:300]}"
            else:
                if last:
                    return last
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not after {timeout:.0f}s; last: {last}")
            time.sleep(interval)

    def _bundled(self, component: str, **match: str) -> dict[str, Any]:
        """The bundle's manifest entry of COMPONENT at the inventory's version that matches MATCH.

        The test bundle may hold two versions of a component (the table's
        test_versions); the inventory pins the one deployed.
        """
        var = "kube_version" if component == "kubernetes" else component.replace("-", "_") + "_version"
        version = str(self.inv.vars.get(var) or table()[component]["default"])
        manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
        found = [
            a
            for a in manifest["artifacts"]
            if a["component"] == component and a["version"] == version and all(a.get(k) == v for k, v in match.items())
        ]
        assert found, f"no {component} {version} {match} in the bundle"
        return found[0]

    def image(self, component: str) -> str:
        """The reference of a bundled image at the inventory's version (preloaded on every node)."""
        return self._bundled(component, kind="image")["image"]

    def bundle_file(self, component: str, name: str) -> Path:
        """A file of the bundle (e.g. etcd's etcdutl) at the inventory's version, for this machine."""
        return BUNDLE_DIR / self._bundled(component, name=name, arch=ARCH)["path"]


def deployed_run() -> PlaybookRun | None:
    """The first site.yml run of an E2E_REUSE=1 session's sandbox, from its log."""
    log = LOG_DIR / "site-1.log"
    if not log.exists():
        return None
    recap = parse_recap(log)
    failed = sum(h["failed"] + h["unreachable"] for h in recap.values())
    return PlaybookRun(0 if recap and not failed else 1, log, recap, 0.0)


@pytest.fixture(scope="session")
def cluster(sandbox: Sandbox) -> Iterator[Cluster]:
    """The shape deployed by site.yml, once per session (E2E_REUSE=1: the earlier deployment)."""
    inv = sandbox.inventory(SANDBOX_DIR / "lifecycle" / "hosts.yml")
    spares = {n: ip for n, ip in sandbox.nodes.items() if n not in inv.addresses}
    first = deployed_run() if reusing() else None
    if first is not None and first.ok:
        saved = SANDBOX_DIR / "lifecycle" / "inventory.json"
        if saved.exists():  # what the earlier session's tests left (added hosts, changed vars)
            state = json.loads(saved.read_text())
            inv.addresses, inv.groups, inv.vars, inv.host_vars = (
                state["addresses"], state["groups"], state["vars"], state["host_vars"]
            )  # fmt: skip
            spares = {n: ip for n, ip in sandbox.nodes.items() if n not in inv.addresses}
        inv.write()
    else:
        inv.write()
        first = run_playbook(inv.path, "site.yml", "site-1", hosts=inv.hosts)
        assert first.ok, f"site.yml failed, log {first.log}:\n{tail(first.log)}"
    result = Cluster(sandbox=sandbox, inv=inv, first_run=first, spares=spares)
    yield result
    state = {"addresses": inv.addresses, "groups": inv.groups, "vars": inv.vars, "host_vars": inv.host_vars}
    (SANDBOX_DIR / "lifecycle" / "inventory.json").write_text(json.dumps(state, indent=1))


# ---------------------------------------------------------------- the API through a node's load balancer

# A request every kubelet makes, through the node-local load balancer with
# the kubelet's own credentials: GET its Node object (authenticated, checked
# by the Node authorizer, read from etcd), a new TLS connection each time.
# (/readyz is no good here: a draining apiserver answers it with 500 on
# purpose during --shutdown-delay-duration, while serving real requests.)
# With "once": one request; otherwise one every 0.2 s until STOP_FILE exists.
# Prints {"ok": n, "errors": [...]}.
PROBE_STOP = "/run/e2e-probe.stop"
PROBE = f"""
import base64, json, os, re, socket, ssl, sys, tempfile, time, urllib.request
once = sys.argv[1:] == ["once"]
conf = open("/etc/kubernetes/kubelet.conf").read()
pem = {{k: base64.b64decode(re.search(k + r"-data: *(\\S+)", conf).group(1)) for k in ("client-certificate", "client-key")}}
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
            with urllib.request.urlopen(url, context=ctx, timeout=20) as r:
                if r.status == 200 and json.load(r)["kind"] == "Node":
                    ok += 1
                else:
                    errors.append("%.1f status %s" % (time.time(), r.status))
        except Exception as exc:
            errors.append("%.1f %s" % (time.time(), exc))
        if once or os.path.exists("{PROBE_STOP}"):
            break
        time.sleep(0.2)
print(json.dumps({{"ok": ok, "errors": errors}}))
"""


def probe(cluster: Cluster, host: str) -> tuple[bool, str]:
    """One request through HOST's load balancer: (answered, what the probe printed)."""
    proc = cluster.ssh(host, f"python3 -c {shlex.quote(PROBE)} once", check=False, timeout=60)
    try:
        return json.loads(proc.stdout)["ok"] == 1, proc.stdout.strip()
    except ValueError:
        return False, (proc.stdout + proc.stderr).strip()


class Prober:
    """Requests through the load balancer of each of HOSTS, all the time, while the `with` block runs.

    The loop runs on the node (one SSH session per host, not one per request).
    """

    def __init__(self, cluster: Cluster, hosts: Iterable[str]) -> None:
        self.cluster, self.hosts = cluster, list(hosts)
        self.results: dict[str, dict[str, Any]] = {}
        self._threads: list[threading.Thread] = []

    def _run(self, host: str) -> None:
        proc = self.cluster.ssh(host, f"python3 -c {shlex.quote(PROBE)}", check=False, timeout=7200)
        try:
            self.results[host] = json.loads(proc.stdout)
        except ValueError:
            self.results[host] = {"ok": 0, "errors": [f"the probe did not run: {proc.stdout} {proc.stderr}"]}

    def __enter__(self) -> Prober:
        for host in self.hosts:
            self.cluster.ssh(host, f"rm -f {PROBE_STOP}")
            thread = threading.Thread(target=self._run, args=(host,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        for host in self.hosts:
            self.cluster.ssh(host, f"touch {PROBE_STOP}", check=False)
        for thread in self._threads:
            thread.join(timeout=120)

    def answered(self, host: str) -> int:
        return self.results.get(host, {}).get("ok", 0)

    def failures(self) -> dict[str, list[str]]:
        """Host -> failed requests (a host whose probe printed nothing fails too)."""
        out = {h: r["errors"] for h, r in self.results.items() if r["errors"]}
        out.update({h: ["no result"] for h in self.hosts if h not in self.results})
        return out


# ---------------------------------------------------------------- a workload that lives all session

NS = "e2e"
WEB_PORT = 30080


@dataclass
class Workload:
    """`web`: agnhost netexec, one replica per worker (required anti-affinity), a Service and a NodePort."""

    cluster: Cluster

    def pods(self) -> list[dict]:
        return self.cluster.kubectl_json("-n", NS, "get", "pods", "-l", "app=web")["items"]

    def ready_pods(self) -> list[dict]:
        return [
            p
            for p in self.pods()
            if p["metadata"].get("deletionTimestamp") is None
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        ]

    def answers(self, hosts: Iterable[str] | None = None) -> dict[str, str]:
        """GET /hostname through the NodePort of each host; host -> answering pod (or the error)."""
        out = {}
        for host in hosts or self.cluster.nodes:
            url = f"http://{self.cluster.hosts[host]}:{WEB_PORT}/hostname"
            proc = subprocess.run(
                ["curl", "-s", "--max-time", "5", url], capture_output=True, text=True, timeout=30, check=False
            )
            out[host] = proc.stdout.strip() if proc.returncode == 0 else f"error: curl rc={proc.returncode}"
        return out

    def answering(self, hosts: Iterable[str] | None = None) -> bool:
        names = {p["metadata"]["name"] for p in self.ready_pods()}
        return bool(names) and all(v in names for v in self.answers(hosts).values())


@pytest.fixture(scope="session")
def workload(cluster: Cluster) -> Workload:
    replicas = len(cluster.workers)
    pod = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "affinity": {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
                    ]
                }
            },
            "containers": [
                {
                    "name": "agnhost",
                    "image": cluster.image("agnhost"),
                    "imagePullPolicy": "Never",
                    "args": ["netexec", "--http-port=8080"],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 2},
                }
            ],
        },
    }
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": NS},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": pod},
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
                    "ports": [{"port": 80, "targetPort": 8080, "nodePort": WEB_PORT}],
                },
            },
        ],
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    cluster.kubectl("-n", NS, "rollout", "status", "deployment/web", "--timeout=300s", timeout=320)
    return Workload(cluster)


# ---------------------------------------------------------------- refusals (test_05 on bare hosts, test_80 converged)

# What a deploy writes first (os_prepare copies packages, then units and
# configuration follow); listed before and after each refused run. Any write
# changes a file's mtime, an atomic replace its inode: no need to hash the
# binaries.
WATCHED = "/etc/kubernetes /etc/etcd /etc/containerd /etc/docker /etc/haproxy /var/cache/airgap-k8s /usr/local/bin"
SNAPSHOT = (
    f'for d in {WATCHED}; do [ -e $d ] && echo "dir $d"; done; '
    f"find {WATCHED} /etc/systemd/system -xdev -printf '%p %y %s %T@ %i %m %u %g\\n' 2>/dev/null | sort; "
    "ls /etc/systemd/system/*.service 2>/dev/null"
)
UNITS = ("etcd", "kube-apiserver", "kubelet", "kube-proxy", "containerd", "docker", "cri-docker", "haproxy")


def snapshot(sandbox: Sandbox) -> dict[str, str]:
    return {host: sandbox.ssh(host, SNAPSHOT).stdout for host in sandbox.nodes}


def missing_file_bundle(tmp_path: Path, kube_version: str) -> tuple[str, str]:
    """A copy of the bundle (hard links: bundle_verify refuses symlinks out of it) without the kubelet.

    Returns (the directory, the missing file's path).
    """
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
    gone = next(a["path"] for a in manifest["artifacts"] if a["name"] == "kubelet" and a["version"] == kube_version)
    root = tmp_path / "bundle"
    for art in manifest["artifacts"]:
        if art["path"] != gone:
            target = root / art["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(BUNDLE_DIR / art["path"], target)
            except OSError:  # another file system
                shutil.copy(BUNDLE_DIR / art["path"], target)
    shutil.copy(BUNDLE_DIR / "manifest.json", root / "manifest.json")
    return str(root), gone


REFUSALS = ["overlapping-cidrs", "missing-bundle-file", "host-in-no-group", "unknown-proxy-mode"]


def refused_on(inv: Inventory) -> list[str]:
    """The hosts the PLAY RECAP of a refused run must list: most checks that refuse run once, on the
    first host of their play (etcd:k8s_cluster), so the recap may list only that one (no recap still fails)."""
    return inv.groups["etcd"][:1]


def refuse(sandbox: Sandbox, inv: Inventory, case: str, tmp_path: Path, before: dict[str, str]) -> None:
    """site.yml with INV made bad in one way (CASE) stops in preflight with its message; no host changes."""
    version = str(inv.vars.get("kube_version") or table()["kubernetes"]["default"])
    if case == "overlapping-cidrs":
        inv.vars["kube_pods_cidr"] = "10.96.0.0/16"  # inside the default service network 10.96.0.0/12
        expected = ["kube_pods_cidr=10.96.0.0/16 overlaps kube_service_cidr=10.96.0.0/12"]
    elif case == "missing-bundle-file":
        inv.vars["airgap_bundle_dir"], gone = missing_file_bundle(tmp_path, version)
        expected = ["1 problem(s)", gone, "file missing (listed in manifest.json but not on disk)"]
    elif case == "unknown-proxy-mode":
        # Refused by the cluster-wide argument spec (cluster_defaults' `validate` entry point).
        inv.vars["kube_proxy_mode"] = "ipvz"
        expected = [
            "arg spec 'validate'",
            "value of kube_proxy_mode must be one of: iptables, ipvs, nftables, got: ipvz",
        ]
    else:
        # A spare (a real, bare node) when the shape has one.
        stray = next((n for n in sandbox.nodes if n not in inv.addresses), sandbox.name(9))
        inv.addresses[stray] = sandbox.nodes.get(stray, sandbox.gateway)
        expected = ["in none of the groups etcd, kube_control_plane and kube_node", stray]
    inv.write()
    run = run_playbook(inv.path, "site.yml", f"refused-{case}", hosts=refused_on(inv))
    assert run.rc != 0, f"site.yml accepted the {case} inventory:\n{tail(run.log)}"
    text = run.text()
    for needle in expected:
        assert needle in text, f"{case}: {needle!r} not in the output:\n{tail(run.log)}"
    # Refused in preflight: no later stage started, nothing changed anywhere.
    assert "PLAY [Prepare the operating system]" not in text, tail(run.log)
    assert run.changed == 0, run.changed_tasks()
    assert snapshot(sandbox) == before, f"{case}: a host changed although preflight refused"
