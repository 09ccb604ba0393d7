#!/usr/bin/env python3
"""Sandbox of SSH test hosts: N privileged systemd containers on a sealed podman bridge.

    sandbox.py up         create/start the nodes, install the SSH key, wait, write the inventory
    sandbox.py down       remove every container, volume and network of the sandbox
    sandbox.py inventory  (re)write <state dir>/hosts.yml from the running nodes
    sandbox.py status     show the nodes

Settings come from options or the environment (options win): NODES, SUBNET,
SANDBOX_NAME, SANDBOX_USER, HA, BUNDLE_DIR, SANDBOX_VERSIONS, SANDBOX_DIR,
AIRGAP_NODE_IMAGE, SANDBOX_TIMEOUT. See docs/sandbox.md. Python standard
library only, plus PyYAML (the venv's) to read the versions table.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_INIT = HERE / "node-init.sh"
REPO = HERE.parent.parent
TABLE = REPO / "roles/cluster_defaults/defaults/main/artifacts.yml"

LABEL = "airgap-k8s.sandbox"  # value: the sandbox name; selects what `down` removes
LABEL_NODE = "airgap-k8s.node"  # node index, 1..9
LABEL_IP = "airgap-k8s.ip"
LABEL_IMAGE = "airgap-k8s.image"
LABEL_SPEC = "airgap-k8s.spec"  # hash of the run arguments: detects stale nodes

MAX_NODES = 9
DEFAULT_VERSIONS = "default"  # SANDBOX_VERSIONS for the table's defaults
FIRST_HOST = 11  # node i gets <subnet>.(10 + i)
DEFAULTS = {
    "NODES": "3",
    "SUBNET": "10.89.77.0/24",
    "SANDBOX_NAME": "airgap-sbx",
    "SANDBOX_USER": "root",
    "HA": "0",
    "SANDBOX_TIMEOUT": "180",
}
# Nested overlayfs does not work on the container's own overlay root, so every
# place a runtime or a data store writes layers or data is a named volume.
VOLUMES = {
    "containerd": "/var/lib/containerd",
    "kubelet": "/var/lib/kubelet",
    "etcd": "/var/lib/etcd",
    "docker": "/var/lib/docker",
}
SSH_OPTIONS = [
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes",
]  # fmt: skip
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

# Runs inside a node as root; prints what it changed, nothing when all was in place.
PROVISION_SH = r"""
set -eu
user=$1 key=$2 changed=""
if [ "$user" != root ]; then
    if ! id -u "$user" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/bash "$user"
        changed="$changed user:$user"
    fi
    rule="$user ALL=(ALL) NOPASSWD:ALL"
    f="/etc/sudoers.d/90-sandbox-$user"
    if [ "$(cat "$f" 2>/dev/null)" != "$rule" ]; then
        printf '%s\n' "$rule" >"$f.new"
        chmod 0440 "$f.new"
        visudo -cqf "$f.new"
        mv "$f.new" "$f"
        changed="$changed sudo"
    fi
fi
home=$(getent passwd "$user" | cut -d: -f6)
group=$(id -gn "$user")
if [ "$(cat "$home/.ssh/authorized_keys" 2>/dev/null)" != "$key" ]; then
    install -d -m 0700 -o "$user" -g "$group" "$home/.ssh"
    printf '%s\n' "$key" >"$home/.ssh/authorized_keys"
    chown "$user:$group" "$home/.ssh/authorized_keys"
    chmod 0600 "$home/.ssh/authorized_keys"
    changed="$changed key"
fi
# With a login user, root is reachable only through become, as on real hosts.
if [ "$user" != root ] && [ -e /root/.ssh/authorized_keys ]; then
    rm -f /root/.ssh/authorized_keys
    changed="$changed root-key-removed"
