# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""`tools/bundle/upstream.py pin`: the table editing, the checksum file formats, the URL conventions.

No network: tests/integration/test_upstream_bundler.py runs the command
against loopback stand-ins for the release sites and the registry.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml
from _upstream import TABLE, B, upstream

A = "a" * 64
C = "c" * 64


def fake(label: str) -> str:
    """A distinct, well-formed stand-in value per slot (never a real checksum)."""
    return hashlib.sha256(label.encode()).hexdigest()


def artifacts(text: str) -> dict:
    return yaml.safe_load(text)["airgap_artifacts"]


# --------------------------------------------------------------------------
# Editing the table: only the null values change


SMALL = """\
---
# A comment that must stay.
airgap_artifacts:
  etcd:
    url: "https://example.invalid/v{version}/etcd-{arch}.tgz"  # trailing comment
    versions:
      "3.6.16":
        amd64: {etcd-amd64.tgz: null}   # flow, spaced comment
        arm64: {etcd-arm64.tgz: ~}
  flannel:
    versions:
      "0.28.10":
        amd64:
          flanneld-amd64: null
          kube-flannel: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
        arm64:
          flanneld-arm64:
          kube-flannel: null  # image
"""


def test_fill_changes_only_the_null_values():
    fills = {
        ("etcd", "3.6.16", "amd64", "etcd-amd64.tgz"): A,
        ("etcd", "3.6.16", "arm64", "etcd-arm64.tgz"): A,
        ("flannel", "0.28.10", "amd64", "flanneld-amd64"): A,
        ("flannel", "0.28.10", "arm64", "flanneld-arm64"): A,
        ("flannel", "0.28.10", "arm64", "kube-flannel"): "sha256:" + C,
    }
    out = upstream.fill_table_text(SMALL, fills)
    expected = (
        SMALL.replace("{etcd-amd64.tgz: null}", f'{{etcd-amd64.tgz: "{A}"}}')
        .replace("{etcd-arm64.tgz: ~}", f'{{etcd-arm64.tgz: "{A}"}}')
        .replace("flanneld-amd64: null", f'flanneld-amd64: "{A}"')
        .replace("flanneld-arm64:\n", f'flanneld-arm64: "{A}"\n')
        .replace("kube-flannel: null  # image", f'kube-flannel: "sha256:{C}"  # image')
    )
    assert out == expected
    table = artifacts(out)
    assert table["flannel"]["versions"]["0.28.10"]["arm64"] == {"flanneld-arm64": A, "kube-flannel": "sha256:" + C}


def test_fill_with_nothing_to_do_is_the_identity():
    assert upstream.fill_table_text(SMALL, {}) == SMALL


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("flannel", "0.28.10", "amd64", "kube-flannel"), "already pinned; pins are never overwritten"),
        (("flannel", "0.28.10", "amd64", "nope"), "is not in the table"),
        (("flannel", "9.9.9", "amd64", "flanneld-amd64"), "no airgap_artifacts['flannel'].versions['9.9.9'].amd64"),
    ],
)
def test_fill_never_overwrites_and_never_invents_a_slot(path, message):
    with pytest.raises(upstream.TableEditError, match=message.replace("[", r"\[").replace("]", r"\]")):
        upstream.fill_table_text(SMALL, {path: A})


ANCHORED = """\
---
airgap_artifacts:
  kubernetes:
    versions:
      "1.37.2":
        amd64: &k8s_unpinned
          kube-apiserver: null
          kubelet: null
        arm64: *k8s_unpinned
      "1.36.3":
        amd64: *k8s_unpinned
        arm64: *k8s_unpinned  # shared
"""


def test_an_alias_that_gets_values_becomes_its_own_copy():
    out = upstream.fill_table_text(ANCHORED, {("kubernetes", "1.36.3", "amd64", "kubelet"): A})
    assert out == ANCHORED.replace(
        '"1.36.3":\n        amd64: *k8s_unpinned\n',
        f'"1.36.3":\n        amd64:\n          kube-apiserver: null\n          kubelet: "{A}"\n',
    )
    table = artifacts(out)["kubernetes"]["versions"]
    assert table["1.36.3"]["amd64"] == {"kube-apiserver": None, "kubelet": A}
    assert table["1.36.3"]["arm64"] == table["1.37.2"]["amd64"] == {"kube-apiserver": None, "kubelet": None}


