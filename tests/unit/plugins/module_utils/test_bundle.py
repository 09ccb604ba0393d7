# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Unit tests for plugins/module_utils/_bundle.py."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils._bundle import (
    Artifact,
    BundleError,
    Manifest,
    Required,
    load_manifest,
    load_table,
    required_artifacts,
    resolved_artifacts,
    resolved_os_packages,
    sha256_file,
    verify_bundle,
    write_manifest,
)

ROOT = Path(__file__).resolve().parents[4]
FIXTURE_TABLE = ROOT / "tests" / "integration" / "fixtures" / "artifacts.yml"
REAL_TABLE = ROOT / "roles" / "cluster_defaults" / "defaults" / "main" / "artifacts.yml"

COMBOS = [(rt, cni) for rt in ("containerd", "docker") for cni in ("flannel", "calico")]


@pytest.fixture
def table():
    return load_table(FIXTURE_TABLE)


def choices(runtime="containerd", cni="flannel", **extra):
    return {"container_runtime": runtime, "kube_network_plugin": cni, "os": ["debian-12"], **extra}


# --------------------------------------------------------------------------
# sha256 and manifest


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 * 1024 * 1024 + 7))
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def _artifact(**over) -> Artifact:
    data = {
        "component": "etcd",
        "name": "etcd",
        "version": "3.6.16",
        "arch": "amd64",
        "kind": "binary",
        "path": "etcd/3.6.16/amd64/etcd",
        "sha256": "0" * 64,
        "source": "https://github.com/etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz",
    }
    data.update(over)
    return Artifact(**data)


def test_manifest_round_trip_is_stable_and_sorted(tmp_path):
    image = _artifact(
        component="pause",
        name="pause",
        version="3.10",
        kind="image",
        path="images/amd64/pause_3.10.tar",
        image="registry.k8s.io/pause:3.10",
    )
    manifest = Manifest(created="2026-11-22T08:00:00Z", builder="upstream", artifacts=[image, _artifact()])
    write_manifest(tmp_path, manifest)
    first = (tmp_path / "manifest.json").read_text()
    data = json.loads(first)
    assert [a["component"] for a in data["artifacts"]] == ["etcd", "pause"]
    assert "image" not in data["artifacts"][0]
    assert data["artifacts"][1]["image"] == "registry.k8s.io/pause:3.10"
    assert list(data) == sorted(data)
    loaded = load_manifest(tmp_path)
    assert loaded.builder == "upstream"
    assert sorted(loaded.artifacts, key=Artifact.sort_key) == sorted(manifest.artifacts, key=Artifact.sort_key)
    write_manifest(tmp_path, loaded)
    assert (tmp_path / "manifest.json").read_text() == first
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left


def test_manifest_defaults_and_positional_order():
    manifest = Manifest(1, "2026-11-22T08:00:00Z", "from-source", [])
    assert (manifest.format, manifest.builder, manifest.artifacts) == (1, "from-source", [])
    assert Manifest(builder="upstream").created.endswith("Z")


def test_write_manifest_refuses_invalid(tmp_path):
    with pytest.raises(BundleError, match="builder"):
        write_manifest(tmp_path, Manifest(created="x"))
    assert not (tmp_path / "manifest.json").exists()


def test_load_manifest_missing_says_what_to_do(tmp_path):
    with pytest.raises(BundleError, match=r"manifest.json not found.*build_from_source.py or tools/bundle/upstream.py"):
        load_manifest(tmp_path)