fi
echo "$changed"
"""


class SandboxError(Exception):
    """A failure with a message that tells the user what to do."""


class ConfigError(SandboxError):
    """Invalid settings: reported before anything is changed."""


def log(msg: str) -> None:
    print(f"sandbox: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Config:
    name: str
    nodes: int
    subnet: ipaddress.IPv4Network
    user: str
    ha: bool
    state_dir: Path
    image: str
    timeout: float
    bundle_dir: str
    versions: str = ""  # a test_versions set of the table ("" = the defaults)

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    @property
    def key(self) -> Path:
        return self.state_dir / "id_ed25519"

    def node_name(self, index: int) -> str:
        return f"{self.name}-node{index}"

    def node_ip(self, index: int) -> str:
        return str(self.subnet.network_address + FIRST_HOST - 1 + index)

    @property
    def gateway(self) -> str:
        """The nodes' default gateway and name server: an address in the sandbox that nobody holds.

        The network is internal (no route off the bridge, no NAT); like an
        isolated site, the nodes still have a default route, and it leads
        nowhere (docs/sandbox.md, "The air gap").
        """
        return str(self.subnet.broadcast_address - 1)


def setting(args: argparse.Namespace, attr: str, env: str, state: dict[str, str]) -> str:
    """Option, then environment, then the state of the last `up`, then the default."""
    value = getattr(args, attr, None)
    if value is not None:
        return str(value)
    if os.environ.get(env, "") != "":
        return os.environ[env]
    if env in state:
        return state[env]
    return DEFAULTS.get(env, "")


def parse_nodes(raw: str) -> int:
    try:
        nodes = int(raw)
    except ValueError:
        nodes = 0
    if not 1 <= nodes <= MAX_NODES or str(nodes) != raw.strip():
        raise ConfigError(f"NODES={raw!r} is not valid: use a whole number from 1 to {MAX_NODES}")
    return nodes


def parse_subnet(raw: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(raw, strict=True)
    except ValueError as err:
        raise ConfigError(f"SUBNET={raw!r} is not a network address such as 10.89.77.0/24: {err}") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ConfigError(f"SUBNET={raw!r}: the sandbox needs an IPv4 network")
    if net.prefixlen > 27:  # .11 to .19 must fit
        raise ConfigError(f"SUBNET={raw!r} is too small: use /27 or larger (nodes get .11 to .19)")
    return net


def parse_bool(raw: str, env: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("", "0", "false", "no"):
        return False
    raise ConfigError(f"{env}={raw!r} is not valid: use 1 or 0")


def load_state(state_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((state_dir / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def sandbox_name(args: argparse.Namespace) -> str:
    name = setting(args, "name", "SANDBOX_NAME", {})
    if not NAME_RE.match(name):
        raise ConfigError(
            f"SANDBOX_NAME={name!r} is not valid: lower-case letters, digits and '-', "
            "starting with a letter, at most 40 characters"
        )
    return name


def state_dir_of(args: argparse.Namespace, name: str) -> Path:
    """build/sandbox for the default sandbox, build/sandbox-<name> for others."""
    default = "sandbox" if name == DEFAULTS["SANDBOX_NAME"] else f"sandbox-{name}"
    return Path(setting(args, "state_dir", "SANDBOX_DIR", {}) or REPO / "build" / default).resolve()


def build_config(args: argparse.Namespace, *, nodes: bool = False) -> Config:
    name = sandbox_name(args)
    state_dir = state_dir_of(args, name)
    state = load_state(state_dir)
    if state.get("SANDBOX_NAME") != name:
        state = {}  # the recorded settings belong to another sandbox
    user = setting(args, "user", "SANDBOX_USER", state)
    if not USER_RE.match(user):
        raise ConfigError(f"SANDBOX_USER={user!r} is not a valid user name")
    image = setting(args, "image", "AIRGAP_NODE_IMAGE", {}) or node_image_ref()
    try:
        timeout = float(setting(args, "timeout", "SANDBOX_TIMEOUT", {}))
    except ValueError:
        raise ConfigError("SANDBOX_TIMEOUT must be a number of seconds") from None
    return Config(
        name=name,
        nodes=parse_nodes(setting(args, "nodes", "NODES", state)) if nodes else 0,
        subnet=parse_subnet(setting(args, "subnet", "SUBNET", state)),
        user=user,
        ha=parse_bool(setting(args, "ha", "HA", state), "HA"),
        state_dir=state_dir,
        image=image,
        timeout=timeout,
        bundle_dir=setting(args, "bundle_dir", "BUNDLE_DIR", state),
        versions=setting(args, "versions", "SANDBOX_VERSIONS", state),
    )


def node_image_ref() -> str:
    """The image tag of the current recipe, as image.sh computes it."""
    out = subprocess.run([str(HERE / "image.sh"), "--ref"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SandboxError(f"tools/sandbox/image.sh --ref failed: {out.stderr.strip()}")
    return out.stdout.strip()


# ---------------------------------------------------------------- inventory layout


@dataclass(frozen=True)
class Layout:
    etcd: list[int]
    control_plane: list[int]
    workers: list[int]


def layout(nodes: int, ha: bool) -> Layout:
    """Groups as a function of the node count (documented in docs/sandbox.md).

    Default: node1 is the control plane; etcd runs on the first 1 or 3 nodes
    (an odd count: 2 members tolerate no more failures than 1); every node is
    a worker. HA: nodes 1-3 are control plane and etcd, the others workers
    (with exactly 3 nodes the control plane nodes are the workers).
    """
    if not 1 <= nodes <= MAX_NODES:
        raise ConfigError(f"NODES={nodes} is not valid: use a whole number from 1 to {MAX_NODES}")
    every = list(range(1, nodes + 1))
    if ha:
        if nodes < 3:
            raise ConfigError(f"HA=1 needs at least 3 nodes (NODES={nodes}): set NODES=3 or more, or HA=0")
        return Layout(etcd=[1, 2, 3], control_plane=[1, 2, 3], workers=every[3:] or [1, 2, 3])
    return Layout(etcd=every[: 3 if nodes >= 3 else 1], control_plane=[1], workers=every)


def q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def render_hosts(cfg: Config, indexes: list[int]) -> str:
    lay = layout(len(indexes), cfg.ha)
    names = {i: cfg.node_name(i) for i in indexes}
    lines = [
        "---",
        "# Written by tools/sandbox/sandbox.py: do not edit, run `make sandbox-inventory`.",
        f"# Sandbox {cfg.name}: {len(indexes)} node(s) on {cfg.subnet}, HA={int(cfg.ha)}.",
        "all:",
        "  vars:",
        f"    ansible_user: {q(cfg.user)}",
    ]
    if cfg.user != "root":
        lines.append("    ansible_become: true")
    lines += [
        f"    ansible_ssh_private_key_file: {q(str(cfg.key))}",
        f"    ansible_ssh_common_args: {q(' '.join(SSH_OPTIONS))}",
        "    ansible_python_interpreter: /usr/bin/python3",
        "  hosts:",
    ]
    for i in indexes:
        lines += [f"    {names[i]}:", f"      ansible_host: {q(cfg.node_ip(i))}", f"      ip: {q(cfg.node_ip(i))}"]
    lines.append("  children:")
    for group, members in (("etcd", lay.etcd), ("kube_control_plane", lay.control_plane), ("kube_node", lay.workers)):
        lines += [f"    {group}:", "      hosts:"]
        lines += [f"        {names[i]}: {{}}" for i in members]
    lines += [
        "    k8s_cluster:",
        "      children:",
        "        kube_control_plane: {}",
        "        kube_node: {}",
    ]
    return "\n".join(lines) + "\n"


def render_group_vars(cfg: Config) -> str:
    lines = [
        "---",
        "# Written by tools/sandbox/sandbox.py: do not edit.",
        f"kube_node_cidr: {q(str(cfg.subnet))}",
        "# The nodes are containers: kernel-wide sysctls (vm.*, kernel.*, fs.*)",
        "# would change the test machine itself, so the sandbox leaves them alone.",
        "os_prepare_sysctls_host_wide: {}",
        "# Nested under podman on this cgroup v1 machine, systemd's slices for the",
        "# kubelet land below the node's own cgroup, where the kubelet's systemd",
        "# driver does not look (docs/sandbox.md); real hosts keep systemd.",
        "kube_cgroup_driver: cgroupfs",
        "# The test machine withholds CAP_SYS_RESOURCE: pods cannot lower their",
        "# oom_score_adj (docs/runtime.md).",
        "containerd_restrict_oom_score_adj: true",
        "docker_restrict_oom_score_adj: true",
        "# nf_conntrack_max exists only in the machine's own network namespace.",
        "kube_node_proxy_conntrack_max_per_core: 0",
        "# Every node's filesystem is the test machine's shared disk, whose free",
        "# space other jobs move: the kubelet's default eviction thresholds",
        "# (imagefs/nodefs 15 %/10 % free) would taint every node with",
        "# disk-pressure, and image GC at 85 % use would delete bundled images",
        "# that no pod uses yet. Real hosts keep the kubelet's defaults.",
        "kube_node_kubelet_config_extra:",
        "  evictionHard:",
        "    memory.available: 100Mi",
        "    nodefs.available: 1%",
        "    nodefs.inodesFree: 1%",
        "    imagefs.available: 1%",
        "  imageGCHighThresholdPercent: 100",
        "  imageGCLowThresholdPercent: 99",
        "# The smoke tests' workload image (not needed by a production node).",
        "runtime_images_components: [pause, coredns, agnhost]",
    ]
    if cfg.bundle_dir:
        lines.append(f"airgap_bundle_dir: {q(str(Path(cfg.bundle_dir).resolve()))}")
        lines += bundle_version_pins(Path(cfg.bundle_dir), load_table(), cfg.versions)
    elif cfg.versions not in ("", DEFAULT_VERSIONS):
        raise ConfigError(f"SANDBOX_VERSIONS={cfg.versions!r} needs a bundle: set BUNDLE_DIR")
    return "\n".join(lines) + "\n"


def load_table(path: Path = TABLE) -> dict[str, Any]:
    """The versions table's ``airgap_artifacts`` (docs/design.md)."""
    try:
        import yaml  # noqa: PLC0415 - only the inventory needs it; run with the venv's python
    except ImportError:
        raise SandboxError(
            "PyYAML is needed to read the versions table: run sandbox.py with .venv/bin/python"
        ) from None
    return yaml.safe_load(path.read_text())["airgap_artifacts"]


