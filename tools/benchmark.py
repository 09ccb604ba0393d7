#!/usr/bin/env python3
"""Benchmark the playbooks on sandbox clusters (docs/benchmarks.md).

Scenarios (each repeated --runs times on new nodes; the median is reported):
- fresh: site.yml on 3 new nodes with a new PKI (it ends when every node is
  Ready and the system pods run), then a second, no-change run (changed=0
  expected), and the bytes each node received during the first run (eth0 rx);
- ha: site.yml on 3 control planes + 1 worker, new nodes and PKI;
- add: a 3-node and a 6-node cluster, then one more worker added with
  playbooks/add_nodes.yml.

Each run records the load average (1-minute value sampled every 5 s while it
runs) and a profile (tools/benchmark_callback: every task with its time and
what each host did). Results: build/benchmark/result.json and a Markdown
report on stdout (build/benchmark/report.md).

Usage: make benchmark   (or: .venv/bin/python tools/benchmark.py [--runs 3] [--only fresh,ha,add] [--keep])
Set BENCHMARK_WRAP to a command prefix for every deploy (e.g. a job-slot
wrapper on a shared machine). Nothing is timed inside the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(os.environ.get("VENV", ROOT / ".venv")) / "bin"
LOGS = ROOT / "build" / "benchmark"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
SCENARIOS = ("fresh", "ha", "add")
TARGETS = {
    "fresh": 130.0,
    "rerun": 30.0,
    "ha": 180.0,
    "add": 60.0,
}
# docs/benchmarks.md, before this work: MiB received per node during a fresh run.
BYTES_BEFORE_MIB = {"control plane": 1025.0, "worker": 618.0}


def env(profile: Path | None = None) -> dict[str, str]:
    out = dict(os.environ)
    out["CONTAINERS_CONF"] = str(ROOT / "tools" / "sandbox" / "containers.conf")
    out["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    out["PATH"] = f"{VENV_BIN}:{out.get('PATH', '')}"
    out["ANSIBLE_FORCE_COLOR"] = "0"
    if profile is not None:
        out["ANSIBLE_CALLBACK_PLUGINS"] = str(ROOT / "tools" / "benchmark_callback")
        out["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks,airgap_profile"
        out["AIRGAP_PROFILE_OUT"] = str(profile)
    return out


def wrap() -> list[str]:
    return shlex.split(os.environ.get("BENCHMARK_WRAP", ""))


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class LoadSampler:
    """The 1-minute load average, sampled every few seconds while a run lasts."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[float] = []
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(loadavg())
            self._stop.wait(self._every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return round(statistics.fmean(self.samples), 2) if self.samples else 0.0


@dataclass
class PlaybookRun:
    name: str
    seconds: float
    changed: int
    changed_by_host: dict[str, int]
    load_start: float
    load_mean: float
    log: str
    profile: str


def playbook(inventory: Path, name: str, book: str, *extra: str) -> PlaybookRun:
    LOGS.mkdir(parents=True, exist_ok=True)
    log, profile = LOGS / f"{name}.log", LOGS / f"{name}.profile.json"
    cmd = [*wrap(), str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / book), *extra]
    load_start = loadavg()
    with log.open("w") as fh, LoadSampler() as load:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        start = time.monotonic()
        rc = subprocess.run(
            cmd, cwd=ROOT, env=env(profile), stdout=fh, stderr=subprocess.STDOUT, check=False
        ).returncode
        seconds = time.monotonic() - start
    by_host, failed = {}, 0
    for line in log.read_text(errors="replace").splitlines():
        m = RECAP.match(line)
        if m:
            by_host[m[1]] = int(m[2])
            failed += int(m[3]) + int(m[4])
    if rc != 0 or failed:
        sys.exit(f"{book} failed (rc={rc}); see {log}")
    print(f"benchmark: {name}: {seconds:.1f} s, changed={sum(by_host.values())}, load {load.mean}", file=sys.stderr)
    return PlaybookRun(
        name, round(seconds, 1), sum(by_host.values()), by_host, load_start, load.mean, str(log), str(profile)
    )