def test_load_manifest_bad_json(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_manifest(tmp_path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format=2), "format is 2"),
        (lambda d: d.update(format=True), "format is True"),
        (lambda d: d.pop("created"), "created must be"),
        (lambda d: d.update(builder="hand"), "builder is 'hand'"),
        (lambda d: d.update(extra=1), "unknown top-level key 'extra'"),
        (lambda d: d.update(artifacts={}), "artifacts must be a list"),
        (lambda d: d["artifacts"][0].pop("sha256"), r"artifacts\[0\] \(etcd/etcd\): missing key 'sha256'"),
        (lambda d: d["artifacts"][0].update(sha256="ABC"), "sha256 must be 64 lower-case hex"),
        (lambda d: d["artifacts"][0].update(kind="blob"), "kind 'blob' is not one of"),
        (lambda d: d["artifacts"][0].update(path="../etc/passwd"), "must be relative"),
        (lambda d: d["artifacts"][0].update(path="/etc/passwd"), "must be relative"),
        (lambda d: d["artifacts"][0].update(version=3), "'version' must be a non-empty string"),
        (lambda d: d["artifacts"][0].update(color="red"), "unknown key 'color'"),
        (lambda d: d["artifacts"][0].update(image="x:1"), "'image' is only allowed on kind image"),
        (lambda d: d["artifacts"][0].update(kind="image"), "an image entry needs 'image'"),
        (lambda d: d["artifacts"].append(dict(d["artifacts"][0])), r"already listed by artifacts\[0\]"),
        (lambda d: d["artifacts"].append("etcd"), r"artifacts\[1\]: expected an object"),
    ],
)
def test_load_manifest_schema_errors(tmp_path, mutate, message):
    data = Manifest(created="2026-11-22T08:00:00Z", builder="upstream", artifacts=[_artifact()]).to_dict()
    mutate(data)
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=message) as err:
        load_manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(err.value)


def test_load_manifest_lists_every_problem(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "artifacts": [{}]}))
    with pytest.raises(BundleError) as err:
        load_manifest(tmp_path)
    text = str(err.value)
    for expected in ("created", "builder", "'component'", "'sha256'", "'path'"):
        assert expected in text


def test_load_table(tmp_path, table):
    assert table["kubernetes"]["default"] == "1.36.3"
    bad = tmp_path / "t.yml"
    bad.write_text("foo: 1\n")
    with pytest.raises(BundleError, match="does not define the airgap_artifacts"):
        load_table(bad)
    bad.write_text("airgap_artifacts: [\n")
    with pytest.raises(BundleError, match="not valid YAML"):
        load_table(bad)
    with pytest.raises(BundleError, match="cannot read"):
        load_table(tmp_path / "absent.yml")


# --------------------------------------------------------------------------
# required_artifacts


def _components(required):
    return {r.component for r in required}


@pytest.mark.parametrize(("runtime", "cni"), COMBOS)
def test_required_per_combo(table, runtime, cni):
    required = required_artifacts(table, choices(runtime, cni), ["amd64"])
    comps = _components(required)
    always = {"kubernetes", "etcd", "coredns", "pause", "cni-plugins", "crictl", "os-packages"}
    assert always <= comps
    if runtime == "containerd":
        assert {"containerd", "runc"} <= comps
        assert not {"docker", "cri-dockerd"} & comps
    else:
        # The Docker static bundle carries its own containerd and runc.
        assert {"docker", "cri-dockerd"} <= comps
        assert not {"containerd", "runc"} & comps
    if cni == "flannel":
        assert {"flannel", "flannel-cni-plugin"} <= comps
        assert "calico" not in comps
    else:
        assert "calico" in comps
        assert not {"flannel", "flannel-cni-plugin"} & comps
    assert required == sorted(set(required))