def version_var(component: str) -> str:
    return "kube_version" if component == "kubernetes" else component.replace("-", "_") + "_version"


def bundle_version_pins(bundle_dir: Path, table: dict[str, Any], version_set: str = "") -> list[str]:
    """Pin each component's version variable to a version the sandbox's bundle holds.

    ``version_set`` names one of the table's ``test_versions`` sets (the
    older versions the upgrade tests deploy first; ``default`` or empty: the
    defaults): its components get that version, which the bundle must hold.
    Every other component gets the table's default, or ``default_from_source``
    (what a from-source bundle builds when the default cannot be built, e.g.
    the flannel CNI plugin), or else the one version the bundle holds; a
    component the bundle holds in several versions, none of them these, is
    left to the inventory's default.
    """
    manifest = bundle_dir / "manifest.json"
    if version_set == DEFAULT_VERSIONS:
        version_set = ""
    sets = {s for entry in table.values() for s in (entry.get("test_versions") or {})}
    if version_set and version_set not in sets:
        raise ConfigError(
            f"SANDBOX_VERSIONS={version_set!r} is not a test_versions set of the versions table "
            f"(sets: {', '.join(sorted(sets)) or 'none'}); {DEFAULT_VERSIONS!r} means the defaults"
        )
    if not manifest.is_file():
        if version_set:
            raise ConfigError(f"SANDBOX_VERSIONS={version_set}: {manifest} does not exist; run `make bundle`")
        return []
    held: dict[str, set[str]] = {}
    for artifact in json.loads(manifest.read_text()).get("artifacts", []):
        held.setdefault(artifact["component"], set()).add(artifact["version"])
    wanted = {
        component: str(entry["test_versions"][version_set])
        for component, entry in table.items()
        if version_set and version_set in (entry.get("test_versions") or {})
    }
    missing = [
        f"{c} {v} (it has {', '.join(sorted(held.get(c, ()))) or 'none'})"
        for c, v in sorted(wanted.items())
        if v not in held.get(c, ())
    ]
    if missing:
        raise ConfigError(
            f"SANDBOX_VERSIONS={version_set}: the bundle in {bundle_dir} lacks {'; '.join(missing)}; "
            "build the test bundle with `make bundle`"
        )
    label = f"the {version_set!r} test versions" if version_set else "the defaults"
    pins = [f"# Component versions ({label}) pinned to what the bundle holds."]
    for component, found in sorted(held.items()):
        if component in ("os-packages", "agnhost"):
            continue
        entry = table.get(component) or {}
        candidates = [str(entry[k]) for k in ("default", "default_from_source") if entry.get(k)]
        pick = wanted.get(component) or next((v for v in candidates if v in found), None)
        if pick is None and len(found) == 1:
            pick = next(iter(found))
        if pick is not None:
            pins.append(f"{version_var(component)}: {q(pick)}")
    return pins


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
    return True


