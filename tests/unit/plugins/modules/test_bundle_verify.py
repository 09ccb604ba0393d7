# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Unit tests for the airgap.k8s.bundle_verify module, run through main()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.airgap.k8s.plugins.module_utils._bundle import (
    Artifact,
    Manifest,
    load_table,
    required_artifacts,
    sha256_file,
    write_manifest,
)
from ansible_collections.airgap.k8s.plugins.modules import bundle_verify

ROOT = Path(__file__).resolve().parents[4]
TABLE = load_table(ROOT / "tests" / "integration" / "fixtures" / "artifacts.yml")
CHOICES = {"container_runtime": "containerd", "kube_network_plugin": "flannel", "kube_version": "1.36.3"}


def run_module(capsys, **args):
    """Run main() with module args; return (failed, result dict)."""
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        bundle_verify.main()
    result = json.loads(capsys.readouterr().out)
    assert bool(exc.value.code) == bool(result.get("failed")), result
    return bool(result.get("failed")), result


def args_for(root: Path, **over):
    data = {
        "bundle_dir": str(root),
        "artifacts": TABLE,
        "choices": CHOICES,
        "arches": ["amd64"],
        "os": ["debian-12"],
    }
    data.update(over)
    return data


@pytest.fixture
def bundle(tmp_path):
    """A valid bundle (containerd + flannel, amd64, debian-12) with one small file per artifact."""
    root = tmp_path / "bundle"
    root.mkdir()
    required = required_artifacts(TABLE, dict(CHOICES, os=["debian-12"]), ["amd64"])
    artifacts = []
    for req in required:
        rel = f"{req.path}/{req.name}_1.0_amd64.deb" if req.kind == "os-package" else req.path
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{req.component}/{req.name}/{req.version}\n".encode() * 100)
        artifacts.append(
            Artifact(req.component, req.name, req.version, req.arch, req.kind, rel, sha256_file(path), "t", req.image)
        )
    manifest = Manifest(created="2026-11-22T08:00:00Z", builder="upstream", artifacts=artifacts)
    write_manifest(root, manifest)
    return root, manifest


def test_good_bundle_passes(capsys, bundle):
    root, manifest = bundle
    failed, result = run_module(capsys, **args_for(root))
    assert not failed, result["msg"]
    assert result["changed"] is False
    assert result["bundle_builder"] == "upstream"
    assert result["bundle_created"] == "2026-11-22T08:00:00Z"
    assert result["checked"] == len(manifest.artifacts)
    assert result["hashed"] == len(manifest.artifacts)
    api = result["artifacts"]["kube-apiserver"]["amd64"]
    assert api == {
        "path": str(root / "kubernetes/1.36.3/amd64/kube-apiserver"),
        "sha256": sha256_file(root / "kubernetes/1.36.3/amd64/kube-apiserver"),
        "version": "1.36.3",
        "kind": "binary",
        "image": None,
        "component": "kubernetes",
    }
    assert result["artifacts"]["coredns"]["amd64"]["image"] == "registry.k8s.io/coredns/coredns:v1.12.1"
    assert result["os_packages"]["debian-12"]["amd64"]["dir"] == str(root / "os-packages/debian-12/amd64")
    # The second run trusts the cache written by the first.
    failed, result = run_module(capsys, **args_for(root))
    assert not failed
    assert result["hashed"] == 0


def test_check_mode_writes_nothing(capsys, bundle):
    root, _ = bundle
    failed, result = run_module(capsys, _ansible_check_mode=True, **args_for(root))
    assert not failed, result["msg"]
    assert not (root / ".verify-cache.json").exists()


def test_each_corrupted_file_fails_naming_it(capsys, bundle):
    root, manifest = bundle
    for entry in manifest.artifacts:
        path = root / entry.path
        original = path.read_bytes()
        data = bytearray(original)
        data[0] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            failed, result = run_module(capsys, **args_for(root))
            assert failed, entry.path
            assert len(result["problems"]) == 1, result["problems"]
            assert entry.path in result["msg"]
            assert "corrupt" in result["msg"]
            assert "Nothing was changed on any host" in result["msg"]
            assert "artifacts" not in result  # no partial success
        finally:
            path.write_bytes(original)
    failed, _ = run_module(capsys, **args_for(root))
    assert not failed


def test_all_problems_in_one_message(capsys, bundle):
    root, _ = bundle
    (root / "kubernetes/1.36.3/amd64/kubelet").unlink()
    (root / "etcd/3.6.16/amd64/etcdctl").write_bytes(b"truncated")
    failed, result = run_module(capsys, **args_for(root, choices=dict(CHOICES, pause_version="3.9")))
    assert failed
    msg = result["msg"]
    assert "3 problem(s)" in msg
    assert "kubernetes/1.36.3/amd64/kubelet): file missing" in msg
    assert "etcd/3.6.16/amd64/etcdctl): corrupt" in msg
    assert "re-run tools/bundle/upstream.py --only etcd" in msg
    assert "pause pause 3.9 amd64: wrong version: the inventory asks for 3.9, the bundle has 3.10" in msg


def test_checksum_false_is_presence_only(capsys, bundle):
    root, _ = bundle
    (root / "etcd/3.6.16/amd64/etcd").write_bytes(b"changed")
    failed, result = run_module(capsys, **args_for(root, checksum=False))
    assert not failed
    assert result["hashed"] == 0
    failed, _ = run_module(capsys, **args_for(root, checksum="yes"))
    assert failed


def test_checksum_full_ignores_cache(capsys, bundle):
    root, manifest = bundle
    run_module(capsys, **args_for(root))
    cache = json.loads((root / ".verify-cache.json").read_text())
    rel = "etcd/3.6.16/amd64/etcd"
    cache["entries"][rel]["sha256"] = "0" * 64
    (root / ".verify-cache.json").write_text(json.dumps(cache))
    failed, result = run_module(capsys, **args_for(root))
    assert failed
    assert rel in result["msg"]
    failed, result = run_module(capsys, **args_for(root, checksum="full"))
    assert not failed, result["msg"]
    assert result["hashed"] == len(manifest.artifacts)


def test_docker_calico_needs_other_files(capsys, bundle):
    root, _ = bundle
    failed, result = run_module(
        capsys, **args_for(root, choices=dict(CHOICES, container_runtime="docker", kube_network_plugin="calico"))
    )
    assert failed
    for name in ("docker/28.3.3/amd64/dockerd", "cri-dockerd", "calico-node", "calico-cni", "calico-kube-controllers"):
        assert name in result["msg"]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"checksum": "sometimes"}, "checksum must be true, false or full"),
        ({"choices": dict(CHOICES, container_runtime="cri-o")}, "container_runtime is 'cri-o'"),
        ({"arches": ["ppc64le"]}, "architecture 'ppc64le' is not supported"),
        ({"os": ["centos-9"]}, "hosts run centos-9"),
    ],
)
def test_bad_arguments(capsys, bundle, over, message):
    root, _ = bundle
    failed, result = run_module(capsys, **args_for(root, **over))
    assert failed
    assert message in result["msg"]


def test_no_manifest(capsys, tmp_path):
    failed, result = run_module(capsys, **args_for(tmp_path))
    assert failed
    assert "manifest.json not found" in result["msg"]


def test_invalid_manifest(capsys, bundle):
    root, _ = bundle
    data = json.loads((root / "manifest.json").read_text())
    data["builder"] = "by-hand"
    (root / "manifest.json").write_text(json.dumps(data))
    failed, result = run_module(capsys, **args_for(root))
    assert failed
    assert "builder is 'by-hand'" in result["msg"]