def test_required_exact_list_containerd_flannel(table):
    required = required_artifacts(table, choices(), ["amd64"])
    got = {(r.component, r.version, r.arch, r.name, r.kind) for r in required}
    assert got == {
        ("kubernetes", "1.36.3", "amd64", "kube-apiserver", "binary"),
        ("kubernetes", "1.36.3", "amd64", "kube-controller-manager", "binary"),
        ("kubernetes", "1.36.3", "amd64", "kube-scheduler", "binary"),
        ("kubernetes", "1.36.3", "amd64", "kubelet", "binary"),
        ("kubernetes", "1.36.3", "amd64", "kube-proxy", "binary"),
        ("kubernetes", "1.36.3", "amd64", "kubectl", "binary"),
        ("etcd", "3.6.16", "amd64", "etcd", "binary"),
        ("etcd", "3.6.16", "amd64", "etcdctl", "binary"),
        ("etcd", "3.6.16", "amd64", "etcdutl", "binary"),
        ("containerd", "2.1.4", "amd64", "containerd", "binary"),
        ("containerd", "2.1.4", "amd64", "containerd-shim-runc-v2", "binary"),
        ("containerd", "2.1.4", "amd64", "ctr", "binary"),
        ("runc", "1.3.0", "amd64", "runc", "binary"),
        ("cni-plugins", "1.7.1", "amd64", "bridge", "binary"),
        ("cni-plugins", "1.7.1", "amd64", "host-local", "binary"),
        ("cni-plugins", "1.7.1", "amd64", "loopback", "binary"),
        ("cni-plugins", "1.7.1", "amd64", "portmap", "binary"),
        ("crictl", "1.33.0", "amd64", "crictl", "binary"),
        ("flannel", "0.27.2", "amd64", "flanneld", "binary"),
        ("flannel", "0.27.2", "amd64", "kube-flannel", "image"),
        ("flannel-cni-plugin", "1.7.1-flannel2", "amd64", "flannel", "binary"),
        ("coredns", "1.12.1", "amd64", "coredns", "image"),
        ("pause", "3.10", "amd64", "pause", "image"),
        ("os-packages", "debian-12", "amd64", "haproxy", "os-package"),
        ("os-packages", "debian-12", "amd64", "conntrack", "os-package"),
        ("os-packages", "debian-12", "amd64", "socat", "os-package"),
    }
    pause = next(r for r in required if r.name == "pause")
    assert pause.image == "registry.k8s.io/pause:3.10"
    assert pause.path == "images/amd64/pause_3.10.tar"
    etcd = next(r for r in required if r.name == "etcdctl")
    assert etcd.path == "etcd/3.6.16/amd64/etcdctl"
    flannel = next(r for r in required if r.name == "kube-flannel")
    assert flannel.path == "images/amd64/kube-flannel_v0.27.2.tar"
    assert flannel.image == "ghcr.io/flannel-io/flannel:v0.27.2"
    haproxy = next(r for r in required if r.name == "haproxy")
    assert haproxy.path == "os-packages/debian-12/amd64"


def test_required_versions_override_and_arches(table):
    required = required_artifacts(
        table,
        choices(kube_version="v1.35.9", etcd_version="3.5.21", versions={"pause": "3.9"}),
        ["amd64", "arm64"],
    )
    apiservers = [r for r in required if r.name == "kube-apiserver"]
    assert [(r.version, r.arch) for r in apiservers] == [("1.35.9", "amd64"), ("1.35.9", "arm64")]
    assert {r.version for r in required if r.component == "etcd"} == {"3.5.21"}
    assert {r.image for r in required if r.name == "pause"} == {"registry.k8s.io/pause:3.9"}
    assert {r.arch for r in required if r.component == "os-packages"} == {"amd64", "arm64"}


def test_required_os_packages_per_distro(table):
    table["os-packages"]["distros"]["ubuntu-24.04"] = {"files": [{"name": "libseccomp2"}]}
    required = required_artifacts(table, choices(os=["ubuntu-24.04", "debian-12"]), ["amd64"])
    os_pkgs = {(r.version, r.name) for r in required if r.kind == "os-package"}
    assert ("ubuntu-24.04", "libseccomp2") in os_pkgs
    assert ("debian-12", "libseccomp2") not in os_pkgs
    assert ("ubuntu-24.04", "haproxy") in os_pkgs
    assert ("debian-12", "haproxy") in os_pkgs


def test_required_docker_ships_its_own_containerd(table):
    required = required_artifacts(table, choices("docker"), ["amd64"])
    paths = {r.path for r in required}
    assert "docker/28.3.3/amd64/containerd" in paths
    assert "docker/28.3.3/amd64/runc" in paths
    assert not any(p.startswith(("containerd/", "runc/")) for p in paths)