# ---------------------------------------------------------------- podman


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(HERE / "containers.conf"))
    return env


def podman(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["podman", *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, input=stdin, env=podman_env(), check=False)
    except FileNotFoundError:
        raise SandboxError("podman is not installed (apt-get install podman runc)") from None
    if check and out.returncode != 0:
        raise SandboxError(f"`{shlex.join(cmd)}` failed ({out.returncode}): {out.stderr.strip()}")
    return out


def podman_json(*args: str) -> list[dict[str, Any]]:
    data = json.loads(podman(*args).stdout or "[]")
    return data if isinstance(data, list) else []


@dataclass
class Node:
    name: str
    index: int
    state: str
    labels: dict[str, str] = field(default_factory=dict)


def list_nodes(name: str | None) -> list[Node]:
    selector = f"label={LABEL}={name}" if name else f"label={LABEL}"
    nodes = []
    for c in podman_json("ps", "-a", "--filter", selector, "--format", "json"):
        labels = c.get("Labels") or {}
        nodes.append(Node(c["Names"][0], int(labels.get(LABEL_NODE, "0")), c.get("State", "?"), labels))
    return sorted(nodes, key=lambda n: n.index)


def run_args(cfg: Config, index: int) -> list[str]:
    node = cfg.node_name(index)
    args = [
        "--hostname", node,
        "--network", cfg.network,
        "--ip", cfg.node_ip(index),
        "--privileged",
        # Not --systemd=always: it mounts the name=systemd hierarchy a second
        # time, over the first, and runc then computes cgroup paths for pods
        # from the hidden mount. The tmpfs mounts and the stop signal are what
        # systemd mode would give; node-init.sh aligns the cgroup paths.
        "--systemd=false",
        "--tmpfs", "/run:rw,exec,mode=755",
        "--tmpfs", "/run/lock",
        "--tmpfs", "/tmp:rw,exec,mode=1777",
        "--env", "container=podman",
        # node-init.sh adds the default route; resolv.conf names the same dead end.
        "--env", f"AIRGAP_SANDBOX_GATEWAY={cfg.gateway}",
        "--dns", cfg.gateway,
        # podman would write /etc/hosts anew at every start, dropping the
        # cluster hosts os_prepare lists there (a real host keeps them
        # across a reboot); node-init.sh names the node in the image's file.
        "--no-hosts",
        "--stop-signal", "SIGRTMIN+3",
        "--pids-limit=-1",
        "--volume", f"{NODE_INIT}:/usr/local/sbin/node-init:ro",
    ]  # fmt: skip
    for short, path in VOLUMES.items():
        # Podman mounts volumes nosuid,nodev by default; nested containers need both.
        args += ["--volume", f"{node}-{short}:{path}:dev,suid,exec"]
    return [*args, cfg.image, "/usr/local/sbin/node-init"]


def spec_hash(args: list[str]) -> str:
    return hashlib.sha256("\0".join(args).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- network checks


def host_routes(skip_dev: str | None) -> list[tuple[ipaddress.IPv4Network, str]]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show"], capture_output=True, text=True, check=False)
    routes = []
    for route in json.loads(out.stdout or "[]") if out.returncode == 0 else []:
        dst, dev = route.get("dst", "default"), route.get("dev", "?")
        if dst != "default" and dev != skip_dev:
            net = ipaddress.ip_network(dst, strict=False)
            if isinstance(net, ipaddress.IPv4Network):
                routes.append((net, f"host route {dst} dev {dev}"))
    return routes


def free_subnet(taken: list[ipaddress.IPv4Network]) -> str:
    for third in range(77, 255):
        candidate = ipaddress.IPv4Network(f"10.89.{third}.0/24")
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    return "<a free /24>"


def check_network(cfg: Config) -> bool:
    """True if the sandbox network exists; ConfigError on any address conflict."""
    ours: dict[str, Any] | None = None
    used: list[tuple[ipaddress.IPv4Network, str]] = []
    for net in podman_json("network", "ls", "--format", "json"):
        subnets = [s.get("subnet", "") for s in net.get("subnets") or []]
        if net.get("name") == cfg.network:
            ours = net
            if str(cfg.subnet) not in subnets:
                raise ConfigError(
                    f"podman network {cfg.network} already exists with subnet {', '.join(subnets)}: "
                    f"set SUBNET={subnets[0] if subnets else '?'} or run `make sandbox-down` first"
                )
            if not net.get("internal") or net.get("dns_enabled"):
                raise ConfigError(
                    f"podman network {cfg.network} is not sealed (made by an older sandbox.py: it routes "
                    "beyond the sandbox): run `make sandbox-down` first"
                )
            continue
        for raw in subnets:
            other = ipaddress.ip_network(raw, strict=False)
            if isinstance(other, ipaddress.IPv4Network):
                used.append((other, f"podman network {net.get('name')} ({raw})"))
    used += host_routes(ours.get("network_interface") if ours else None)
    for other, what in used:
        if other.overlaps(cfg.subnet):
            suggestion = free_subnet([n for n, _ in used])
            raise ConfigError(
                f"SUBNET={cfg.subnet} overlaps {what}: set SUBNET to a free range, e.g. SUBNET={suggestion}"
            )
    return ours is not None


# ---------------------------------------------------------------- readiness


def ensure_key(cfg: Config) -> str:
    if not cfg.key.exists():
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{cfg.name}@airgap-k8s-sandbox", "-f", str(cfg.key)],
            check=True,
        )
        log(f"generated SSH key {cfg.key}")
    cfg.key.chmod(0o600)
    return cfg.key.with_suffix(".pub").read_text().strip()


def system_state(node: str) -> str:
    out = podman("exec", node, "systemctl", "is-system-running", check=False)
    lines = (out.stdout.strip() or out.stderr.strip() or "?").splitlines()
    return lines[-1]


def ssh_banner(ip: str) -> bool:
    try:
        with socket.create_connection((ip, 22), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def ssh_login(cfg: Config, ip: str) -> subprocess.CompletedProcess[str]:
    remote = "sudo -n true" if cfg.user != "root" else "true"
    cmd = [
        "ssh", "-i", str(cfg.key), *SSH_OPTIONS,
        "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR",
        f"{cfg.user}@{ip}", remote,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)


def wait_ready(cfg: Config, indexes: list[int], pubkey: str) -> dict[str, str]:
    """Poll until each node runs systemd, is provisioned and accepts our SSH login.

    Returns what provisioning changed per node.
    """
    deadline = time.monotonic() + cfg.timeout
    pending = {cfg.node_name(i): cfg.node_ip(i) for i in indexes}
    status = dict.fromkeys(pending, "starting")
    changes: dict[str, str] = {}
    while pending:
        for node, ip in list(pending.items()):
            state = system_state(node)
            if state not in ("running", "degraded"):
                status[node] = f"systemd is {state!r}"
                continue
            if node not in changes:
                out = podman("exec", node, "sh", "-c", PROVISION_SH, "provision", cfg.user, pubkey)
                changes[node] = out.stdout.strip()
            if not ssh_banner(ip):
                status[node] = f"sshd does not answer on {ip}:22"
                continue
            login = ssh_login(cfg, ip)
            if login.returncode != 0:
                status[node] = f"ssh {cfg.user}@{ip} failed: {login.stderr.strip()}"
                continue
            del pending[node]
        if not pending:
            break
        if time.monotonic() > deadline:
            detail = "; ".join(f"{n}: {status[n]}" for n in pending)
            raise SandboxError(
                f"nodes not ready after {cfg.timeout:.0f}s ({detail}). "
                "Inspect with `podman exec -it NODE systemctl --failed`; raise SANDBOX_TIMEOUT if the machine is busy"
            )
        time.sleep(1)
    return changes


# ---------------------------------------------------------------- commands


def save_state(cfg: Config) -> None:
    state = {
        "SANDBOX_NAME": cfg.name,
        "NODES": str(cfg.nodes),
        "SUBNET": str(cfg.subnet),
        "SANDBOX_USER": cfg.user,
        "HA": str(int(cfg.ha)),
        "BUNDLE_DIR": cfg.bundle_dir,
        "SANDBOX_VERSIONS": cfg.versions,
    }
    write_if_changed(cfg.state_dir / "state.json", json.dumps(state, indent=2) + "\n")


def write_inventory(cfg: Config, indexes: list[int]) -> Path:
    hosts = cfg.state_dir / "hosts.yml"
    write_if_changed(hosts, render_hosts(cfg, indexes))
    write_if_changed(cfg.state_dir / "group_vars" / "all.yml", render_group_vars(cfg))
    return hosts


def remove_nodes(nodes: list[Node]) -> None:
    if not nodes:
        return
    podman("rm", "--force", "--time", "10", *[n.name for n in nodes])
    volumes = [f"{n.name}-{short}" for n in nodes for short in VOLUMES]
    existing = {v["Name"] for v in podman_json("volume", "ls", "--format", "json")}
    gone = [v for v in volumes if v in existing]
    if gone:
        podman("volume", "rm", "--force", *gone)


def cmd_up(cfg: Config, recreate: bool) -> int:
    started_at = time.monotonic()
    layout(cfg.nodes, cfg.ha)  # validate the whole configuration before changing anything
    render_group_vars(cfg)  # e.g. SANDBOX_VERSIONS against the bundle
    if podman("image", "exists", cfg.image, check=False).returncode != 0:
        raise SandboxError(f"image {cfg.image} is not in the podman store: run `make sandbox-image` first")
    network_exists = check_network(cfg)
    pubkey = ensure_key(cfg)

    if not network_exists:
        # --internal: no NAT and no route beyond the bridge; the host keeps
        # the bridge address .1, so SSH from here still works. --disable-dns:
        # podman's resolver would forward the nodes' queries off the machine.
        podman(
            "network", "create",
            "--internal",
            "--disable-dns",
            "--subnet", str(cfg.subnet),
            "--gateway", str(cfg.subnet.network_address + 1),
            "--label", f"{LABEL}={cfg.name}",
            cfg.network,
        )  # fmt: skip
        log(f"created sealed network {cfg.network} ({cfg.subnet}, gateway to nowhere {cfg.gateway})")

    existing = {n.index: n for n in list_nodes(cfg.name)}
    extra = [n for i, n in existing.items() if not 1 <= i <= cfg.nodes]
    if extra:
        remove_nodes(extra)
        log(f"removed {', '.join(n.name for n in extra)} (NODES={cfg.nodes})")

    created, started, recreated, stale = [], [], [], []
    for i in range(1, cfg.nodes + 1):
        node = cfg.node_name(i)
        args = run_args(cfg, i)
        spec = spec_hash(args)
        current = existing.get(i)
        if current and current.labels.get(LABEL_SPEC) != spec:
            if not recreate:
                image = current.labels.get(LABEL_IMAGE, "?")
                why = f"image {image}, now {cfg.image}" if image != cfg.image else "older run settings of sandbox.py"
                stale.append(f"{node} ({why})")
            else:
                remove_nodes([current])
                current = None
                recreated.append(node)
        if current is None:
            labels = {LABEL: cfg.name, LABEL_NODE: str(i), LABEL_IP: cfg.node_ip(i), LABEL_IMAGE: cfg.image}
            labels[LABEL_SPEC] = spec
            for short in VOLUMES:
                volume = f"{node}-{short}"
                if podman("volume", "exists", volume, check=False).returncode != 0:
                    podman("volume", "create", "--label", f"{LABEL}={cfg.name}", volume)
            label_args = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
            podman("run", "--detach", "--name", node, *label_args, *args)
            if node not in recreated:
                created.append(node)
        elif current.state != "running":
            podman("start", node)
            started.append(node)

    indexes = list(range(1, cfg.nodes + 1))
    changes = wait_ready(cfg, indexes, pubkey)
    save_state(cfg)
    hosts = write_inventory(cfg, indexes)

    provisioned = [n for n, c in changes.items() if c]
    summary = (
        f"{cfg.nodes} node(s) up, {len(created)} created, {len(started)} started, "
        f"{len(recreated)} recreated, {len(provisioned)} provisioned in {time.monotonic() - started_at:.1f}s"
    )
    print(summary)
    for n in provisioned:
        log(f"{n}: set up {changes[n]}")
    for s in stale:
        log(f"stale: {s}; `make sandbox-up RECREATE=1` replaces it")
    print(f"inventory: {hosts}")
    return 0


def cmd_down(name: str | None, state_dir: Path | None) -> int:
    nodes = list_nodes(name)
    selector = f"label={LABEL}={name}" if name else f"label={LABEL}"
    if nodes:
        podman("rm", "--force", "--time", "10", *[n.name for n in nodes])
    volumes = [v["Name"] for v in podman_json("volume", "ls", "--filter", selector, "--format", "json")]
    if volumes:
        podman("volume", "rm", "--force", *volumes)
    networks = [n["name"] for n in podman_json("network", "ls", "--filter", selector, "--format", "json")]
    if networks:
        podman("network", "rm", "--force", *networks)
    # The inventory would point at hosts that are gone; the key is kept for the next `up`.
    if state_dir is not None:
        for path in (state_dir / "hosts.yml", state_dir / "group_vars" / "all.yml", state_dir / "state.json"):
            path.unlink(missing_ok=True)
        if (state_dir / "group_vars").is_dir() and not any((state_dir / "group_vars").iterdir()):
            (state_dir / "group_vars").rmdir()
    what = f"sandbox {name}" if name else "all sandboxes"
    print(f"{what} down: removed {len(nodes)} container(s), {len(volumes)} volume(s), {len(networks)} network(s)")
    return 0


def cmd_inventory(cfg: Config) -> int:
    nodes = [n for n in list_nodes(cfg.name) if n.state == "running"]
    if not nodes:
        raise SandboxError(f"sandbox {cfg.name} has no running node: run `make sandbox-up` first")
    indexes = [n.index for n in nodes]
    if indexes != list(range(1, len(nodes) + 1)):
        raise SandboxError(f"nodes {indexes} of sandbox {cfg.name} are not 1..N: run `make sandbox-up`")
    print(write_inventory(cfg, indexes))
    return 0


def cmd_status(cfg: Config) -> int:
    nodes = list_nodes(cfg.name)
    if not nodes:
        print(f"sandbox {cfg.name}: no nodes")
        return 0
    print(f"{'NODE':<24} {'STATE':<9} {'IP':<15} {'SYSTEMD':<12} IMAGE")
    for n in nodes:
        systemd = system_state(n.name) if n.state == "running" else "-"
        image = n.labels.get(LABEL_IMAGE, "?")
        mark = "" if image == cfg.image else " (stale)"
        print(f"{n.name:<24} {n.state:<9} {n.labels.get(LABEL_IP, '?'):<15} {systemd:<12} {image}{mark}")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", help="sandbox name, prefix of every object (SANDBOX_NAME, default airgap-sbx)")
    common.add_argument("--state-dir", help="key, inventory and state (SANDBOX_DIR, default build/sandbox[-NAME])")
    common.add_argument("--image", help="node image (AIRGAP_NODE_IMAGE, default: tag of the current recipe)")
    nodes = argparse.ArgumentParser(add_help=False)
    nodes.add_argument("--nodes", help="number of nodes, 1-9 (NODES, default 3)")
    nodes.add_argument("--subnet", help="IPv4 subnet of the sandbox network (SUBNET, default 10.89.77.0/24)")
    nodes.add_argument("--timeout", help="seconds to wait for the nodes (SANDBOX_TIMEOUT, default 180)")
    inv = argparse.ArgumentParser(add_help=False)
    inv.add_argument("--user", help="SSH login user; not root means sudo + become (SANDBOX_USER)")
    inv.add_argument("--ha", help="1: three control plane nodes (HA)")
    inv.add_argument("--bundle-dir", help="airgap_bundle_dir for group_vars/all.yml (BUNDLE_DIR)")
    inv.add_argument(
        "--versions",
        help="default, or a test_versions set of the table (e.g. previous): the versions to pin (SANDBOX_VERSIONS)",
    )

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common, nodes, inv], help="create or start the nodes")
    up.add_argument("--recreate", action="store_true", help="replace nodes created from another image or settings")
    down = sub.add_parser("down", parents=[common], help="remove the sandbox")
    down.add_argument("--all", action="store_true", help="every sandbox, whatever its name")
    sub.add_parser("inventory", parents=[common, inv], help="write hosts.yml for the running nodes")
    sub.add_parser("status", parents=[common], help="show the nodes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "down":
            if args.all:
                return cmd_down(None, None)
            name = sandbox_name(args)
            return cmd_down(name, state_dir_of(args, name))
        cfg = build_config(args, nodes=args.command == "up")
        if args.command == "up":
            return cmd_up(cfg, args.recreate)
        if args.command == "inventory":
            return cmd_inventory(cfg)
        return cmd_status(cfg)
    except ConfigError as err:
        print(f"sandbox: error: {err}", file=sys.stderr)
        return 2
    except SandboxError as err:
        print(f"sandbox: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