@dataclass
class Sandbox:
    name: str
    subnet: str
    image: str
    bundle: Path

    @property
    def state(self) -> Path:
        return ROOT / "build" / f"sandbox-{self.name}"

    @property
    def inventory(self) -> Path:
        return self.state / "hosts.yml"

    def node(self, index: int) -> str:
        return f"{self.name}-node{index}"

    def _tool(self, *args: str, wrapped: bool = False) -> None:
        cmd = [str(VENV_BIN / "python"), str(ROOT / "tools" / "sandbox" / "sandbox.py"), *args, "--name", self.name]
        subprocess.run([*wrap(), *cmd] if wrapped else cmd, cwd=ROOT, env=env(), check=True)

    def down(self) -> None:
        self._tool("down")

    def up(self, nodes: int, ha: bool = False) -> float:
        start = time.monotonic()
        args = ["--nodes", str(nodes), "--subnet", self.subnet, "--image", self.image, "--bundle-dir", str(self.bundle)]
        self._tool("up", *args, "--ha", "1" if ha else "0", wrapped=True)
        return round(time.monotonic() - start, 1)

    def fresh(self, nodes: int, ha: bool = False) -> float:
        """New nodes and a new PKI: nothing of an earlier run is reused."""
        self.down()
        shutil.rmtree(self.state / "cluster", ignore_errors=True)
        return self.up(nodes, ha)

    def rx_bytes(self, nodes: int) -> dict[str, int]:
        out = {}
        for i in range(1, nodes + 1):
            proc = subprocess.run(
                ["podman", "exec", self.node(i), "cat", "/sys/class/net/eth0/statistics/rx_bytes"],
                capture_output=True, text=True, check=True, env=env(),
            )  # fmt: skip
            out[self.node(i)] = int(proc.stdout.strip())
        return out


@dataclass
class Result:
    scenario: str
    run: int
    sandbox_up_s: float
    runs: list[PlaybookRun] = field(default_factory=list)
    received_mib: dict[str, float] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)


def roles_of(inventory: Path) -> dict[str, str]:
    """Node -> 'control plane' or 'worker', from the sandbox inventory."""
    text = inventory.read_text()
    block = text.split("kube_control_plane:", 1)[1].split("kube_node:", 1)[0]
    cps = set(re.findall(r"^\s+(\S+): \{\}", block, re.M))
    nodes = re.findall(r"^    (\S+):\n      ansible_host", text, re.M)
    return {n: "control plane" if n in cps else "worker" for n in nodes}


def fresh(box: Sandbox, run: int, check: bool) -> Result:
    result = Result("fresh", run, box.fresh(3))
    before = box.rx_bytes(3)
    result.runs.append(playbook(box.inventory, f"fresh-{run}", "site.yml"))
    after = box.rx_bytes(3)
    result.received_mib = {n: round((after[n] - before[n]) / 2**20, 1) for n in after}
    result.roles = roles_of(box.inventory)
    result.runs.append(playbook(box.inventory, f"rerun-{run}", "site.yml"))
    if check:
        result.runs.append(playbook(box.inventory, f"check-{run}", "site.yml", "--check"))
    return result


def ha(box: Sandbox, run: int) -> Result:
    result = Result("ha", run, box.fresh(4, ha=True))
    before = box.rx_bytes(4)
    result.runs.append(playbook(box.inventory, f"ha-{run}", "site.yml"))
    after = box.rx_bytes(4)
    result.received_mib = {n: round((after[n] - before[n]) / 2**20, 1) for n in after}
    result.roles = roles_of(box.inventory)
    return result


def add(box: Sandbox, run: int, size: int) -> Result:
    """A cluster of SIZE nodes, then one more worker with add_nodes.yml."""
    result = Result(f"add-{size}", run, box.fresh(size))
    result.runs.append(playbook(box.inventory, f"add{size}-site-{run}", "site.yml"))
    box.up(size + 1)  # starts the new node and rewrites the inventory with it
    new = box.node(size + 1)
    before = box.rx_bytes(size + 1)
    result.runs.append(playbook(box.inventory, f"add{size}-{run}", "add_nodes.yml", "-e", f"nodes={new}"))
    after = box.rx_bytes(size + 1)
    result.received_mib = {n: round((after[n] - before[n]) / 2**20, 1) for n in after}
    return result


# ---------------------------------------------------------------- report


def median_of(values: list[float]) -> str:
    if not values:
        return "-"
    spread = f" ({min(values)}-{max(values)})" if len(values) > 1 else ""
    return f"{statistics.median(values):.1f}{spread}"


def profile_summary(path: str, top: int) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    tasks = sorted(data["tasks"], key=lambda t: t["seconds"], reverse=True)[:top]
    return {
        "seconds": data["seconds"],
        "headers": len(data["tasks"]),
        "hosts": data["hosts"],
        "top": [{k: t[k] for k in ("seconds", "play", "role", "name")} for t in tasks],
    }