def test_required_ipvs_and_extra_components(table):
    names = {r.name for r in required_artifacts(table, choices(), ["amd64"])}
    assert "ipvsadm" not in names
    assert "agnhost" not in names
    required = required_artifacts(
        table, choices(kube_proxy_mode="ipvs", extra_components=["agnhost", "os-packages"]), ["amd64"]
    )
    names = {r.name for r in required}
    assert {"ipvsadm", "agnhost"} <= names


def test_required_when_condition(table):
    table["kubernetes"]["files"].append(
        {"name": "kubelet-docker-shim", "kind": "binary", "when": {"container_runtime": "docker"}}
    )
    names = {r.name for r in required_artifacts(table, choices("containerd"), ["amd64"])}
    assert "kubelet-docker-shim" not in names
    names = {r.name for r in required_artifacts(table, choices("docker"), ["amd64"])}
    assert "kubelet-docker-shim" in names


@pytest.mark.parametrize(
    ("kwargs", "arches", "message"),
    [
        ({"runtime": "cri-o"}, ["amd64"], "container_runtime is 'cri-o'; set it to one of containerd, docker"),
        ({"cni": "cilium"}, ["amd64"], "kube_network_plugin is 'cilium'"),
        ({}, [], "no architecture"),
        ({}, ["s390x"], "architecture 's390x' is not supported"),
        (
            {"kube_version": "1.30.0"},
            ["amd64"],
            "kube_version is 1.30.0; this collection supports kubernetes 1.35, 1.36",
        ),
        ({"os": []}, ["amd64"], "no OS given"),
        ({"os": ["centos-9"]}, ["amd64"], "hosts run centos-9, which has no host packages"),
    ],
)
def test_required_errors(table, kwargs, arches, message):
    runtime = kwargs.pop("runtime", "containerd")
    cni = kwargs.pop("cni", "flannel")
    with pytest.raises(BundleError, match=message):
        required_artifacts(table, choices(runtime, cni, **kwargs), arches)


def test_required_table_errors(table):
    del table["calico"]
    with pytest.raises(BundleError, match="has no component 'calico'"):
        required_artifacts(table, choices(cni="calico"), ["amd64"])
    table["pause"]["files"] = [{"name": "pause", "kind": "image"}]
    with pytest.raises(BundleError, match="image 'pause' has no 'image' reference"):
        required_artifacts(table, choices(), ["amd64"])


def test_real_table_is_consumable():
    """The collection's own table works for every combination, with unique names."""
    if not REAL_TABLE.exists():
        pytest.fail(f"{REAL_TABLE} is missing: the versions table is part of the collection")
    real = load_table(REAL_TABLE)
    distros = sorted((real.get("os-packages") or {}).get("distros") or {"debian-12": {}})
    for runtime, cni in COMBOS:
        required = required_artifacts(real, choices(runtime, cni, os=distros), ["amd64", "arm64"])
        owners = {}
        for r in required:
            if r.kind != "os-package":
                assert owners.setdefault((r.name, r.arch), r.component) == r.component, r


# --------------------------------------------------------------------------
# verify_bundle


def make_bundle(root: Path, required: list[Required], builder: str = "upstream") -> Manifest:
    """A bundle with a small distinct file for every required entry."""
    artifacts = []
    for req in required:
        rel = f"{req.path}/{req.name}_1.0_{req.arch}.deb" if req.kind == "os-package" else req.path
        full = root / rel
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(f"{req.component}:{req.name}:{req.version}:{req.arch}\n".encode() * 50)
        artifacts.append(
            Artifact(
                req.component, req.name, req.version, req.arch, req.kind, rel, sha256_file(full), "test", req.image
            )
        )
    manifest = Manifest(created="2026-11-22T08:00:00Z", builder=builder, artifacts=artifacts)
    write_manifest(root, manifest)
    return manifest


