# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Host side of install_files: staged, verified, validated, then renamed; a failure replaces nothing."""

from __future__ import annotations

import grp
import gzip
import hashlib
import os
import pwd
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils import _files, _hostread

OWNER = pwd.getpwuid(os.getuid())[0]
GROUP = grp.getgrgid(os.getgid())[0]
DATA = b"\x7fELF" + bytes(range(256)) * 4000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive(tmp_path: Path, members: dict[str, bytes]) -> str:
    path = tmp_path / "transfer.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            src = tmp_path / f"member-{name}"
            src.write_bytes(data)
            tar.add(src, arcname=name)
    return str(path)


def entry(dest: Path, data: bytes, member: str | None = "0", codec: str = "none", **kw) -> dict:
    return {
        "dest": str(dest), "sha256": sha(data), "mode": "0755", "owner": OWNER, "group": GROUP,
        "member": member, "codec": codec, "validate": None, **kw,
    }  # fmt: skip


def encode(data: bytes, codec: str) -> bytes:
    if codec == "gzip":
        return gzip.compress(data)
    if codec == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout
    return data


@pytest.mark.parametrize("codec", ["none", "gzip", "zstd"])
def test_installs_each_codec(tmp_path, codec):
    if codec == "zstd" and not shutil.which("zstd"):
        pytest.skip("no zstd binary on this machine")
    dest = tmp_path / "bin" / "kubelet"
    changed = _files.install(archive(tmp_path, {"0": encode(DATA, codec)}), [entry(dest, DATA, codec=codec)])
    assert changed == [str(dest)]
    assert dest.read_bytes() == DATA
    assert _hostread.digest(str(dest))["mode"] == "0755"
    assert [p.name for p in dest.parent.iterdir()] == ["kubelet"], "no temporary file is left behind"


def test_a_wrong_checksum_replaces_nothing(tmp_path):
    ok, bad = tmp_path / "ok", tmp_path / "bad"
    ok.write_bytes(b"old ok")
    bad.write_bytes(b"old bad")
    files = [entry(ok, b"new ok", member="0"), entry(bad, b"what the manifest says", member="1")]
    with pytest.raises(_files.InstallError, match="expected"):
        _files.install(archive(tmp_path, {"0": b"new ok", "1": b"corrupted in transit"}), files)
    assert ok.read_bytes() == b"old ok", "a file that passed is not installed when another failed"
    assert bad.read_bytes() == b"old bad"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_failed_validation_replaces_nothing(tmp_path):
    unit = tmp_path / "kubelet.service"
    unit.write_text("old\n")
    files = [entry(unit, b"broken\n", validate="grep -q valid %s")]
    with pytest.raises(_files.InstallError, match="validation failed"):
        _files.install(archive(tmp_path, {"0": b"broken\n"}), files)
    assert unit.read_text() == "old\n"


def test_a_file_validates_against_the_files_before_it(tmp_path):
    """A unit whose ExecStart binary arrives in the same call: the binary is in place when the unit validates."""
    binary, unit, after = tmp_path / "bin" / "tool", tmp_path / "tool.service", tmp_path / "after.conf"
    files = [
        entry(binary, b"#!/bin/sh\nexit 0\n", member="0"),
        entry(unit, b"ExecStart=tool\n", member="1", validate=f"{binary} %s"),
        entry(after, b"broken\n", member="2", validate="grep -q valid %s"),
    ]
    members = {"0": b"#!/bin/sh\nexit 0\n", "1": b"ExecStart=tool\n", "2": b"broken\n"}
    with pytest.raises(_files.InstallError, match=r"after.conf: validation failed.*installed before it"):
        _files.install(archive(tmp_path, members), files)
    assert binary.exists() and unit.exists(), "the files before the failing one are in place"
    assert not after.exists()
    assert sorted(p.name for p in tmp_path.rglob(".*")) == [], "no temporary file is left behind"


def test_validation_sees_the_new_file(tmp_path):
    unit = tmp_path / "kubelet.service"
    files = [entry(unit, b"valid\n", validate="grep -q valid %s")]
    assert _files.install(archive(tmp_path, {"0": b"valid\n"}), files) == [str(unit)]


def test_attributes_only(tmp_path):
    key = tmp_path / "ca.key"
    key.write_bytes(b"k")
    key.chmod(0o644)
    assert _files.install(None, [entry(key, b"k", member=None, mode="0600")]) == [str(key)]
    assert _hostread.digest(str(key))["mode"] == "0600"


def test_an_unknown_owner_is_an_error(tmp_path):
    with pytest.raises(_files.InstallError, match="user 'no-such-user-x' does not exist"):
        _files.install(archive(tmp_path, {"0": b"x"}), [entry(tmp_path / "f", b"x", owner="no-such-user-x")])
    assert not (tmp_path / "f").exists()


def test_directories_are_created_and_fixed(tmp_path):
    new, old = tmp_path / "a" / "b", tmp_path / "old"
    old.mkdir(mode=0o755)
    dirs = [
        {"path": str(new), "mode": "0700", "owner": OWNER, "group": GROUP},
        {"path": str(old), "mode": "0750", "owner": OWNER, "group": GROUP},
    ]
    assert _files.ensure_directories(dirs) == [str(new), str(old)]
    assert _files.directory_state(str(new))["mode"] == "0700"
    assert _files.directory_state(str(old))["mode"] == "0750"
    assert _files.ensure_directories(dirs) == [], "a second run changes nothing"


def test_a_file_where_a_directory_is_wanted(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(_files.InstallError, match="not a directory"):
        _files.ensure_directories([{"path": str(tmp_path / "f"), "mode": "0755", "owner": OWNER, "group": GROUP}])


def test_remove(tmp_path):
    key, gone = tmp_path / "ca.key", tmp_path / "never-there"
    key.write_text("k")
    assert _files.remove([str(key), str(gone)]) == [str(key)]
    assert not key.exists()
    with pytest.raises(_files.InstallError, match="is a directory"):
        _files.remove([str(tmp_path)])
