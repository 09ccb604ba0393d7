# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The pinned upstream checksums in the collection's versions table.

Every non-null pin must be a well-formed sha256, keyed by the basename of the
URL the upstream bundler (tools/bundle/upstream.py) downloads for that
version and architecture, so that a pin is never silently unused; the
bundler's plan must carry it; and a null pin must still make the bundler
refuse, naming the file and the table key.
"""

from __future__ import annotations

import re

import pytest
from _upstream import TABLE, B, upstream

ARCHES = ("amd64", "arm64")
SHA256 = re.compile(r"[0-9a-f]{64}")
# Image pins are manifest digests; the bundler accepts them with or without the prefix.
DIGEST = re.compile(r"(sha256:)?[0-9a-f]{64}")


@pytest.fixture(scope="module")
def table():
    return B.load_table(TABLE)


def _versions(table):
    for component, entry in table.items():
        if component == "os-packages":
            continue
        for version, per_version in (entry.get("versions") or {}).items():
            yield component, entry, str(version), per_version or {}


def _pins(table):
    """(component, version, arch, key, value) for every checksum slot of the table."""
    for component, _entry, version, per_version in _versions(table):
        for arch in ARCHES:
            for key, value in (per_version.get(arch) or {}).items():
                yield component, version, arch, key, value


def _required(entry, component, version, arch, kind):
    """What required_artifacts would list for one version of a component."""
    return [
        B.Required(component, version, arch, f["name"], f.get("kind", "binary"), f.get("image"))
        for f in entry.get("files") or []
        if (f.get("kind", "binary") == "image") == (kind == "image")
    ]


def test_every_pin_is_lowercase_sha256(table):
    bad = []
    for component, version, arch, key, value in _pins(table):
        if value is None:
            continue
        kinds = {f["name"]: f.get("kind", "binary") for f in table[component].get("files") or []}
        pattern = DIGEST if kinds.get(key) == "image" else SHA256
        if not isinstance(value, str) or not pattern.fullmatch(value):
            bad.append(f"{component} {version} {arch} {key}: {value!r}")
    assert not bad, "checksums must be 64 lower-case hex digits:\n" + "\n".join(bad)


def test_every_pin_key_is_a_planned_download(table):
    """A key that is not the basename of a download (or an image name) would never be checked."""
    stray = []
    for component, entry, version, per_version in _versions(table):
        for arch in ARCHES:
            pins = per_version.get(arch)
            if pins is None:
                continue
            plan = upstream.make_plan(table, _required(entry, component, version, arch, "file"))
            images = {r.name for r in _required(entry, component, version, arch, "image")}
            expected = {d.basename for d in plan.downloads} | images
            stray += [f"{component} {version} {arch} {key}" for key in pins if key not in expected]
            missing = expected - set(pins)
            stray += [f"{component} {version} {arch}: no slot for {key}" for key in sorted(missing)]
    assert not stray, "pin keys must match the upstream downloads:\n" + "\n".join(stray)


def test_pinned_checksums_reach_the_bundler_plan(table):
    pinned = [(c, v, a, k, val) for c, v, a, k, val in _pins(table) if val is not None]
    for component, version, arch, key, value in pinned:
        entry = table[component]
        kinds = {f["name"]: f.get("kind", "binary") for f in entry.get("files") or []}
        if kinds.get(key) == "image":
            plan = upstream.make_plan(table, _required(entry, component, version, arch, "image"))
            job = next(j for j in plan.images if j.req.name == key)
            assert job.digest == (value if value.startswith("sha256:") else "sha256:" + value)
            continue
        plan = upstream.make_plan(table, _required(entry, component, version, arch, "file"))
        download = next(d for d in plan.downloads if d.basename == key)
        assert download.sha256 == value, (component, version, arch, key)
        assert not [u for u in plan.unpinned if u.startswith(key + " ")], plan.unpinned


def test_flannel_cni_plugin_from_cni_plugins_0_9_1_is_pinned(table):
    """The one upstream file pinned so far (docs/bundle.md, "Pinned checksums")."""
    required = B.required_artifacts(
        table,
        {
            "kube_version": table["kubernetes"]["default"],
            "container_runtime": "containerd",
            "kube_network_plugin": "flannel",
            "flannel_cni_plugin_version": "0.9.1",
            "os": ["debian-12"],
        },
        list(ARCHES),
    )
    plan = upstream.make_plan(table, [r for r in required if r.component == "flannel-cni-plugin"])
    assert plan.unpinned == []
    base = "https://github.com/containernetworking/plugins/releases/download/v0.9.1"
    assert {d.url: d.sha256 for d in plan.downloads} == {
        f"{base}/cni-plugins-linux-amd64-v0.9.1.tgz": "962100bbc4baeaaa5748cdbfce941f756b1531c2eadb290129401498bfac21e7",
        f"{base}/cni-plugins-linux-arm64-v0.9.1.tgz": "ef17764ffd6cdcb16d76401bac1db6acc050c9b088f1be5efa0e094ea3b01df0",
    }


def test_null_pins_are_refused_naming_file_and_key(table, tmp_path, capsys):
    """The defaults are not pinned: the bundler stops before any download and says what is missing."""
    out = tmp_path / "bundle"
    rc = upstream.main(
        [
            "--kube-version",
            table["kubernetes"]["default"],
            "--container-runtime",
            "containerd",
            "--network-plugin",
            "flannel",
            "--arch",
            "amd64",
            "--os",
            "debian-12",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "cache"),
            "--no-tarball",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "refusing to download files whose checksum the versions table does not pin" in err
    version = table["kubernetes"]["default"]
    assert (
        f"kube-apiserver (https://dl.k8s.io/release/v{version}/bin/linux/amd64/kube-apiserver): "
        f"no sha256 at airgap_artifacts['kubernetes'].versions['{version}'].amd64['kube-apiserver']"
    ) in err
    etcd = table["etcd"]["default"]
    assert f"etcd-v{etcd}-linux-amd64.tar.gz (" in err
    assert f"airgap_artifacts['etcd'].versions['{etcd}'].amd64['etcd-v{etcd}-linux-amd64.tar.gz']" in err
    assert "no image digest at airgap_artifacts['pause']" in err
    assert "--allow-unpinned" in err
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "cache").exists()