@pytest.fixture
def bundle(tmp_path, table):
    required = required_artifacts(table, choices(), ["amd64"])
    manifest = make_bundle(tmp_path, required)
    return tmp_path, required, manifest


def test_verify_good_bundle(bundle):
    root, required, manifest = bundle
    result = verify_bundle(root, required, checksum="full")
    assert result.ok, result.problems
    assert result.checked == len(manifest.artifacts)
    assert result.hashed == len(manifest.artifacts)
    arts = resolved_artifacts(str(root), result)
    assert arts["kube-apiserver"]["amd64"]["path"] == str(root / "kubernetes/1.36.3/amd64/kube-apiserver")
    assert arts["pause"]["amd64"]["image"] == "registry.k8s.io/pause:3.10"
    assert arts["pause"]["amd64"]["kind"] == "image"
    pkgs = resolved_os_packages(str(root), result)
    assert pkgs["debian-12"]["amd64"]["dir"] == str(root / "os-packages/debian-12/amd64")
    assert len(pkgs["debian-12"]["amd64"]["files"]) == 3


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    st = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: only ctime tells


def test_corrupting_any_file_is_named(bundle):
    root, required, manifest = bundle
    assert verify_bundle(root, required).ok  # fills the cache
    for entry in manifest.artifacts:
        path = root / entry.path
        original = path.read_bytes()
        _flip_one_byte(path)
        try:
            result = verify_bundle(root, required)
            assert [p.path for p in result.problems] == [entry.path], entry.path
            assert "corrupt: sha256 is" in str(result.problems[0])
        finally:
            path.write_bytes(original)
    assert verify_bundle(root, required).ok


def test_corruption_below_the_cache_needs_full(bundle, monkeypatch):
    """A change that keeps every stat field is only seen by checksum=full: the documented trade-off."""
    root, required, manifest = bundle
    first = verify_bundle(root, required)
    assert first.ok
    assert first.hashed == len(manifest.artifacts)
    second = verify_bundle(root, required)
    assert second.ok
    assert (second.hashed, second.from_cache) == (0, len(manifest.artifacts))
    cache = json.loads((root / ".verify-cache.json").read_text())
    rel = "etcd/3.6.16/amd64/etcd"
    cache["entries"][rel]["sha256"] = "f" * 64  # what the cache would hold had the disk changed under it
    (root / ".verify-cache.json").write_text(json.dumps(cache))
    assert [p.path for p in verify_bundle(root, required).problems] == [rel]
    assert verify_bundle(root, required, checksum="full").ok


def test_no_cache_written_when_asked(bundle):
    root, required, _ = bundle
    assert verify_bundle(root, required, write_cache=False).ok
    assert not (root / ".verify-cache.json").exists()


def test_missing_file_is_named(bundle):
    root, required, _ = bundle
    (root / "images/amd64/coredns_v1.12.1.tar").unlink()
    result = verify_bundle(root, required, checksum="none")
    assert len(result.problems) == 1
    text = str(result.problems[0])
    assert "images/amd64/coredns_v1.12.1.tar" in text
    assert "file missing" in text
    assert "tools/bundle/upstream.py --only coredns" in text


def test_missing_from_manifest_and_wrong_version(bundle, table):
    root, _, manifest = bundle
    manifest.artifacts = [a for a in manifest.artifacts if a.name != "kubelet"]
    write_manifest(root, manifest)
    required = required_artifacts(table, choices(etcd_version="3.6.17"), ["amd64"])
    result = verify_bundle(root, required)
    text = "\n".join(str(p) for p in result.problems)
    assert "kubernetes kubelet 1.36.3 amd64 (kubernetes/1.36.3/amd64/kubelet): missing from manifest.json" in text
    assert "etcd etcd 3.6.17 amd64: wrong version: the inventory asks for 3.6.17, the bundle has 3.6.16" in text
    assert "Set etcd_version" in text
    assert len(result.problems) == 4  # kubelet + etcd, etcdctl, etcdutl


