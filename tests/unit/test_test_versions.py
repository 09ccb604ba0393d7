"""The versions table's test sets (`test_versions`): legal, buildable, distinct.

The test bundle (`make bundle`) holds each component's default plus its
`test_versions`; the upgrade tests deploy the set `previous` and upgrade to the
defaults. These checks keep that pair a legal upgrade: one Kubernetes minor
apart, an etcd both minors work with, and no two versions sharing a bundle path.
"""

from __future__ import annotations

import pytest
from _scripts import ROOT, load_script

from ansible_collections.airgap.k8s.plugins.module_utils import _bundle
from ansible_collections.airgap.k8s.plugins.module_utils._preflight import etcd_version_problem

TABLE_PATH = ROOT / "roles/cluster_defaults/defaults/main/artifacts.yml"
TABLE = _bundle.load_table(TABLE_PATH)
SETS = sorted({s for entry in TABLE.values() for s in (entry.get("test_versions") or {})})


builder = load_script("airgap_build_from_source", "tools/bundle/build_from_source.py")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("-", maxsplit=1)[0].split("."))


def set_versions(name: str) -> dict[str, str]:
    """Component -> version of one set (``default``: none); the defaults for components outside it."""
    return {
        c: str((e.get("test_versions") or {}).get(name, e["default"]))
        for c, e in TABLE.items()
        if c != _bundle.OS_PACKAGES
    }


def test_the_previous_set_exists_and_is_not_called_default():
    assert "previous" in SETS
    # sandbox.py's SANDBOX_VERSIONS=default means the defaults.
    assert "default" not in SETS


def test_every_test_version_is_in_the_table_and_buildable_here():
    for component, entry in TABLE.items():
        for name, version in (entry.get("test_versions") or {}).items():
            assert isinstance(version, str), f"{component}.test_versions.{name}: quote the version"
            assert version in entry["versions"], f"{component} {version} (set {name}) is not under versions"
            assert version != str(entry["default"]), f"{component}.test_versions.{name} is the default"
            recipe = builder.recipe_for(TABLE, component, version)
            assert recipe["method"] != "none", f"{component} {version}: a test version must build from source"


def test_previous_kubernetes_is_the_newest_patch_of_the_minor_before_the_default():
    entry = TABLE["kubernetes"]
    default, previous = _version(entry["default"]), _version(entry["test_versions"]["previous"])
    # The skew policy: an upgrade goes one minor at a time.
    assert previous[:1] == default[:1]
    assert previous[1] == default[1] - 1
    assert f"{previous[0]}.{previous[1]}" in entry["supported"]
    same_minor = [_version(v) for v in entry["versions"] if _version(v)[:2] == previous[:2]]
    assert previous == max(same_minor)


@pytest.mark.parametrize("name", ["default", *SETS])
def test_each_set_runs_an_etcd_its_kubernetes_supports(name):
    versions = set_versions(name)
    problem = etcd_version_problem(versions["kubernetes"], versions["etcd"], TABLE["kubernetes"]["etcd_supported"])
    assert problem is None


@pytest.mark.parametrize("name", SETS)
def test_a_sets_etcd_also_works_with_the_default_kubernetes(name):
    """The upgrade rolls etcd first: the old etcd must serve the new apiservers and the other way round."""
    rules = TABLE["kubernetes"]["etcd_supported"]
    old, new = set_versions(name), set_versions("default")
    for kube in (old["kubernetes"], TABLE["kubernetes"]["default"]):
        for etcd in (old["etcd"], new["etcd"]):
            assert etcd_version_problem(kube, etcd, rules) is None, (kube, etcd)


def test_every_supported_minor_has_an_etcd_rule():
    entry = TABLE["kubernetes"]
    assert sorted(entry["etcd_supported"]) == sorted(entry["supported"])


@pytest.mark.parametrize("name", SETS)
def test_a_set_needs_only_files_the_table_lists(name):
    versions = set_versions(name)
    choices = {"versions": versions, "os": ["debian-12"]}
    required = _bundle.required_artifacts(TABLE, choices, ["amd64"])
    got = {r.component: r.version for r in required if r.component != _bundle.OS_PACKAGES}
    for component, version in got.items():
        assert version == versions[component], component


def test_no_two_versions_share_a_bundle_path():
    """Images carry the version in their tag, binaries in their directory: defaults and test versions coexist."""
    seen: dict[str, tuple[str, str]] = {}
    for component, entry in TABLE.items():
        if component == _bundle.OS_PACKAGES:
            continue
        versions = [str(entry["default"]), *(str(v) for v in (entry.get("test_versions") or {}).values())]
        for version in versions:
            values = _bundle.template_values(entry, version, "amd64")
            for item in entry["files"]:
                name = _bundle.render(str(item["name"]), values)
                image = _bundle.render(str(item["image"]), {**values, "name": name}) if item.get("image") else None
                path = _bundle.Required(component, version, "amd64", name, item["kind"], image).path
                assert seen.setdefault(path, (component, version)) == (component, version), path


def test_the_builder_adds_test_versions_only_when_asked():
    previous = TABLE["kubernetes"]["test_versions"]["previous"]
    default = TABLE["kubernetes"]["default"]
    assert builder.versions_to_build(TABLE, "kubernetes", "", "full", False) == [default]
    assert builder.versions_to_build(TABLE, "kubernetes", "", "full", True) == [default, previous]
    # --version replaces the default, the test versions still come along.
    assert builder.versions_to_build(TABLE, "kubernetes", "1.37.2", "full", True) == ["1.37.2", previous]
    assert builder.versions_to_build(TABLE, "kubernetes", previous, "full", True) == [previous]
    assert builder.versions_to_build(TABLE, "runc", "", "full", True) == [TABLE["runc"]["default"]]
