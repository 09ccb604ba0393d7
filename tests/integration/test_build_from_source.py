"""The versions table and the from-source bundle builder.

The table tests always run. The bundle tests check what
``tools/bundle/build_from_source.py`` produced in files/bundle (``make
bundle``): checksums, the versions the binaries report, the image archives'
tags. Without a built bundle they are skipped, with the command to build it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "files/bundle"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


builder = _load("airgap_build_from_source", ROOT / "tools/bundle/build_from_source.py")
bundle = builder.bundle
TABLE = bundle.load_table(builder.TABLE)
HEX64 = re.compile(r"^[0-9a-f]{64}$")


# --- the table ---------------------------------------------------------------


def test_every_component_has_a_default_in_its_versions():
    for component, entry in TABLE.items():
        if component == "os-packages":
            continue
        assert str(entry["default"]) in entry["versions"], component
        if entry.get("default_from_source"):
            assert str(entry["default_from_source"]) in entry["versions"], component


def test_checksums_are_sha256_or_explicitly_unpinned():
    for component, entry in TABLE.items():
        for version, per_version in (entry.get("versions") or {}).items():
            assert "amd64" in per_version, f"{component} {version} has no amd64 entry"
            for arch in ("amd64", "arm64"):
                for name, digest in (per_version.get(arch) or {}).items():
                    assert digest is None or HEX64.match(digest), f"{component} {version} {arch} {name}: {digest!r}"


def test_checksum_keys_are_the_upstream_file_names():
    """Keys are the basename of the rendered url (or the file name for images)."""
    for component, entry in TABLE.items():
        for version, per_version in (entry.get("versions") or {}).items():
            url = per_version.get("url") or entry.get("url")
            members = per_version.get("archive_members") or entry.get("archive_members")
            images = {f["name"] for f in entry["files"] if f["kind"] == "image"}
            binaries = [f["name"] for f in entry["files"] if f["kind"] == "binary"]
            for arch in ("amd64", "arm64"):
                values = {
                    **builder.version_values(version),
                    "arch": arch,
                    "uarch": (entry.get("arch_names") or {}).get(arch, arch),
                }
                if members:
                    expected = {url.format(**values).rsplit("/", 1)[1]} if binaries else set()
                else:
                    expected = {url.format(**values, name=n).rsplit("/", 1)[1] for n in binaries}
                assert set(per_version[arch]) == expected | images, f"{component} {version} {arch}"


def test_build_recipes_cover_every_file():
    for component, entry in TABLE.items():
        if component == "os-packages":
            continue
        for version in entry["versions"]:
            recipe = builder.recipe_for(TABLE, component, version)
            if recipe["method"] == "none":
                assert recipe.get("reason"), f"{component} {version}: say why it cannot be built"
                continue
            built = set(recipe.get("packages") or {}) | set(recipe.get("sources") or {})
            built |= set(recipe.get("images") or {})
            for files in (recipe.get("debs") or {}).values():
                built |= set(files)
            assert built == {f["name"] for f in entry["files"]}, f"{component} {version}"


def test_the_verifier_accepts_the_table_for_every_choice():
    for runtime in ("containerd", "docker"):
        for network in ("flannel", "calico"):
            choices = {"container_runtime": runtime, "kube_network_plugin": network, "os": ["debian-12"]}
            required = bundle.required_artifacts(TABLE, choices, ["amd64"])
            assert any(r.name == "kube-apiserver" for r in required)
            assert any(r.kind == "os-package" and r.name == "haproxy" for r in required)


def test_supported_kubernetes_minors_are_the_newest_three_with_a_version_each():
    entry = TABLE["kubernetes"]
    minors = {".".join(v.split(".")[:2]) for v in entry["versions"]}
    assert minors == set(entry["supported"])
    assert len(entry["supported"]) == 3


def test_from_source_default_falls_back_only_when_the_default_cannot_be_built():
    assert builder.default_version(TABLE, "flannel-cni-plugin", "full") == "0.9.1"
    assert builder.default_version(TABLE, "docker", "full") == TABLE["docker"]["default_from_source"]
    assert TABLE["docker"]["default"] != TABLE["docker"]["default_from_source"]
    assert builder.default_version(TABLE, "kubernetes", "full") == TABLE["kubernetes"]["default"]
    assert builder.default_version(TABLE, "etcd", "full") == TABLE["etcd"]["default"]


def test_debian_recipes_check_the_version_of_a_package_they_take_files_from():
    found = 0
    for component, entry in TABLE.items():
        for version in entry.get("versions") or {}:
            recipe = builder.recipe_for(TABLE, component, version)
            if recipe["method"] != "debian":
                continue
            found += 1
            assert recipe["version_package"] in recipe["debs"], f"{component} {version}"
            assert all(str(path).startswith("/") for files in recipe["debs"].values() for path in files.values())
    assert found, "no `method: debian` recipe in the table"


def test_debian_upstream_version_drops_epoch_revision_and_repack_suffixes():
    assert builder.debian_upstream_version("20.10.24+dfsg1-1+deb12u1+b6") == "20.10.24"
    assert builder.debian_upstream_version("1.6.20~ds1-1+deb12u3") == "1.6.20"
    assert builder.debian_upstream_version("2:1.02.185-2") == "1.02.185"


def test_only_versions_the_table_marks_unbuildable_may_fail_softly():
    assert builder._unbuildable(TABLE, "docker", TABLE["docker"]["default"])
    assert not builder._unbuildable(TABLE, "docker", TABLE["docker"]["default_from_source"])
    assert builder._unbuildable(TABLE, "calico", TABLE["calico"]["default"])
    assert not builder._unbuildable(TABLE, "etcd", TABLE["etcd"]["default"])


def test_replace_directives_respect_major_versions():
    assert builder.version_fits_path("go.etcd.io/etcd/api/v3", "v3.6.16")
    assert not builder.version_fits_path("go.etcd.io/etcd", "v3.6.16")
    assert builder.version_fits_path("k8s.io/api", "v0.36.3")


def test_ldflags_with_unknown_values_are_left_out():
    flags = builder.ldflags_for(["-X a.b=v{version}", "-X a.c={commit}"], {"version": "1.2.3", "commit": ""})
    assert flags == ["-X a.b=v1.2.3"]


def test_cache_key_changes_with_version_and_recipe_only():
    recipe = builder.recipe_for(TABLE, "etcd", "3.6.16")
    key = builder.cache_key("etcd", "3.6.16", "amd64", recipe, {"go": "go1.26.8"})
    assert key == builder.cache_key("etcd", "3.6.16", "amd64", dict(recipe), {"go": "go1.26.8"})
    assert key != builder.cache_key("etcd", "3.7.3", "amd64", recipe, {"go": "go1.26.8"})
    assert key != builder.cache_key("etcd", "3.6.16", "amd64", {**recipe, "tags": ["x"]}, {"go": "go1.26.8"})


# --- the built bundle ----------------------------------------------------------


@pytest.fixture(scope="module")
def manifest():
    if not (BUNDLE / "manifest.json").exists():
        pytest.skip("no bundle in files/bundle: run `make bundle` (tools/bundle/build_from_source.py)")
    return bundle.load_manifest(BUNDLE)


def _entries(manifest, component: str, name: str):
    found = [a for a in manifest.artifacts if a.component == component and a.name == name]
    if not found:
        pytest.skip(f"{component}/{name} not in this bundle (built with --only/--skip?)")
    return found


def test_manifest_is_from_source_and_every_checksum_matches(manifest):
    assert manifest.builder == "from-source"
    for art in manifest.artifacts:
        assert bundle.sha256_file(BUNDLE / art.path) == art.sha256, art.path
        assert art.source, art.path


VERSION_CHECKS = [
    ("kubernetes", "kube-apiserver", ["--version"], "Kubernetes v{v}"),
    ("kubernetes", "kube-controller-manager", ["--version"], "Kubernetes v{v}"),
    ("kubernetes", "kube-scheduler", ["--version"], "Kubernetes v{v}"),
    ("kubernetes", "kubelet", ["--version"], "Kubernetes v{v}"),
    ("kubernetes", "kube-proxy", ["--version"], "Kubernetes v{v}"),
    ("kubernetes", "kubectl", ["version", "--client"], "Client Version: v{v}"),
    ("etcd", "etcd", ["--version"], "etcd Version: {v}"),
    ("etcd", "etcdctl", ["version"], "etcdctl version: {v}"),
    ("etcd", "etcdutl", ["version"], "etcdutl version: {v}"),
    ("containerd", "containerd", ["--version"], " v{v}"),
    ("containerd", "ctr", ["--version"], " v{v}"),
    ("runc", "runc", ["--version"], "runc version {v}"),
    ("cni-plugins", "bridge", ["--version"], "v{v}"),
    ("crictl", "crictl", ["--version"], "crictl version v{v}"),
    ("cri-dockerd", "cri-dockerd", ["--version"], "cri-dockerd {v}"),
    ("flannel", "flanneld", ["--version"], "v{v}"),
    ("flannel-cni-plugin", "flannel", ["--version"], "v{v}"),
    # Debian's build says "Docker version 20.10.24+dfsg1, build ...".
    ("docker", "docker", ["--version"], "Docker version {v}"),
    ("docker", "dockerd", ["--version"], "Docker version {v}"),
]


@pytest.mark.parametrize(
    ("component", "name", "args", "expected"), VERSION_CHECKS, ids=[f"{c}-{n}" for c, n, _, _ in VERSION_CHECKS]
)
def test_binaries_report_the_pinned_version(manifest, component, name, args, expected):
    for art in _entries(manifest, component, name):
        if art.arch != builder.host_arch():
            continue
        proc = subprocess.run([str(BUNDLE / art.path), *args], capture_output=True, text=True, timeout=30, check=False)
        output = proc.stdout + proc.stderr
        assert expected.format(v=art.version) in output, f"{art.path} {' '.join(args)}: {output[:400]}"


def test_images_are_docker_archives_tagged_with_their_reference(manifest):
    images = [a for a in manifest.artifacts if a.kind == "image"]
    if not images:
        pytest.skip("no image in this bundle")
    for art in images:
        with tarfile.open(BUNDLE / art.path) as tar:
            member = tar.extractfile("manifest.json")
            assert member is not None, art.path
            index = json.load(member)
            assert index[0]["RepoTags"] == [art.image], art.path
            config = tar.extractfile(index[0]["Config"])
            assert config is not None
            conf = json.load(config)
        assert conf["architecture"] == art.arch
        assert conf["config"].get("Entrypoint"), f"{art.path} has no entrypoint"


def test_os_packages_hold_every_listed_package(manifest):
    debs = {a.name for a in manifest.artifacts if a.kind == "os-package" and a.version == "debian-12"}
    if not debs:
        pytest.skip("no host packages in this bundle")
    wanted = {str(f["name"]) for f in TABLE["os-packages"]["files"]}
    assert wanted <= debs
    for art in manifest.artifacts:
        if art.kind == "os-package":
            assert art.source.startswith(f"debian:{art.name}="), art.source


def test_the_bundle_holds_each_test_version_beside_the_default(manifest):
    """`make bundle` builds with --test-versions: the upgrade tests deploy one set, then the other."""
    for component in TABLE:
        extra = builder.test_versions(TABLE, component) if component != "os-packages" else []
        if not extra:
            continue
        have = {a.version for a in manifest.artifacts if a.component == component}
        wanted = {builder.default_version(TABLE, component, "full"), *extra}
        assert wanted <= have, f"{component}: the bundle has {sorted(have)}, not {sorted(wanted)}: run `make bundle`"