def test_missing_arch(bundle, table):
    root, _, _ = bundle
    required = required_artifacts(table, choices(), ["amd64", "arm64"])
    result = verify_bundle(root, required, checksum="none")
    assert result.problems
    assert all("arm64" in p.label for p in result.problems)


def test_from_source_hint(tmp_path, table):
    required = required_artifacts(table, choices(), ["amd64"])
    make_bundle(tmp_path, required, builder="from-source")
    (tmp_path / "etcd/3.6.16/amd64/etcdctl").write_bytes(b"x")
    result = verify_bundle(tmp_path, required)
    assert "re-run tools/bundle/build_from_source.py --only etcd" in str(result.problems[0])


def test_layout_and_image_ref_mismatch(bundle):
    root, required, manifest = bundle
    for entry in manifest.artifacts:
        if entry.name == "pause":
            entry.image = "example.invalid/pause:3.10"
        if entry.name == "kubectl":
            os.rename(root / entry.path, root / "kubectl")
            entry.path = "kubectl"
    write_manifest(root, manifest)
    text = "\n".join(str(p) for p in verify_bundle(root, required).problems)
    assert "holds image example.invalid/pause:3.10, the cluster will run registry.k8s.io/pause:3.10" in text
    assert "listed at kubectl, but the bundle layout puts it at kubernetes/1.36.3/amd64/kubectl" in text


def test_os_package_dependency_corruption_is_found(bundle):
    root, required, manifest = bundle
    dep = "os-packages/debian-12/amd64/libfoo_1.0_amd64.deb"
    (root / dep).write_bytes(b"dependency")
    manifest.artifacts.append(
        Artifact("os-packages", "libfoo", "debian-12", "amd64", "os-package", dep, sha256_file(root / dep), "apt")
    )
    write_manifest(root, manifest)
    assert verify_bundle(root, required).ok
    (root / dep).write_bytes(b"dependencz")
    assert [p.path for p in verify_bundle(root, required).problems] == [dep]


def test_missing_os_package(bundle, table):
    root, _, _ = bundle
    table["os-packages"]["files"].append({"name": "ipset"})
    required = required_artifacts(table, choices(), ["amd64"])
    problems = verify_bundle(root, required).problems
    assert len(problems) == 1
    assert "package ipset for debian-12 amd64 is not in the bundle" in str(problems[0])


def test_bundle_dir_missing(tmp_path, table):
    with pytest.raises(BundleError, match="does not exist: unpack the bundle tarball"):
        verify_bundle(tmp_path / "nope", [])


def test_path_escaping_bundle(bundle):
    root, required, manifest = bundle
    target = root.parent / f"{root.name}-outside"
    target.mkdir()
    entry = next(a for a in manifest.artifacts if a.name == "kubectl")
    (target / "kubectl").write_bytes((root / entry.path).read_bytes())
    (root / entry.path).unlink()
    (root / entry.path).symlink_to(target / "kubectl")
    problems = verify_bundle(root, required).problems
    assert [p.detail for p in problems] == ["points outside the bundle directory"]


def test_cache_keeps_other_runs_entries(tmp_path, table):
    """Verifying amd64 then arm64 (or another choice set) does not throw the other's hashes away."""
    both = required_artifacts(table, choices(), ["amd64", "arm64"])
    make_bundle(tmp_path, both)
    amd64 = [r for r in both if r.arch == "amd64"]
    arm64 = [r for r in both if r.arch == "arm64"]
    assert verify_bundle(tmp_path, amd64).hashed > 0
    assert verify_bundle(tmp_path, arm64).hashed > 0
    assert verify_bundle(tmp_path, amd64).hashed == 0
    assert verify_bundle(tmp_path, both).hashed == 0
    full = verify_bundle(tmp_path, amd64, checksum="full")
    assert full.hashed == full.checked
    assert verify_bundle(tmp_path, arm64).hashed == 0