def test_filling_the_anchor_copies_it_to_every_alias_first_and_drops_it():
    fills = {
        ("kubernetes", "1.37.2", "amd64", "kube-apiserver"): A,
        ("kubernetes", "1.36.3", "arm64", "kubelet"): C,
    }
    out = upstream.fill_table_text(ANCHORED, fills)
    null_copy = "\n          kube-apiserver: null\n          kubelet: null"
    assert out == (
        "---\n"
        "airgap_artifacts:\n"
        "  kubernetes:\n"
        "    versions:\n"
        '      "1.37.2":\n'
        "        amd64:\n"
        f'          kube-apiserver: "{A}"\n'
        "          kubelet: null\n"
        f"        arm64:{null_copy}\n"
        '      "1.36.3":\n'
        f"        amd64:{null_copy}\n"
        f'        arm64:\n          kube-apiserver: null\n          kubelet: "{C}"  # shared\n'
    )
    assert "&" not in out and "*" not in out
    table = artifacts(out)["kubernetes"]["versions"]
    assert table["1.37.2"]["amd64"] == {"kube-apiserver": A, "kubelet": None}
    assert table["1.36.3"]["arm64"] == {"kube-apiserver": None, "kubelet": C}


def test_a_flow_anchor_is_copied_in_flow_style():
    text = (
        "---\nairgap_artifacts:\n  k:\n    versions:\n      '1':\n"
        "        amd64: &k {a: null, b: null}\n        arm64: *k\n"
    )
    out = upstream.fill_table_text(text, {("k", "1", "amd64", "a"): A})
    assert out == (
        "---\nairgap_artifacts:\n  k:\n    versions:\n      '1':\n"
        f'        amd64: {{a: "{A}", b: null}}\n        arm64: {{a: null, b: null}}\n'
    )
    assert artifacts(out)["k"]["versions"]["1"] == {"amd64": {"a": A, "b": None}, "arm64": {"a": None, "b": None}}


def test_an_anchor_also_used_elsewhere_is_refused():
    text = "---\nairgap_artifacts:\n  k:\n    versions:\n      '1':\n        amd64: &k {a: null}\n  other: *k\n"
    with pytest.raises(upstream.TableEditError, match="also used outside"):
        upstream.fill_table_text(text, {("k", "1", "amd64", "a"): A})


def test_the_real_table_filled_completely_stays_the_same_table_and_lint_clean():
    """Every null of the collection's table filled: it loads as expected, lines fit yamllint, nothing else moved."""
    text = TABLE.read_text()
    before = B.load_table(TABLE)
    fills = {
        s.path: ("sha256:" if s.kind == "image" else "") + fake("/".join(s.path))
        for s in upstream.table_slots(before)
        if s.current is None
    }
    assert len(fills) > 50
    out = upstream.fill_table_text(text, fills)
    after = artifacts(out)
    expected = json.loads(json.dumps(before))
    for (component, version, arch, key), value in fills.items():
        expected[component]["versions"][version][arch][key] = value
    assert json.loads(json.dumps(after)) == expected
    too_long = [line for line in out.splitlines() if len(line) > upstream.YAMLLINT_LINE_LENGTH]
    assert not too_long
    # Outside the kubernetes entry (whose anchor had to become copies), putting
    # the nulls back gives the original text byte for byte.
    restored = out
    for value in fills.values():
        restored = restored.replace(f'"{value}"', "null")
    start = text.index("\n  etcd:\n")
    assert restored[restored.index("\n  etcd:\n") :] == text[start:]
    assert restored[: restored.index("\n  kubernetes:\n")] == text[: text.index("\n  kubernetes:\n")]


