#!/usr/bin/env python3
"""Benchmark the main job: a fresh 3-node sandbox deployed by site.yml.

Measures what docs/benchmarks.md reports, on this machine:
- site.yml wall time on fresh nodes (it ends with every node Ready),
- the wall time of a second, no-change run and its changed count,
- bytes each node received over the network during the first run.

Usage: make benchmark   (or: .venv/bin/python tools/benchmark.py [--nodes 3] [--keep])
Prints a Markdown table; nothing is timed inside the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(os.environ.get("VENV", ROOT / ".venv")) / "bin"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["CONTAINERS_CONF"] = str(ROOT / "tools" / "sandbox" / "containers.conf")
    out["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    out["PATH"] = f"{VENV_BIN}:{out.get('PATH', '')}"
    return out


def rx_bytes(container: str) -> int:
    out = subprocess.run(
        ["podman", "exec", container, "cat", "/sys/class/net/eth0/statistics/rx_bytes"],
        capture_output=True, text=True, check=True, env=env(),
    )  # fmt: skip
    return int(out.stdout.strip())


def site(inventory: Path, log: Path) -> tuple[float, int, int]:
    start = time.monotonic()
    with log.open("w") as fh:
        rc = subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "site.yml")],
            cwd=ROOT, env=env(), stdout=fh, stderr=subprocess.STDOUT, check=False,
        ).returncode  # fmt: skip
    seconds = time.monotonic() - start
    changed = failed = 0
    for line in log.read_text(errors="replace").splitlines():
        m = RECAP.match(line)
        if m:
            changed += int(m[2])
            failed += int(m[3]) + int(m[4])
    if rc != 0 or failed:
        sys.exit(f"site.yml failed (rc={rc}); see {log}")
    return seconds, changed, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", default="3")
    parser.add_argument("--name", default="airgap-bench")
    parser.add_argument("--subnet", default="10.89.79.0/24")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox afterwards")
    args = parser.parse_args()

    image = subprocess.run(
        [str(ROOT / "tools" / "sandbox" / "image.sh"), "--ref"], capture_output=True, text=True, check=True
    ).stdout.strip()
    sandbox = [str(VENV_BIN / "python"), str(ROOT / "tools" / "sandbox" / "sandbox.py")]
    common = ["--name", args.name]
    subprocess.run([*sandbox, "down", *common], cwd=ROOT, env=env(), check=True)
    up_start = time.monotonic()
    subprocess.run(
        [*sandbox, "up", *common, "--nodes", args.nodes, "--subnet", args.subnet, "--image", image,
         "--bundle-dir", str(ROOT / "files" / "bundle")],
        cwd=ROOT, env=env(), check=True,
    )  # fmt: skip
    up_seconds = time.monotonic() - up_start
    state = ROOT / "build" / f"sandbox-{args.name}"
    inventory = state / "hosts.yml"
    nodes = [f"{args.name}-node{i}" for i in range(1, int(args.nodes) + 1)]
    logs = ROOT / "build" / "benchmark"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        before = {n: rx_bytes(n) for n in nodes}
        first, first_changed, _ = site(inventory, logs / "site-1.log")
        received = {n: rx_bytes(n) - before[n] for n in nodes}
        second, second_changed, _ = site(inventory, logs / "site-2.log")
    finally:
        if not args.keep:
            subprocess.run([*sandbox, "down", *common], cwd=ROOT, env=env(), check=False)
    result = {
        "nodes": int(args.nodes),
        "sandbox_up_s": round(up_seconds, 1),
        "site_first_run_s": round(first, 1),
        "site_first_run_changed": first_changed,
        "site_second_run_s": round(second, 1),
        "site_second_run_changed": second_changed,
        "received_mib_per_node": {n: round(b / 2**20, 1) for n, b in received.items()},
    }
    (logs / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    print(f"| sandbox up ({args.nodes} nodes) | {result['sandbox_up_s']} s |")
    print(f"| site.yml, fresh nodes, until every node is Ready | {result['site_first_run_s']} s |")
    print(f"| site.yml again (no change) | {result['site_second_run_s']} s, changed={second_changed} |")
    for node, mib in result["received_mib_per_node"].items():
        print(f"| received by {node} during the first run | {mib} MiB |")


if __name__ == "__main__":
    main()
