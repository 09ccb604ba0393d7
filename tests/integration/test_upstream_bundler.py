# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""tools/bundle/upstream.py against loopback stand-ins for the upstream sites.

An HTTP server laid out like dl.k8s.io / github.com / deb.debian.org serves
small real files (tarballs, .debs built with dpkg-deb); Debian's
docker-registry serves images pushed with skopeo from hand-made OCI layouts.
The versions table has the real table's shape, with these files' checksums
pinned. The bundler runs as a user runs it (a subprocess, through --mirror
and --registry-mirror), and airgap.k8s.bundle_verify checks its output.
"""

from __future__ import annotations

import copy
import email.utils
import gzip
import hashlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.airgap.k8s.plugins.modules import bundle_verify

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "bundle" / "upstream.py"
FIXTURE_TABLE = Path(__file__).parent / "fixtures" / "artifacts.yml"
RUN_TIMEOUT = 300

CHOICES = {"kube_version": "1.36.3", "container_runtime": "containerd", "kube_network_plugin": "flannel"}

# Upstream files (URL path on the stand-in server -> members, or None for a plain file).
K8S = "dl.k8s.io/release/v1.36.3/bin/linux/amd64"
GH = "github.com"
FILES: dict[str, dict[str, bytes] | None] = {
    **{
        f"{K8S}/{name}": None
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")
    },
    f"{GH}/etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz": {
        "etcd-v3.6.16-linux-amd64/etcd": b"etcd 3.6.16\n",
        "etcd-v3.6.16-linux-amd64/etcdctl": b"etcdctl 3.6.16\n",
        "etcd-v3.6.16-linux-amd64/etcdutl": b"etcdutl 3.6.16\n",
        "etcd-v3.6.16-linux-amd64/README.md": b"not needed\n",
    },
    f"{GH}/containerd/containerd/releases/download/v2.1.4/containerd-2.1.4-linux-amd64.tar.gz": {
        "bin/containerd": b"containerd 2.1.4\n",
        "bin/containerd-shim-runc-v2": b"shim 2.1.4\n",
        "bin/ctr": b"ctr 2.1.4\n",
    },
    f"{GH}/opencontainers/runc/releases/download/v1.3.0/runc.amd64": None,
    f"{GH}/containernetworking/plugins/releases/download/v1.7.1/cni-plugins-linux-amd64-v1.7.1.tgz": {
        f"./{name}": f"{name} 1.7.1\n".encode() for name in ("bridge", "host-local", "loopback", "portmap", "vlan")
    },
    f"{GH}/kubernetes-sigs/cri-tools/releases/download/v1.33.0/crictl-v1.33.0-linux-amd64.tar.gz": {
        "crictl": b"crictl 1.33.0\n"
    },
    f"{GH}/flannel-io/flannel/releases/download/v0.27.2/flanneld-amd64": None,
    f"{GH}/flannel-io/cni-plugin/releases/download/v1.7.1-flannel2/cni-plugin-flannel-linux-amd64-v1.7.1-flannel2.tgz": {
        "flannel-amd64": b"flannel cni 1.7.1-flannel2\n"
    },
}
# (component, table key, image reference) pushed to the registry.
IMAGES = [
    ("pause", "pause", "registry.k8s.io/pause:3.10"),
    ("coredns", "coredns", "registry.k8s.io/coredns/coredns:v1.12.1"),
    ("flannel", "kube-flannel", "ghcr.io/flannel-io/flannel:v0.27.2"),
]


# --------------------------------------------------------------------------
# Content builders (no pulls, no downloads)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tar(members: dict[str, bytes], compress: bool = True) -> bytes:
    """A (gzipped) tar with the given regular files, mode 0755."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_oci_layout(directory: Path, tag: str, payload: bytes, arch: str = "amd64") -> None:
    """A one-layer OCI image layout built by hand, tagged ``tag``."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> tuple[str, int]:
        digest = sha256_bytes(data)
        (blobs / digest).write_bytes(data)
        return "sha256:" + digest, len(data)

    layer_tar = make_tar({"app": payload}, compress=False)
    layer_gz = gzip.compress(layer_tar, mtime=0)
    layer_digest, layer_size = blob(layer_gz)
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha256_bytes(layer_tar)]},
    }
    config_digest, config_size = blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}
        ],
    }
    manifest_digest, manifest_size = blob(json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def push_image(layout: Path, tag: str, registry: str, repo: str, env: dict[str, str]) -> str:
    """skopeo copy oci:LAYOUT:TAG docker://REGISTRY/REPO:TAG; return the pushed manifest digest."""
    digest_file = layout.parent / f"{layout.name}.digest"
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--digestfile",
            str(digest_file),
            f"oci:{layout}:{tag}",
            f"docker://{registry}/{repo}:{tag}",
        ],
        check=True,
        timeout=120,
        env=env,
        capture_output=True,
    )
    return digest_file.read_text().strip()