def test_write_pins_checks_the_result_and_keeps_the_file_mode(tmp_path):
    table = tmp_path / "artifacts.yml"
    table.write_text(SMALL)
    table.chmod(0o640)
    warnings = upstream.write_pins(table, {("etcd", "3.6.16", "amd64", "etcd-amd64.tgz"): A})
    assert warnings == []
    assert B.load_table(table)["etcd"]["versions"]["3.6.16"]["amd64"] == {"etcd-amd64.tgz": A}
    assert table.stat().st_mode & 0o777 == 0o640
    assert not list(tmp_path.glob("*.part"))


def test_write_pins_warns_about_lines_yamllint_refuses(tmp_path):
    table = tmp_path / "artifacts.yml"
    table.write_text(
        "---\nairgap_artifacts:\n  c:\n    versions:\n      '1':\n        amd64: {a: null, b: null, c: null}\n"
    )
    fills = {("c", "1", "amd64", k): A for k in "abc"}
    warnings = upstream.write_pins(table, fills)
    assert len(warnings) == 1
    assert f"{table}:6: " in warnings[0]
    assert "write that mapping in block style" in warnings[0]


# --------------------------------------------------------------------------
# Published checksum files


@pytest.mark.parametrize(
    "text",
    [
        f"{A}\n",  # dl.k8s.io kubelet.sha256, crictl .tar.gz.sha256
        f"{A}  runc.amd64\n",  # sha256sum
        f"{A} *runc.amd64\n",  # sha256sum -b
        f"{A.upper()}  ./release/runc.amd64\n",  # a path, upper case
        f"SHA256 (runc.amd64) = {A}\n",  # BSD
        f"# runc 1.5.2\n{C}  libseccomp-2.5.6.tar.gz\n{A}  runc.amd64\n{C}  runc.arm64\n\n",  # runc.sha256sum
    ],
)
def test_published_sha256_formats(text):
    assert upstream.published_sha256(text, "runc.amd64", "runc.sha256sum") == A


def test_published_sha256_missing_and_malformed():
    with pytest.raises(upstream.NotPublishedError, match=r"SHA256SUMS does not list etcd-v1-linux-amd64\.tar\.gz"):
        upstream.published_sha256(f"{A}  etcd-v1-linux-arm64.tar.gz\n", "etcd-v1-linux-amd64.tar.gz", "SHA256SUMS")
    with pytest.raises(upstream.BundlerError, match="line 1 is not a sha256 line"):
        upstream.published_sha256("<html>Not Found</html>\n", "kubelet", "kubelet.sha256")
    with pytest.raises(upstream.BundlerError, match="is empty"):
        upstream.published_sha256("\n", "kubelet", "kubelet.sha256")
    with pytest.raises(upstream.BundlerError, match="2 different sha256 values"):
        upstream.published_sha256(f"{A}  f\n{C}  f\n", "f", "SUMS")
    with pytest.raises(upstream.BundlerError, match="2 digests without file names"):
        upstream.published_sha256(f"{A}\n{C}\n", "f", "f.sha256")


# --------------------------------------------------------------------------
# Where each project publishes its checksums (the table's checksum_url)


@pytest.fixture(scope="module")
def slots():
    return {s.path: s for s in upstream.table_slots(B.load_table(TABLE))}


GH = "https://github.com"


