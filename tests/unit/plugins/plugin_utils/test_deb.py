# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Controller-side .deb closure: real .deb files built with dpkg-deb, a recorded dpkg-query output."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.airgap.k8s.plugins.plugin_utils import _deb

pytestmark = pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb to build test packages")


def build(directory: Path, package: str, depends: str = "", provides: str = "") -> Path:
    root = directory / f"src-{package}"
    (root / "DEBIAN").mkdir(parents=True)
    control = [f"Package: {package}", "Version: 1.0-1", "Architecture: all", "Maintainer: t <t@example.org>"]
    control += [f"Depends: {depends}"] if depends else []
    control += [f"Provides: {provides}"] if provides else []
    control += ["Description: test package", " spans two lines"]
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    out = directory / f"{package}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "-Zxz", "--build", str(root), str(out)], check=True, capture_output=True)
    shutil.rmtree(root)
    return out


@pytest.fixture
def repo(tmp_path):
    build(tmp_path, "haproxy", depends="libc6 (>= 2.34), liblua5.3-0, libopentracing | libtracing-stub")
    build(tmp_path, "liblua5.3-0", depends="libc6")
    build(tmp_path, "libtracing-stub", provides="libopentracing")
    build(tmp_path, "zstd", depends="libzstd1 (>= 1.5)")
    return tmp_path


def names(debs):
    return [d.package for d in debs]


def test_reads_control_fields(repo):
    fields = _deb.read_control(str(repo / "haproxy_1.0-1_all.deb"))
    assert fields["Package"] == "haproxy"
    assert fields["Description"] == "test package spans two lines"
    assert _deb.relations(fields)[0] == ["libc6"]
    assert _deb.relations(fields)[2] == ["libopentracing", "libtracing-stub"]


def test_picks_what_the_host_lacks(repo):
    have = _deb.installed_names("libc6\tinstalled\t\nlibzstd1\tinstalled\t\nold\tconfig-files\t\n")
    debs = _deb.closure(_deb.load_dir(str(repo)), ["haproxy", "zstd"], have, str(repo))
    assert names(debs) == ["haproxy", "liblua5.3-0", "libtracing-stub", "zstd"]


def test_nothing_when_everything_is_installed(repo):
    have = _deb.installed_names("haproxy\tinstalled\t\n")
    assert _deb.closure(_deb.load_dir(str(repo)), ["haproxy"], have, str(repo)) == []


def test_a_provided_name_counts_as_installed(repo):
    have = _deb.installed_names(
        "libc6\tinstalled\t\nliblua5.3-0\tinstalled\t\nother\tinstalled\tlibopentracing (= 1)\n"
    )
    assert names(_deb.closure(_deb.load_dir(str(repo)), ["haproxy"], have, str(repo))) == ["haproxy"]


def test_a_missing_dependency_names_the_package_and_the_directory(repo):
    with pytest.raises(_deb.DebError, match=r"package libzstd1 \(needed by zstd\) is neither installed nor in"):
        _deb.closure(_deb.load_dir(str(repo)), ["zstd"], {"libc6"}, str(repo))


def test_an_empty_directory_is_an_error(tmp_path):
    with pytest.raises(_deb.DebError, match=r"no \.deb files"):
        _deb.load_dir(str(tmp_path))
