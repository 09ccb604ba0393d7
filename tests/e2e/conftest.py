"""End-to-end: a sandbox cluster deployed by site.yml over SSH from the bundle.

One cluster per session (deploying takes minutes); tests run in file order:
deploy checks, workloads, etcd failure, then idempotence. Set E2E_KEEP=1 to
keep the sandbox afterwards for debugging, E2E_VERSIONS=previous to deploy
the test bundle's older versions (sandbox.py --versions) instead of the
defaults.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
VENV_BIN = Path(os.environ.get("VENV", ROOT / ".venv")) / "bin"
BUNDLE_DIR = Path(os.environ.get("BUNDLE_DIR", ROOT / "files" / "bundle"))
SANDBOX_NAME = os.environ.get("E2E_SANDBOX_NAME", "airgap-e2e")
SANDBOX_SUBNET = os.environ.get("E2E_SUBNET", "10.89.78.0/24")
# A test_versions set of the versions table (e.g. previous) to deploy instead of the defaults.
SANDBOX_VERSIONS = os.environ.get("E2E_VERSIONS", "default")
SANDBOX_DIR = BUILD / f"sandbox-{SANDBOX_NAME}"
LOG_DIR = BUILD / "e2e"
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)"
)


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["CONTAINERS_CONF"] = str(ROOT / "tools" / "sandbox" / "containers.conf")
    out["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    out["PATH"] = f"{VENV_BIN}:{out.get('PATH', '')}"
    out["ANSIBLE_FORCE_COLOR"] = "0"
    return out


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

    def changed_tasks(self) -> list[str]:
        """Task names that reported a change (for a readable assertion message)."""
        names, current = [], ""
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line[line.find("[") + 1 : line.rfind("]")]
            elif line.startswith("changed:"):
                names.append(f"{current} :: {line[:160]}")
        return names


def run_playbook(inventory: Path, playbook: str, name: str, *extra: str) -> PlaybookRun:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / playbook), *extra]
    start = time.monotonic()
    with log.open("w") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=ROOT, env=env(), stdout=fh, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - start
    recap = {}
    for line in log.read_text(errors="replace").splitlines():
        m = RECAP.match(line)
        if m:
            recap[m["host"]] = {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
    return PlaybookRun(proc.returncode, log, recap, seconds)


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Cluster:
    inventory: Path
    hosts: dict[str, str]  # name -> ip
    groups: dict[str, list[str]]
    kubeconfig: Path
    kubectl_bin: Path
    key: Path
    first_run: PlaybookRun
    # Started hosts left out of the inventory, for the day-2 tests to add (name -> ip).
    spares: dict[str, str] = field(default_factory=dict)

    def address(self, host: str) -> str:
        return self.hosts[host] if host in self.hosts else self.spares[host]

    def kubectl(
        self, *args: str, check: bool = True, timeout: int = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.kubectl_bin), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def ssh(self, host: str, command: str, check: bool = True, timeout: int = 60) -> subprocess.CompletedProcess[str]:
        """Run a command on a node over real SSH, as the inventory does."""
        cmd = [
            "ssh", "-i", str(self.key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", f"root@{self.address(host)}", command,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{host}: {command!r} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def put_file(self, host: str, path: str, data: bytes, mode: str = "0600") -> None:
        cmd = [
            "ssh", "-i", str(self.key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", f"root@{self.address(host)}",
            f"umask 077 && cat > {shlex.quote(path)} && chmod {mode} {shlex.quote(path)}",
        ]  # fmt: skip
        subprocess.run(cmd, input=data, capture_output=True, timeout=60, check=True)

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


TABLE = ROOT / "roles" / "cluster_defaults" / "defaults" / "main" / "artifacts.yml"


def inventory_version(component: str) -> str:
    """The version of ``component`` the sandbox inventory installs.

    sandbox.py pins it in group_vars/all.yml (the bundle may hold two
    versions); unpinned means the versions table's default.
    """
    var = "kube_version" if component == "kubernetes" else component.replace("-", "_") + "_version"
    group_vars = yaml.safe_load((SANDBOX_DIR / "group_vars" / "all.yml").read_text()) or {}
    if group_vars.get(var):
        return str(group_vars[var])
    return str(yaml.safe_load(TABLE.read_text())["airgap_artifacts"][component]["default"])


def kube_version() -> str:
    return inventory_version("kubernetes")


def bundle_image(component: str) -> str:
    """The reference of ``component``'s image in the bundle, at the inventory's version."""
    version = inventory_version(component)
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
    refs = [
        a["image"]
        for a in manifest["artifacts"]
        if a["kind"] == "image" and a["component"] == component and a["version"] == version
    ]
    assert refs, f"the bundle has no {component} {version} image"
    return refs[0]


def hold_out_spares(inventory: Path, inv: dict, count: int) -> dict[str, str]:
    """Take the last ``count`` sandbox nodes out of the inventory (rewritten in place); return them (name -> ip)."""
    if count <= 0:
        return {}
    names = list(inv["all"]["hosts"])[-count:]
    spares = {name: inv["all"]["hosts"].pop(name)["ip"] for name in names}
    for group in inv["all"]["children"].values():
        for name in names:
            ((group or {}).get("hosts") or {}).pop(name, None)
    inventory.write_text(yaml.safe_dump(inv, sort_keys=False))
    return spares


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if not (BUNDLE_DIR / "manifest.json").exists():
        pytest.fail(f"No bundle at {BUNDLE_DIR}: run `make bundle` first (make e2e does).")
    image = subprocess.run(
        [str(ROOT / "tools" / "sandbox" / "image.sh"), "--ref"], capture_output=True, text=True, check=True
    ).stdout.strip()
    sandbox = [str(VENV_BIN / "python"), str(ROOT / "tools" / "sandbox" / "sandbox.py")]
    settings = [
        "--name", SANDBOX_NAME, "--subnet", SANDBOX_SUBNET, "--nodes", os.environ.get("E2E_NODES", "3"),
        "--image", image, "--bundle-dir", str(BUNDLE_DIR), "--versions", SANDBOX_VERSIONS,
    ]  # fmt: skip
    if os.environ.get("E2E_HA") == "1":
        settings += ["--ha", "1"]
    # Bare hosts every session: the deploy is what is under test.
    subprocess.run([*sandbox, "down", "--name", SANDBOX_NAME], cwd=ROOT, env=env(), check=True)
    subprocess.run([*sandbox, "up", *settings], cwd=ROOT, env=env(), check=True)
    inventory = SANDBOX_DIR / "hosts.yml"
    try:
        inv = yaml.safe_load(inventory.read_text())
        spares = hold_out_spares(inventory, inv, int(os.environ.get("E2E_SPARES", "0")))
        hosts = {name: hv["ip"] for name, hv in inv["all"]["hosts"].items()}
        groups = {g: list((c or {}).get("hosts") or {}) for g, c in inv["all"]["children"].items()}
        first = run_playbook(inventory, "site.yml", "site-1")
        assert first.rc == 0 and first.failed == 0, f"site.yml failed, log {first.log}:\n{tail(first.log)}"
        yield Cluster(
            inventory=inventory,
            hosts=hosts,
            groups=groups,
            kubeconfig=SANDBOX_DIR / "cluster" / "admin.conf",
            kubectl_bin=BUNDLE_DIR / "kubernetes" / kube_version() / "amd64" / "kubectl",
            key=SANDBOX_DIR / "id_ed25519",
            first_run=first,
            spares=spares,
        )
    finally:
        if os.environ.get("E2E_KEEP") != "1":
            subprocess.run([*sandbox, "down", "--name", SANDBOX_NAME], cwd=ROOT, env=env(), check=False)