@pytest.mark.parametrize(
    ("path", "url", "checksum_url"),
    [
        (
            ("kubernetes", "1.36.3", "arm64", "kubelet"),
            "https://dl.k8s.io/release/v1.36.3/bin/linux/arm64/kubelet",
            "https://dl.k8s.io/release/v1.36.3/bin/linux/arm64/kubelet.sha256",
        ),
        (
            ("etcd", "3.6.16", "amd64", "etcd-v3.6.16-linux-amd64.tar.gz"),
            f"{GH}/etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz",
            f"{GH}/etcd-io/etcd/releases/download/v3.6.16/SHA256SUMS",
        ),
        (
            ("containerd", "2.4.2", "amd64", "containerd-2.4.2-linux-amd64.tar.gz"),
            f"{GH}/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz",
            f"{GH}/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz.sha256sum",
        ),
        (
            ("runc", "1.5.2", "arm64", "runc.arm64"),
            f"{GH}/opencontainers/runc/releases/download/v1.5.2/runc.arm64",
            f"{GH}/opencontainers/runc/releases/download/v1.5.2/runc.sha256sum",
        ),
        (
            ("cni-plugins", "1.9.1", "amd64", "cni-plugins-linux-amd64-v1.9.1.tgz"),
            f"{GH}/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz",
            f"{GH}/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256",
        ),
        (
            ("crictl", "1.36.0", "amd64", "crictl-v1.36.0-linux-amd64.tar.gz"),
            f"{GH}/kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-amd64.tar.gz",
            f"{GH}/kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-amd64.tar.gz.sha256",
        ),
        (
            ("flannel-cni-plugin", "1.9.1-flannel3", "arm64", "cni-plugin-flannel-linux-arm64-v1.9.1-flannel3.tgz"),
            f"{GH}/flannel-io/cni-plugin/releases/download/v1.9.1-flannel3/"
            "cni-plugin-flannel-linux-arm64-v1.9.1-flannel3.tgz",
            f"{GH}/flannel-io/cni-plugin/releases/download/v1.9.1-flannel3/"
            "cni-plugin-flannel-linux-arm64-v1.9.1-flannel3.tgz.sha256",
        ),
        # A version with its own url has its own checksum_url (never the component's).
        (
            ("flannel-cni-plugin", "0.9.1", "amd64", "cni-plugins-linux-amd64-v0.9.1.tgz"),
            f"{GH}/containernetworking/plugins/releases/download/v0.9.1/cni-plugins-linux-amd64-v0.9.1.tgz",
            f"{GH}/containernetworking/plugins/releases/download/v0.9.1/cni-plugins-linux-amd64-v0.9.1.tgz.sha256",
        ),
        # These projects publish no checksum next to the download.
        (
            ("cri-dockerd", "0.4.3", "amd64", "cri-dockerd-0.4.3.amd64.tgz"),
            f"{GH}/Mirantis/cri-dockerd/releases/download/v0.4.3/cri-dockerd-0.4.3.amd64.tgz",
            None,
        ),
        (
            ("docker", "29.9.3", "arm64", "docker-29.9.3.tgz"),
            "https://download.docker.com/linux/static/stable/aarch64/docker-29.9.3.tgz",
            None,
        ),
        (
            ("flannel", "0.28.10", "amd64", "flanneld-amd64"),
            f"{GH}/flannel-io/flannel/releases/download/v0.28.10/flanneld-amd64",
            None,
        ),
    ],
)
def test_checksum_urls_of_the_real_table(slots, path, url, checksum_url):
    slot = slots[path]
    assert (slot.kind, slot.url, slot.checksum_url, slot.problem) == ("download", url, checksum_url, None)


def test_checksum_url_placeholders_and_per_version_urls():
    table = artifacts(
        """\
---
airgap_artifacts:
  tool:
    files:
      - {name: tool, kind: binary}
    url: "https://example.invalid/v{version}/tool-{uarch}"
    arch_names: {amd64: x86_64}
    checksum_url: "{url}.sha256"
    versions:
      "1.0":
        amd64: {tool-x86_64: null}
      "0.9":
        # Downloaded from elsewhere: the component's checksum_url does not apply.
        url: "https://old.example.invalid/{version}/tool.{arch}"
        amd64: {tool.amd64: null}
      "0.8":
        url: "https://old.example.invalid/{version}/tool.{arch}"
        checksum_url: "https://old.example.invalid/{version}/SUMS-{file}"
        amd64: {tool.amd64: null}
"""
    )
    got = {s.version: (s.url, s.checksum_url) for s in upstream.table_slots(table)}
    assert got == {
        "1.0": ("https://example.invalid/v1.0/tool-x86_64", "https://example.invalid/v1.0/tool-x86_64.sha256"),
        "0.9": ("https://old.example.invalid/0.9/tool.amd64", None),
        "0.8": ("https://old.example.invalid/0.8/tool.amd64", "https://old.example.invalid/0.8/SUMS-tool.amd64"),
    }