def median_run(results: list[Result], index: int) -> PlaybookRun | None:
    runs = sorted((r.runs[index] for r in results if len(r.runs) > index), key=lambda p: p.seconds)
    return runs[len(runs) // 2] if runs else None


def report(results: list[Result], meta: dict[str, Any], top: int) -> str:
    by = {s: [r for r in results if r.scenario == s] for s in {r.scenario for r in results}}
    lines = [
        f"Benchmark {meta['date']}, commit {meta['commit']}, {meta['runs']} run(s) per scenario; "
        f"load average before: {meta['load_before']}.",
        "",
        "| measure | median s (min-max) | mean load while running | changed | target |",
        "|---|---|---|---|---|",
    ]

    def row(label: str, runs: list[PlaybookRun], target: str) -> None:
        if runs:
            loads = ", ".join(f"{r.load_mean}" for r in runs)
            changed = ", ".join(str(r.changed) for r in runs)
            lines.append(f"| {label} | {median_of([r.seconds for r in runs])} | {loads} | {changed} | {target} |")

    fr = by.get("fresh", [])
    row("site.yml, 3 fresh nodes, until all Ready", [r.runs[0] for r in fr], f"<= {TARGETS['fresh']:.0f} s")
    row("site.yml again, no change", [r.runs[1] for r in fr], f"<= {TARGETS['rerun']:.0f} s, changed=0")
    row("site.yml --check on the converged cluster", [r.runs[2] for r in fr if len(r.runs) > 2], "changed=0")
    row("HA site.yml (3 control planes + 1 worker)", [r.runs[0] for r in by.get("ha", [])], f"<= {TARGETS['ha']:.0f} s")
    for size in (3, 6):
        adds = by.get(f"add-{size}", [])
        row(f"add_nodes.yml: one worker to {size} nodes", [r.runs[1] for r in adds], f"<= {TARGETS['add']:.0f} s")
    if not any(by.get(f"add-{s}") for s in (3, 6)):
        lines.append(f"| add_nodes.yml | not run | | | <= {TARGETS['add']:.0f} s |")

    for scenario in ("fresh", "ha", "add-3", "add-6"):
        res = by.get(scenario, [])
        if not res or not res[0].received_mib:
            continue
        lines += ["", f"MiB received per node ({scenario}, eth0 rx, median of {len(res)}):", ""]
        lines += ["| node | role | MiB | before this work |", "|---|---|---|---|"]
        for node in res[0].received_mib:
            values = [r.received_mib[node] for r in res if node in r.received_mib]
            role = res[0].roles.get(node, "")
            before = BYTES_BEFORE_MIB.get(role, "") if scenario == "fresh" else ""
            lines.append(f"| {node} | {role} | {median_of(values)} | {before} |")

    for label, scenario, index in (("fresh run", "fresh", 0), ("no-change run", "fresh", 1), ("HA run", "ha", 0)):
        run = median_run(by.get(scenario, []), index)
        if run is None:
            continue
        prof = profile_summary(run.profile, top)
        lines += [
            "",
            f"Profile of the median {label} ({run.name}: {run.seconds} s, {prof['headers']} task headers):",
            "",
        ]
        lines += ["| host | tasks run | skipped | changed |", "|---|---|---|---|"]
        for host, c in sorted(prof["hosts"].items()):
            lines.append(f"| {host} | {c['executed']} | {c['skipped']} | {c['changed']} |")
        lines += ["", "| s | play | role | task |", "|---|---|---|---|"]
        lines += [f"| {t['seconds']:.1f} | {t['play']} | {t['role']} | {t['name']} |" for t in prof["top"]]
    return "\n".join(lines) + "\n"


def git_commit() -> str:
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCHMARK_RUNS", "3")))
    parser.add_argument("--only", default=os.environ.get("BENCHMARK_ONLY", ",".join(SCENARIOS)))
    parser.add_argument("--name", default="airgap-bench")
    parser.add_argument("--subnet", default=os.environ.get("BENCHMARK_SUBNET", "10.89.86.0/24"))
    parser.add_argument("--check", action="store_true", help="also time site.yml --check after each no-change run")
    parser.add_argument("--top", type=int, default=15, help="tasks listed in each profile")
    parser.add_argument("--keep", action="store_true", help="keep the last sandbox afterwards")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown or args.runs < 1:
        parser.error(f"--only takes {', '.join(SCENARIOS)} (got {', '.join(unknown)}); --runs at least 1")

    image = subprocess.run(
        [str(ROOT / "tools" / "sandbox" / "image.sh"), "--ref"], capture_output=True, text=True, check=True
    ).stdout.strip()
    box = Sandbox(args.name, args.subnet, image, Path(os.environ.get("BUNDLE_DIR", ROOT / "files" / "bundle")))
    meta: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "runs": args.runs,
        "load_before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    results: list[Result] = []
    try:
        for run in range(1, args.runs + 1):
            if "fresh" in only:
                results.append(fresh(box, run, args.check))
            if "ha" in only:
                results.append(ha(box, run))
            if "add" in only:
                for size in (3, 6):
                    results.append(add(box, run, size))
    finally:
        if not args.keep:
            box.down()
    meta["load_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / "result.json").write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=1))
    text = report(results, meta, args.top)
    (LOGS / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
