"""tools/sandbox/sandbox.py: the version pins it writes into the sandbox inventory.

The test bundle holds two versions of some components; the sandbox pins the
defaults, or with SANDBOX_VERSIONS=<set> the table's test versions of that set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _scripts import load_script

sandbox = load_script("airgap_sandbox", "tools/sandbox/sandbox.py")
TABLE = sandbox.load_table()
K8S = TABLE["kubernetes"]
PREVIOUS = {
    c: str(e["test_versions"]["previous"]) for c, e in TABLE.items() if "previous" in (e.get("test_versions") or {})
}


def _bundle(tmp_path: Path, held: dict[str, list[str]]) -> Path:
    artifacts = [
        {"component": c, "name": f"{c}-file", "version": v, "arch": "amd64", "kind": "binary", "path": f"{c}/{v}/x"}
        for c, versions in held.items()
        for v in versions
    ]
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return tmp_path


def _pins(lines: list[str]) -> dict[str, str]:
    return yaml.safe_load("\n".join(lines)) or {}


def _test_bundle(tmp_path: Path) -> Path:
    """Like `make bundle`: defaults (or what builds from source) plus the previous set."""
    held: dict[str, list[str]] = {}
    for component, entry in TABLE.items():
        if component == "os-packages":
            continue
        held[component] = [str(entry.get("default_from_source") or entry["default"])]
        if component in PREVIOUS:
            held[component].append(PREVIOUS[component])
    return _bundle(tmp_path, held)


def test_defaults_are_pinned_when_the_bundle_holds_two_versions(tmp_path):
    pins = _pins(sandbox.bundle_version_pins(_test_bundle(tmp_path), TABLE))
    assert pins["kube_version"] == K8S["default"]
    assert pins["etcd_version"] == TABLE["etcd"]["default"]
    assert pins["pause_version"] == TABLE["pause"]["default"]
    # What a from-source bundle holds instead of an unbuildable default.
    assert pins["flannel_cni_plugin_version"] == TABLE["flannel-cni-plugin"]["default_from_source"]
    assert pins["docker_version"] == TABLE["docker"]["default_from_source"]
    assert pins == _pins(sandbox.bundle_version_pins(_test_bundle(tmp_path), TABLE, "default"))


def test_a_set_pins_its_versions_and_the_defaults_for_the_rest(tmp_path):
    pins = _pins(sandbox.bundle_version_pins(_test_bundle(tmp_path), TABLE, "previous"))
    assert {"kubernetes", "etcd"} <= set(PREVIOUS)
    assert pins["kube_version"] == PREVIOUS["kubernetes"] != K8S["default"]
    assert pins["etcd_version"] == PREVIOUS["etcd"]
    for component, version in PREVIOUS.items():
        assert pins[sandbox.version_var(component)] == version
    assert pins["runc_version"] == TABLE["runc"]["default"]
    assert pins["flannel_cni_plugin_version"] == TABLE["flannel-cni-plugin"]["default_from_source"]


def test_a_set_the_bundle_lacks_is_refused_naming_the_missing_version(tmp_path):
    bundle = _bundle(tmp_path, {"kubernetes": [K8S["default"]], "etcd": [TABLE["etcd"]["default"]]})
    with pytest.raises(
        sandbox.ConfigError,
        match=(
            rf"lacks .*etcd {PREVIOUS['etcd']} \(it has {TABLE['etcd']['default']}\); "
            rf"kubernetes {PREVIOUS['kubernetes']} \(it has {K8S['default']}\).*make bundle"
        ),
    ):
        sandbox.bundle_version_pins(bundle, TABLE, "previous")


def test_an_unknown_set_is_refused(tmp_path):
    with pytest.raises(sandbox.ConfigError, match=r"SANDBOX_VERSIONS='older' is not a test_versions set"):
        sandbox.bundle_version_pins(_test_bundle(tmp_path), TABLE, "older")


def test_one_held_version_is_pinned_whatever_it_is(tmp_path):
    """A bundle built with --version (not the default) still gets an inventory that matches it."""
    pins = _pins(sandbox.bundle_version_pins(_bundle(tmp_path, {"kubernetes": ["1.37.2"]}), TABLE))
    assert pins == {"kube_version": "1.37.2"}


def test_several_versions_none_of_them_known_are_left_unpinned(tmp_path):
    pins = _pins(sandbox.bundle_version_pins(_bundle(tmp_path, {"kubernetes": ["1.37.2", "1.35.8"]}), TABLE))
    assert "kube_version" not in pins