def make_deb(workdir: Path, package: str, version: str, depends: str = "", priority: str = "optional") -> Path:
    """A real (tiny) .deb made with dpkg-deb."""
    root = workdir / f"{package}-src"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / "doc" / package).mkdir(parents=True)
    (root / "usr" / "share" / "doc" / package / "README").write_text(f"{package} {version} test package\n")
    control = [
        f"Package: {package}",
        f"Version: {version}",
        "Architecture: amd64",
        "Maintainer: airgap.k8s tests <tests@example.invalid>",
        f"Priority: {priority}",
        f"Description: {package} stand-in for the bundler test",
    ]
    if depends:
        control.insert(4, f"Depends: {depends}")
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    out = workdir / f"{package}_{version}_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(root)
    return out


def make_apt_repo(root: Path, debs: list[Path], suites: dict[str, str]) -> None:
    """A Debian archive layout (unsigned) under ROOT: pool/ plus dists/<suite>/ for each suite.

    ``suites`` maps suite name to the archive sub-directory (``debian``,
    ``debian-security``); only the first suite gets the packages.
    """
    first = True
    for suite, archive in suites.items():
        base = root / archive
        stanzas = []
        if first:
            pool = base / "pool" / "main"
            pool.mkdir(parents=True, exist_ok=True)
            for deb in debs:
                shutil.copy2(deb, pool / deb.name)
                control = subprocess.run(
                    ["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True, timeout=30
                ).stdout.strip()
                data = deb.read_bytes()
                stanzas.append(
                    f"{control}\nFilename: pool/main/{deb.name}\nSize: {len(data)}\nSHA256: {sha256_bytes(data)}"
                )
        first = False
        packages = ("\n\n".join(stanzas) + "\n").encode() if stanzas else b""
        index_dir = base / "dists" / suite / "main" / "binary-amd64"
        index_dir.mkdir(parents=True, exist_ok=True)
        (index_dir / "Packages").write_bytes(packages)
        release = [
            "Origin: airgap.k8s tests",
            f"Suite: {suite}",
            f"Codename: {suite}",
            f"Date: {email.utils.formatdate(time.time() - 3600, usegmt=True)}",
            "Architectures: amd64",
            "Components: main",
            "SHA256:",
            f" {sha256_bytes(packages)} {len(packages)} main/binary-amd64/Packages",
        ]
        (base / "dists" / suite / "Release").write_text("\n".join(release) + "\n")


def _load_tool():
    spec = importlib.util.spec_from_file_location("upstream_bundler", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


upstream = _load_tool()


@dataclass
class Site:
    table: Path
    pinned: dict  # the airgap_artifacts dict written to `table`
    mirror: str
    registry: str
    served: Path
    contents: dict[str, bytes]  # URL path -> served bytes
    env: dict[str, str]


@pytest.fixture(scope="module")
def site(http_root, registry, loopback_env, tmp_path_factory) -> Site:
    served, mirror = http_root
    work = tmp_path_factory.mktemp("site")
    table = yaml.safe_load(FIXTURE_TABLE.read_text())
    artifacts = table["airgap_artifacts"]
    contents: dict[str, bytes] = {}
    for path, members in FILES.items():
        data = make_tar(members) if members else f"{path.rsplit('/', 1)[-1]} from upstream\n".encode()
        target = served / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        contents[path] = data

    def pin(component: str, version: str, key: str, value: str) -> None:
        artifacts[component]["versions"][version]["amd64"][key] = value

    for path, data in contents.items():
        basename = path.rsplit("/", 1)[-1]
        for component, entry in artifacts.items():
            for version, per_version in (entry.get("versions") or {}).items():
                if basename in (per_version.get("amd64") or {}):
                    pin(component, version, basename, sha256_bytes(data))
    for index, (component, key, ref) in enumerate(IMAGES):
        layout = work / f"oci-{component}"
        repo, tag = ref.rsplit(":", 1)
        make_oci_layout(layout, tag, f"#!/bin/sh\n# {ref} {index}\n".encode())
        digest = push_image(layout, tag, registry, repo, loopback_env)
        pin(component, artifacts[component]["default"], key, digest)
    # Host packages: haproxy needs libfake1 and base-fake; base-fake is
    # Priority: required, so a minbase system has it and the bundle must not.
    debs = work / "debs"
    debs.mkdir()
    packages = [
        make_deb(debs, "haproxy", "2.6.12-1+deb12u2", depends="libfake1 (>= 1.0), base-fake"),
        make_deb(debs, "libfake1", "1.0-1"),
        make_deb(debs, "conntrack", "1:1.4.7-1+b2", depends="libfake1"),
        make_deb(debs, "socat", "1.7.4.4-2"),
        make_deb(debs, "ipvsadm", "1:1.31-1+b1"),
        make_deb(debs, "base-fake", "12.4", priority="required"),
    ]
    make_apt_repo(
        served / "deb.debian.org",
        packages,
        {"bookworm": "debian", "bookworm-updates": "debian", "bookworm-security": "debian-security"},
    )
    path = work / "artifacts.yml"
    path.write_text(yaml.safe_dump(table, sort_keys=False))
    return Site(path, artifacts, mirror, registry, served, contents, loopback_env)


def run_bundler(site: Site, out: Path, *extra: str, table: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(TOOL),
        "--table",
        str(table or site.table),
        "--kube-version",
        "1.36.3",
        "--container-runtime",
        "containerd",
        "--network-plugin",
        "flannel",
        "--arch",
        "amd64",
        "--os",
        "debian-12",
        "--mirror",
        site.mirror,
        "--registry-mirror",
        site.registry,
        "--apt-trusted",
        "--out",
        str(out / "bundle"),
        "--cache",
        str(out / "cache"),
        "--timeout",
        "20",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=site.env, check=False)


def verify(capsys, bundle_dir: Path, artifacts: dict, checksum="full"):
    args = {
        "bundle_dir": str(bundle_dir),
        "artifacts": artifacts,
        "choices": CHOICES,
        "arches": ["amd64"],
        "os": ["debian-12"],
        "checksum": checksum,
    }
    capsys.readouterr()
    with patch_module_args(args), pytest.raises(SystemExit):
        bundle_verify.main()
    return json.loads(capsys.readouterr().out)


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------


@pytest.mark.slow
def test_bundle_from_upstream(site, tmp_path, capsys):
    proc = run_bundler(site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    bundle = tmp_path / "bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == 1
    assert manifest["builder"] == "upstream"
    entries = {a["path"]: a for a in manifest["artifacts"]}

    # Plain downloads land unchanged; archive members are unpacked into the layout.
    apiserver = entries["kubernetes/1.36.3/amd64/kube-apiserver"]
    assert (bundle / apiserver["path"]).read_bytes() == site.contents[f"{K8S}/kube-apiserver"]
    assert apiserver["source"] == "https://dl.k8s.io/release/v1.36.3/bin/linux/amd64/kube-apiserver"
    assert (bundle / "etcd/3.6.16/amd64/etcdctl").read_bytes() == b"etcdctl 3.6.16\n"
    assert entries["etcd/3.6.16/amd64/etcdctl"]["source"].endswith(
        "/etcd-v3.6.16-linux-amd64.tar.gz#etcd-v3.6.16-linux-amd64/etcdctl"
    )
    assert (bundle / "cni-plugins/1.7.1/amd64/portmap").read_bytes() == b"portmap 1.7.1\n"
    assert (bundle / "runc/1.3.0/amd64/runc").stat().st_mode & 0o111
    assert (bundle / "flannel-cni-plugin/1.7.1-flannel2/amd64/flannel").read_bytes() == b"flannel cni 1.7.1-flannel2\n"
    assert not any("README" in p or "vlan" in p for p in entries)  # only what the install needs

    # Images: docker-archive tagged with the upstream name (not the mirror's).
    pause = entries["images/amd64/pause_3.10.tar"]
    assert pause["image"] == "registry.k8s.io/pause:3.10"
    assert (
        pause["source"]
        == f"docker://registry.k8s.io/pause:3.10@{site.pinned['pause']['versions']['3.10']['amd64']['pause']}"
    )
    with tarfile.open(bundle / pause["path"]) as tar:
        archive_manifest = json.load(tar.extractfile("manifest.json"))
    assert archive_manifest[0]["RepoTags"] == ["registry.k8s.io/pause:3.10"]
    assert "images/amd64/kube-flannel_v0.27.2.tar" in entries
    assert "images/amd64/coredns_v1.12.1.tar" in entries

    # Host packages: the named ones plus what minbase lacks, not what it has.
    debs = {a["name"]: a for a in manifest["artifacts"] if a["kind"] == "os-package"}
    assert set(debs) == {"haproxy", "libfake1", "conntrack", "socat"}
    assert debs["conntrack"]["source"] == "debian:conntrack=1:1.4.7-1+b2"
    assert debs["haproxy"]["path"].startswith("os-packages/debian-12/amd64/haproxy_")

    # Every file is in the manifest and vice versa.
    assert sorted([*entries, "manifest.json"]) == all_files(bundle)

    # The module accepts it and resolves what the roles need.
    result = verify(capsys, bundle, site.pinned)
    assert not result.get("failed"), result.get("msg")
    assert result["bundle_builder"] == "upstream"
    assert result["checked"] == len(entries)
    assert result["artifacts"]["etcd"]["amd64"]["path"] == str(bundle / "etcd/3.6.16/amd64/etcd")
    assert len(result["os_packages"]["debian-12"]["amd64"]["files"]) == 4

    # One tarball with the manifest first, and its checksum next to it.
    tarball = tmp_path / "airgap-k8s-bundle-1.36.3-amd64.tar.gz"
    assert tarball.is_file()
    digest = (tmp_path / f"{tarball.name}.sha256").read_text().split()[0]
    assert digest == sha256_bytes(tarball.read_bytes())
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        assert names[0] == "manifest.json"
        assert sorted(names) == [p for p in all_files(bundle) if p != ".verify-cache.json"]
        unpacked = tmp_path / "offline"
        tar.extractall(unpacked, filter="data")
    # Offline side: the unpacked copy verifies too.
    result = verify(capsys, unpacked, site.pinned)
    assert not result.get("failed"), result.get("msg")

    # A damaged file is named with the command that repairs it, and --only repairs it.
    (bundle / "runc/1.3.0/amd64/runc").write_bytes(b"damaged")
    result = verify(capsys, bundle, site.pinned, checksum=True)
    assert result.get("failed")
    assert "runc/1.3.0/amd64/runc" in result["msg"]
    assert "tools/bundle/upstream.py --only runc" in result["msg"]
    proc = run_bundler(site, tmp_path, "--only", "runc", "--no-tarball")
    assert proc.returncode == 0, proc.stderr
    assert "download" not in proc.stderr  # served from the verified cache
    # Same pinned source, same bytes: the repaired bundle's manifest lists exactly what it did.
    assert json.loads((bundle / "manifest.json").read_text())["artifacts"] == manifest["artifacts"]
    result = verify(capsys, bundle, site.pinned)
    assert not result.get("failed"), result.get("msg")


def test_tampered_download_is_refused_and_deleted(site, tmp_path):
    served = site.served / f"{GH}/opencontainers/runc/releases/download/v1.3.0/runc.amd64"
    original = served.read_bytes()
    served.write_bytes(original + b"backdoor\n")
    try:
        proc = run_bundler(site, tmp_path, "--no-tarball")
    finally:
        served.write_bytes(original)
    assert proc.returncode == 1
    assert "runc.amd64" in proc.stderr
    assert "checksum mismatch" in proc.stderr
    assert f"the versions table pins {sha256_bytes(original)}" in proc.stderr
    left = all_files(tmp_path)
    assert not [p for p in left if p.endswith((".part", "runc.amd64", "/runc"))], left
    assert not (tmp_path / "bundle" / "manifest.json").exists()


def test_unpinned_checksum_is_refused(site, tmp_path):
    table = copy.deepcopy(site.pinned)
    table["etcd"]["versions"]["3.6.16"]["amd64"]["etcd-v3.6.16-linux-amd64.tar.gz"] = None
    table["pause"]["versions"]["3.10"]["amd64"]["pause"] = None
    path = tmp_path / "unpinned.yml"
    path.write_text(yaml.safe_dump({"airgap_artifacts": table}))
    proc = run_bundler(site, tmp_path, "--no-tarball", table=path)
    assert proc.returncode == 1
    assert "refusing to download files whose checksum the versions table does not pin" in proc.stderr
    assert "etcd-v3.6.16-linux-amd64.tar.gz" in proc.stderr
    assert "registry.k8s.io/pause:3.10 (amd64): no image digest" in proc.stderr
    assert "--allow-unpinned" in proc.stderr
    assert all_files(tmp_path) == ["unpinned.yml"]  # nothing was fetched


# --------------------------------------------------------------------------
# Pure helpers


def test_mirror_url():
    assert (
        upstream.mirror_url("https://dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubelet", "http://127.0.0.1:8080/up/")
        == "http://127.0.0.1:8080/up/dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubelet"
    )
    assert upstream.mirror_url("https://dl.k8s.io/x", None) == "https://dl.k8s.io/x"


def test_split_ref_and_registry_mirror(tmp_path):
    assert upstream.split_ref("registry.k8s.io/pause:3.10") == ("registry.k8s.io/pause", "3.10")
    assert upstream.split_ref("127.0.0.1:5000/pause") == ("127.0.0.1:5000/pause", "latest")
    copier = upstream.ImageCopier("127.0.0.1:5000", True, tmp_path)
    assert copier.source("quay.io/calico/node:v3.30.2") == "127.0.0.1:5000/quay.io/calico/node"
    assert upstream._is_loopback("127.0.0.1:5000")
    assert upstream._is_loopback("localhost:5000")
    assert not upstream._is_loopback("mirror.example:5000")


def test_minbase_status_keeps_required_and_essential():
    dumpavail = (
        "Package: base-files\nPriority: required\nVersion: 12.4\nDescription: x\n more\n\n"
        "Package: haproxy\nPriority: optional\nVersion: 2.6\n\n"
        "Package: dash\nEssential: yes\nPriority: important\nVersion: 0.5\n"
    )
    status = upstream._minbase_status(dumpavail)
    assert "Package: base-files" in status
    assert "Package: dash" in status
    assert "haproxy" not in status
    assert status.count("Status: install ok installed") == 2
    assert "Description: x\n more" in status


def test_plan_groups_archive_members(site):
    b = upstream.B
    required = b.required_artifacts(site.pinned, dict(CHOICES, os=["debian-12"]), ["amd64"])
    plan = upstream.make_plan(site.pinned, required)
    assert plan.unpinned == []
    etcd = [d for d in plan.downloads if d.component == "etcd"]
    assert len(etcd) == 1  # one tarball, three files
    assert sorted(j.member for j in etcd[0].files) == [
        "etcd-v3.6.16-linux-amd64/etcd",
        "etcd-v3.6.16-linux-amd64/etcdctl",
        "etcd-v3.6.16-linux-amd64/etcdutl",
    ]
    assert plan.os_packages == {("debian-12", "amd64"): ["conntrack", "haproxy", "socat"]}


def test_plan_per_version_url_and_docker_arch_names(site):
    b = upstream.B
    table = copy.deepcopy(site.pinned)
    required = b.required_artifacts(
        table,
        dict(CHOICES, container_runtime="docker", flannel_cni_plugin_version="0.9.1", os=["debian-12"]),
        ["amd64"],
    )
    plan = upstream.make_plan(table, required)
    urls = {d.component: d.url for d in plan.downloads}
    assert urls["docker"] == "https://download.docker.com/linux/static/stable/x86_64/docker-28.3.3.tgz"
    assert urls["flannel-cni-plugin"] == (
        "https://github.com/containernetworking/plugins/releases/download/v0.9.1/cni-plugins-linux-amd64-v0.9.1.tgz"
    )
    flannel = next(d for d in plan.downloads if d.component == "flannel-cni-plugin")
    assert [j.member for j in flannel.files] == ["./flannel"]
    assert any("docker-28.3.3.tgz" in u for u in plan.unpinned)


def test_tarball_name():
    assert upstream.tarball_name("1.36.3", ["arm64", "amd64"]) == "airgap-k8s-bundle-1.36.3-amd64-arm64.tar.gz"


def test_choices_from_inventory_and_flags(tmp_path):
    inventory = tmp_path / "inv"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "group_vars" / "all.yml").write_text(
        "container_runtime: docker\n"
        "kube_network_plugin: calico\n"
        "kube_version: \"{{ lookup('env', 'KV') }}\"\n"
        'etcd_version: "3.6.15"\n'
    )
    table = yaml.safe_load(FIXTURE_TABLE.read_text())["airgap_artifacts"]
    args = upstream.parse_args(
        ["--inventory", str(inventory), "--network-plugin", "flannel", "--version", "pause=3.9", "--arch", "arm64"]
    )
    choices, arches = upstream.build_choices(args, table)
    assert choices["container_runtime"] == "docker"
    assert choices["kube_network_plugin"] == "flannel"  # the flag wins
    assert "kube_version" not in choices  # a template: the table default applies
    assert choices["etcd_version"] == "3.6.15"
    assert choices["pause_version"] == "3.9"
    assert choices["os"] == ["debian-12"]
    assert arches == ["arm64"]
    with pytest.raises(upstream.BundlerError, match=r"no group_vars/all\.yml"):
        upstream.build_choices(upstream.parse_args(["--inventory", str(tmp_path)]), table)


def test_refuses_foreign_output_directory(site, tmp_path):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "notes.txt").write_text("mine")
    proc = run_bundler(site, tmp_path, "--no-tarball")
    assert proc.returncode == 1
    assert "is not empty and holds no manifest.json" in proc.stderr
    assert (tmp_path / "bundle" / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------
# `upstream.py pin`: the table's null pins from the published checksum files

REL = "releases/download"
KUBE_NAMES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")
# Checksum files laid out as each project publishes them (the table's
# checksum_url), in each project's format. Values: URL path -> text, with
# {sha:<served path>} standing for the sha256 of a served file.
PUBLISHED = {
    # dl.k8s.io: one bare digest per binary.
    **{f"{K8S}/{name}.sha256": f"{{sha:{K8S}/{name}}}\n" for name in KUBE_NAMES},
    # etcd: one SHA256SUMS (shasum -a 256) for every archive of the release.
    f"{GH}/etcd-io/etcd/{REL}/v3.6.16/SHA256SUMS": (
        f"{'1' * 64}  etcd-v3.6.16-darwin-arm64.zip\n"
        f"{{sha:{GH}/etcd-io/etcd/{REL}/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz}}  etcd-v3.6.16-linux-amd64.tar.gz\n"
        f"{'2' * 64}  etcd-v3.6.16-linux-arm64.tar.gz\n"
    ),
    # containerd: sha256sum output next to each archive.
    f"{GH}/containerd/containerd/{REL}/v2.1.4/containerd-2.1.4-linux-amd64.tar.gz.sha256sum": (
        f"{{sha:{GH}/containerd/containerd/{REL}/v2.1.4/containerd-2.1.4-linux-amd64.tar.gz}}  "
        "containerd-2.1.4-linux-amd64.tar.gz\n"
    ),
    # runc: one runc.sha256sum for the binaries, the source and libseccomp.
    f"{GH}/opencontainers/runc/{REL}/v1.3.0/runc.sha256sum": (
        f"{'3' * 64}  libseccomp-2.5.6.tar.gz\n"
        f"{{sha:{GH}/opencontainers/runc/{REL}/v1.3.0/runc.amd64}}  runc.amd64\n"
        f"{'4' * 64}  runc.arm64\n"
        f"{'5' * 64}  runc.tar.xz\n"
    ),
    # CNI plugins and flannel's CNI plugin: sha256sum output (.tgz.sha256).
    f"{GH}/containernetworking/plugins/{REL}/v1.7.1/cni-plugins-linux-amd64-v1.7.1.tgz.sha256": (
        f"{{sha:{GH}/containernetworking/plugins/{REL}/v1.7.1/cni-plugins-linux-amd64-v1.7.1.tgz}}  "
        "cni-plugins-linux-amd64-v1.7.1.tgz\n"
    ),
    f"{GH}/flannel-io/cni-plugin/{REL}/v1.7.1-flannel2/cni-plugin-flannel-linux-amd64-v1.7.1-flannel2.tgz.sha256": (
        f"{{sha:{GH}/flannel-io/cni-plugin/{REL}/v1.7.1-flannel2/cni-plugin-flannel-linux-amd64-v1.7.1-flannel2.tgz}}"
        "  cni-plugin-flannel-linux-amd64-v1.7.1-flannel2.tgz\n"
    ),
    # crictl: a bare digest (.tar.gz.sha256).
    f"{GH}/kubernetes-sigs/cri-tools/{REL}/v1.33.0/crictl-v1.33.0-linux-amd64.tar.gz.sha256": (
        f"{{sha:{GH}/kubernetes-sigs/cri-tools/{REL}/v1.33.0/crictl-v1.33.0-linux-amd64.tar.gz}}\n"
    ),
    # flannel (flanneld), cri-dockerd and Docker publish none.
}
FLANNELD = f"{GH}/flannel-io/flannel/{REL}/v0.27.2/flanneld-amd64"


@pytest.fixture(scope="module")
def published(site) -> dict[str, str]:
    """Serve the checksum files; return URL path -> served text."""
    served = {}
    for path, template in PUBLISHED.items():
        text = template
        for source, data in site.contents.items():
            text = text.replace(f"{{sha:{source}}}", sha256_bytes(data))
        assert "{sha:" not in text, text
        (site.served / path).write_text(text)
        served[path] = text
    return served


def run_pin(site: Site, table: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(TOOL),
        "pin",
        "--table",
        str(table),
        "--mirror",
        site.mirror,
        "--registry-mirror",
        site.registry,
        "--timeout",
        "20",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=site.env, check=False)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def sha_of(site: Site, path: str) -> str:
    return sha256_bytes(site.contents[path])


@pytest.mark.slow
def test_pin_fills_null_pins_and_the_bundle_then_builds(site, published, tmp_path):
    # The fixture table, all null, except flanneld: flannel publishes no
    # checksum, so an operator pinned it by hand from another record.
    flanneld = sha_of(site, FLANNELD)
    original = replace_once(
        FIXTURE_TABLE.read_text(),
        "{flanneld-amd64: null, kube-flannel: null}",
        f'{{flanneld-amd64: "{flanneld}", kube-flannel: null}}',
    )
    table = tmp_path / "artifacts.yml"
    table.write_text(original)
    digests = {c: site.pinned[c]["versions"][site.pinned[c]["default"]]["amd64"][k] for c, k, _ in IMAGES}

    # Dry run: what it would pin, from where; the table is untouched.
    proc = run_pin(site, table)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    etcd = f"{GH}/etcd-io/etcd/{REL}/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz"
    assert (
        f"would pin  etcd 3.6.16 amd64 etcd-v3.6.16-linux-amd64.tar.gz {sha_of(site, etcd)} "
        f"https://{GH}/etcd-io/etcd/{REL}/v3.6.16/SHA256SUMS\n"
    ) in out
    assert (
        f"would pin  kubernetes 1.36.3 amd64 kubelet {sha_of(site, f'{K8S}/kubelet')} https://{K8S}/kubelet.sha256\n"
    ) in out
    runc = f"{GH}/opencontainers/runc/{REL}/v1.3.0/runc.amd64"
    assert f"would pin  runc 1.3.0 amd64 runc.amd64 {sha_of(site, runc)} https://{GH}/opencontainers/runc/" in out
    assert f"would pin  pause 3.10 amd64 pause {digests['pause']} docker://registry.k8s.io/pause:3.10\n" in out
    # Existing pins are kept; what nobody publishes stays null, and says why.
    assert "kept       flannel 0.27.2 amd64 flanneld-amd64: kept the table's pin; nothing published" in out
    assert "left null  kubernetes 1.36.3 arm64 kubelet: left null: " in out
    assert "/dl.k8s.io/release/v1.36.3/bin/linux/arm64/kubelet.sha256 answers HTTP 404" in out
    assert (
        "left null  docker 28.3.3 amd64 docker-28.3.3.tgz: left null: airgap_artifacts['docker'] names no "
        "checksum_url" in out
    )
    assert (
        f"left null  calico 3.30.2 amd64 calico-node: left null: the registry has no "
        f"{site.registry}/quay.io/calico/node:v3.30.2 (manifest unknown)\n"
    ) in out
    assert "left null  flannel-cni-plugin 0.9.1 amd64 cni-plugins-linux-amd64-v0.9.1.tgz: left null: " in out
    assert "Dry run: add --write to fill these 15 null pin(s)" in proc.stderr
    assert table.read_text() == original

    # --write fills exactly those values; every other byte stays.
    proc = run_pin(site, table, "--write")
    assert proc.returncode == 0, proc.stderr
    assert "Wrote 15 pin(s)" in proc.stderr
    assert "review the diff" in proc.stderr
    k8s = {name: sha_of(site, f"{K8S}/{name}") for name in KUBE_NAMES}
    expected = replace_once(
        original,
        "        amd64: &k8s {kube-apiserver: null, kube-controller-manager: null, kube-scheduler: null,\n"
        "                     kubelet: null, kube-proxy: null, kubectl: null}\n"
        "        arm64: *k8s\n",
        # The alias cannot share the new values: it becomes its own (null) copy.
        f'        amd64: {{kube-apiserver: "{k8s["kube-apiserver"]}", '
        f'kube-controller-manager: "{k8s["kube-controller-manager"]}", '
        f'kube-scheduler: "{k8s["kube-scheduler"]}",\n'
        f'                     kubelet: "{k8s["kubelet"]}", kube-proxy: "{k8s["kube-proxy"]}", '
        f'kubectl: "{k8s["kubectl"]}"}}\n'
        "        arm64: {kube-apiserver: null, kube-controller-manager: null, kube-scheduler: null, "
        "kubelet: null, kube-proxy: null, kubectl: null}\n",
    )
    for path in (
        etcd,
        f"{GH}/containerd/containerd/{REL}/v2.1.4/containerd-2.1.4-linux-amd64.tar.gz",
        runc,
        f"{GH}/containernetworking/plugins/{REL}/v1.7.1/cni-plugins-linux-amd64-v1.7.1.tgz",
        f"{GH}/kubernetes-sigs/cri-tools/{REL}/v1.33.0/crictl-v1.33.0-linux-amd64.tar.gz",
        f"{GH}/flannel-io/cni-plugin/{REL}/v1.7.1-flannel2/cni-plugin-flannel-linux-amd64-v1.7.1-flannel2.tgz",
    ):
        key = path.rsplit("/", 1)[-1]
        expected = replace_once(expected, f"{{{key}: null}}", f'{{{key}: "{sha_of(site, path)}"}}')
    expected = replace_once(expected, "kube-flannel: null}", f'kube-flannel: "{digests["flannel"]}"}}')
    expected = replace_once(expected, "{coredns: null}", f'{{coredns: "{digests["coredns"]}"}}')
    expected = replace_once(expected, "{pause: null}", f'{{pause: "{digests["pause"]}"}}')
    assert table.read_text() == expected
    written = upstream.B.load_table(table)
    assert written["etcd"]["versions"]["3.6.16"]["amd64"]["etcd-v3.6.16-linux-amd64.tar.gz"] == sha_of(site, etcd)
    assert written["kubernetes"]["versions"]["1.36.3"]["arm64"]["kubelet"] is None
    assert written["docker"]["versions"]["28.3.3"]["amd64"]["docker-28.3.3.tgz"] is None

    # A second run finds everything pinned and matching, and writes nothing.
    proc = run_pin(site, table, "--write")
    assert proc.returncode == 0, proc.stderr
    assert "0 new, 15 already pinned and matching" in proc.stderr
    assert f"ok         etcd 3.6.16 amd64 etcd-v3.6.16-linux-amd64.tar.gz {sha_of(site, etcd)}" in proc.stdout
    assert table.read_text() == expected

    # The normal build of that bundle now runs without --allow-unpinned.
    proc = run_bundler(site, tmp_path, "--no-tarball", table=table)
    assert proc.returncode == 0, proc.stderr
    assert "refusing" not in proc.stderr
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert {a["component"] for a in manifest["artifacts"]} >= {"kubernetes", "etcd", "runc", "pause", "flannel"}


def test_pin_refuses_a_published_checksum_that_disagrees_with_a_pin(site, published, tmp_path):
    wrong = "0" * 64
    original = replace_once(
        FIXTURE_TABLE.read_text(),
        "{etcd-v3.6.16-linux-amd64.tar.gz: null}",
        f'{{etcd-v3.6.16-linux-amd64.tar.gz: "{wrong}"}}',
    )
    table = tmp_path / "artifacts.yml"
    table.write_text(original)
    proc = run_pin(site, table, "--component", "etcd,runc", "--write")
    assert proc.returncode == 1
    real = sha_of(site, f"{GH}/etcd-io/etcd/{REL}/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz")
    assert (
        f"error: etcd 3.6.16 amd64 etcd-v3.6.16-linux-amd64.tar.gz: the table pins {wrong}, "
        f"but https://{GH}/etcd-io/etcd/{REL}/v3.6.16/SHA256SUMS publishes {real}. Nothing was written."
    ) in proc.stderr
    assert "Nothing was written: a published checksum disagrees with a pin." in proc.stderr
    assert "would pin  runc 1.3.0 amd64 runc.amd64" in proc.stdout  # found, but not written either
    assert table.read_text() == original


def test_pin_leaves_the_pin_null_when_no_checksum_is_published(site, published, tmp_path):
    table = tmp_path / "artifacts.yml"
    table.write_text(FIXTURE_TABLE.read_text())
    sums = site.served / f"{GH}/opencontainers/runc/{REL}/v1.3.0/runc.sha256sum"
    saved = sums.read_bytes()
    sums.unlink()
    try:
        proc = run_pin(site, table, "--component", "runc", "--write")
    finally:
        sums.write_bytes(saved)
    assert proc.returncode == 0, proc.stderr
    assert (
        "left null  runc 1.3.0 amd64 runc.amd64: left null: "
        f"{site.mirror}/{GH}/opencontainers/runc/{REL}/v1.3.0/runc.sha256sum answers HTTP 404\n"
    ) in proc.stdout
    assert "0 new, 0 already pinned and matching, 0 kept without a published value, 1 left null" in proc.stderr
    assert "Nothing to write." in proc.stderr
    assert table.read_text() == FIXTURE_TABLE.read_text()

    # A checksum list that does not name the file is the same: left null, saying so.
    sums.write_text(f"{'6' * 64}  runc.arm64\n")
    try:
        proc = run_pin(site, table, "--component", "runc", "--version", "1.3.0", "--arch", "amd64")
    finally:
        sums.write_bytes(saved)
    assert proc.returncode == 0, proc.stderr
    assert "runc.sha256sum does not list runc.amd64 (it lists runc.arm64)" in proc.stdout
