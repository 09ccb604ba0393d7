"""tools/bundle/upstream.py, loaded once for the unit tests that use it (it is a script, not a package)."""

from __future__ import annotations

from _scripts import ROOT, load_script

TABLE = ROOT / "roles" / "cluster_defaults" / "defaults" / "main" / "artifacts.yml"

upstream = load_script("upstream_bundler", "tools/bundle/upstream.py")
B = upstream.B
