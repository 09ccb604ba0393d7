#!/usr/bin/env python3
"""Benchmark adding one worker: playbooks/add_nodes.yml against an N-node sandbox cluster.

Starts N+1 sandbox nodes, deploys site.yml on the first N (the last one is
left out of the inventory), then times `add_nodes.yml -e nodes=<last>` and
reports which tasks changed on the hosts that were already there. Run it for
3 and for 6 nodes: the add should cost the same (docs/benchmarks.md).

Usage: .venv/bin/python tools/benchmark_add_node.py --nodes 3 [--name N --subnet S --bundle-dir D] [--keep]
Nothing is timed inside the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import ROOT, VENV_BIN, env, site

CHANGED = re.compile(r"^changed: \[(?P<host>[^\]\s]+)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the cluster the worker joins")
    parser.add_argument("--name", default="airgap-bench-add")
    parser.add_argument("--subnet", default="10.89.80.0/24")
    parser.add_argument("--bundle-dir", default=os.environ.get("BUNDLE_DIR", str(ROOT / "files" / "bundle")))
    parser.add_argument("--keep", action="store_true", help="keep the sandbox afterwards")
    args = parser.parse_args()

    image = subprocess.run(
        [str(ROOT / "tools" / "sandbox" / "image.sh"), "--ref"], capture_output=True, text=True, check=True
    ).stdout.strip()
    sandbox = [str(VENV_BIN / "python"), str(ROOT / "tools" / "sandbox" / "sandbox.py")]
    common = ["--name", args.name]
    subprocess.run([*sandbox, "down", *common], cwd=ROOT, env=env(), check=True)
    subprocess.run(
        [*sandbox, "up", *common, "--nodes", str(args.nodes + 1), "--subnet", args.subnet, "--image", image,
         "--bundle-dir", args.bundle_dir],
        cwd=ROOT, env=env(), check=True,
    )  # fmt: skip
    state = ROOT / "build" / f"sandbox-{args.name}"
    logs = ROOT / "build" / "benchmark"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        full = yaml.safe_load((state / "hosts.yml").read_text())
        new = list(full["all"]["hosts"])[-1]
        base = yaml.safe_load((state / "hosts.yml").read_text())
        base["all"]["hosts"].pop(new)
        for group in base["all"]["children"].values():
            ((group or {}).get("hosts") or {}).pop(new, None)
        (state / "hosts-base.yml").write_text(yaml.safe_dump(base, sort_keys=False))
        deploy, _, _ = site(state / "hosts-base.yml", logs / f"add-{args.nodes}-site.log")

        # The full inventory has the last node in kube_node (and etcd only when the layout puts it there).
        inventory = state / "hosts.yml"
        log = logs / f"add-{args.nodes}-add_nodes.log"
        start = time.monotonic()
        with log.open("w") as fh:
            rc = subprocess.run(
                [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "add_nodes.yml"),
                 "-e", f"nodes={new}"],
                cwd=ROOT, env=env(), stdout=fh, stderr=subprocess.STDOUT, check=False,
            ).returncode  # fmt: skip
        seconds = time.monotonic() - start
        if rc != 0:
            sys.exit(f"add_nodes.yml failed (rc={rc}); see {log}")
        changed: dict[str, set[str]] = {}
        task = ""
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line[line.find("[") + 1 : line.rfind("]")]
            elif m := CHANGED.match(line):
                changed.setdefault(m["host"], set()).add(task)
        others = {h: sorted(t) for h, t in changed.items() if h != new}
        print("| cluster | site.yml | add one worker | tasks changed on the other hosts |")
        print("|---|---|---|---|")
        elsewhere = "; ".join(f"{h}: {', '.join(t)}" for h, t in sorted(others.items())) or "none"
        print(f"| {args.nodes} nodes | {deploy:.0f} s | {seconds:.0f} s | {elsewhere} |")
    finally:
        if not args.keep:
            subprocess.run([*sandbox, "down", *common], cwd=ROOT, env=env(), check=False)


if __name__ == "__main__":
    main()