def test_every_slot_of_the_real_table_is_resolvable(slots):
    assert not [s.label() + ": " + s.problem for s in slots.values() if s.problem]
    images = {p: s.image for p, s in slots.items() if s.kind == "image"}
    assert images[("pause", "3.10.2", "arm64", "pause")] == "registry.k8s.io/pause:3.10.2"
    assert images[("flannel", "0.28.10", "amd64", "kube-flannel")] == "ghcr.io/flannel-io/flannel:v0.28.10"
    # Every download of a component that publishes checksums has a checksum_url.
    without = {s.component for s in slots.values() if s.kind == "download" and not s.checksum_url}
    assert without == {"cri-dockerd", "docker", "flannel"}


def test_select_slots_filters(slots):
    every = list(slots.values())
    chosen = upstream.select_slots(every, ["etcd", "runc"], ["3.6.16", "runc=1.5.2"], ["amd64"])
    assert [s.label() for s in chosen] == [
        "etcd 3.6.16 amd64 etcd-v3.6.16-linux-amd64.tar.gz",
        "runc 1.5.2 amd64 runc.amd64",
    ]
    assert len(upstream.select_slots(every, [], ["v1.36.3"], [])) == 12
    with pytest.raises(upstream.BundlerError, match="--component etcdd: not in the versions table"):
        upstream.select_slots(every, ["etcdd"], [], [])
    with pytest.raises(upstream.BundlerError, match=r"--version etcd=9\.9\.9: no such version"):
        upstream.select_slots(every, [], ["etcd=9.9.9"], [])


# --------------------------------------------------------------------------
# Image digests


def _index(*platforms: tuple[str, str, str | None]) -> bytes:
    manifests = []
    for digest, arch, variant in platforms:
        platform = {"os": "linux", "architecture": arch} | ({"variant": variant} if variant else {})
        manifests.append(
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "platform": platform}
        )
    return json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()


def test_a_list_resolves_to_the_architecture_entry(monkeypatch):
    raw = _index(("sha256:" + A, "amd64", None), ("sha256:" + "b" * 64, "arm", "v7"), ("sha256:" + C, "arm64", "v8"))
    asked = []

    def run(cmd, label, timeout):
        asked.append(cmd)
        return raw

    monkeypatch.setattr(upstream, "_run_bytes", run)
    resolver = upstream.DigestResolver("127.0.0.1:5000", True, 10)
    digest, list_digest, source = resolver.resolve("registry.k8s.io/pause:3.10.2", "arm64")
    assert digest == "sha256:" + C
    assert list_digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert source == "docker://registry.k8s.io/pause:3.10.2"
    assert asked == [
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://127.0.0.1:5000/registry.k8s.io/pause:3.10.2"]
    ]
    with pytest.raises(upstream.NotPublishedError, match="has no linux/s390x image"):
        resolver.resolve("registry.k8s.io/pause:3.10.2", "s390x")


def test_a_single_platform_image_must_be_of_that_architecture(monkeypatch):
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + C}, "layers": []}).encode()
    top = "sha256:" + hashlib.sha256(manifest).hexdigest()

    def run(cmd, label, timeout):
        if "--config" in cmd:
            assert cmd[-1] == f"docker://quay.io/calico/node@{top}"
            return json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        return manifest

    monkeypatch.setattr(upstream, "_run_bytes", run)
    resolver = upstream.DigestResolver(None, False, 10)
    assert resolver.resolve("quay.io/calico/node:v3.33.1", "amd64") == (
        top,
        None,
        "docker://quay.io/calico/node:v3.33.1",
    )
    with pytest.raises(upstream.NotPublishedError, match="single-platform image for amd64, not arm64"):
        resolver.resolve("quay.io/calico/node:v3.33.1", "arm64")
