"""tools/bundle/upstream.py, loaded once for the unit tests that use it (it is a script, not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "roles" / "cluster_defaults" / "defaults" / "main" / "artifacts.yml"
TOOL = ROOT / "tools" / "bundle" / "upstream.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("upstream_bundler", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


upstream = sys.modules.get("upstream_bundler") or _load_tool()
B = upstream.B
