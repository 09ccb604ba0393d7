# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Unit tests for the host side of airgap.k8s.install_files, run through main()."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import tarfile

from ansible_collections.airgap.k8s.plugins.modules import install_files

OWNER = pwd.getpwuid(os.getuid())[0]
GROUP = grp.getgrgid(os.getgid())[0]


def test_read_reports_files_directories_and_codecs(run_module, tmp_path):
    f = tmp_path / "kubelet.service"
    f.write_text("[Unit]\n")
    run = run_module(
        install_files.main,
        {
            "stage": "read",
            "files": [{"dest": str(f)}, {"dest": str(tmp_path / "absent")}],
            "directories": [{"path": str(tmp_path)}],
            "read_content": [str(f)],
        },
        check_mode=True,
    )
    assert not run.failed, run.output
    assert run.result["changed"] is False
    assert run.result["files"][str(f)]["sha256"] == hashlib.sha256(b"[Unit]\n").hexdigest()
    assert run.result["files"][str(tmp_path / "absent")] == {"exists": False}
    assert run.result["directories"][str(tmp_path)]["exists"] is True
    assert "gzip" in run.result["codecs"]
    assert run.result["content"] == {str(f): "[Unit]\n"}


def test_install_stage_installs_and_removes_the_archive(run_module, tmp_path):
    src = tmp_path / "payload"
    src.write_bytes(b"payload")
    tar_path = tmp_path / "transfer.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(src, arcname="0")
    dest = tmp_path / "etc" / "payload"
    run = run_module(
        install_files.main,
        {
            "archive": str(tar_path),
            "directories": [{"path": str(tmp_path / "etc"), "mode": "0700", "owner": OWNER, "group": GROUP}],
            "files": [
                {"dest": str(dest), "sha256": hashlib.sha256(b"payload").hexdigest(), "mode": "0600",
                 "owner": OWNER, "group": GROUP, "member": "0", "codec": "none"},
            ],
        },
    )  # fmt: skip
    assert not run.failed, run.output
    assert run.result["changed"] is True
    assert run.result["changed_files"] == [str(dest)]
    assert run.result["changed_directories"] == [str(tmp_path / "etc")]
    assert dest.read_bytes() == b"payload"
    assert not tar_path.exists(), "the transferred archive is removed"


def test_absent_paths_are_read_and_removed(run_module, tmp_path):
    key = tmp_path / "ca.key"
    key.write_text("secret")
    read = run_module(install_files.main, {"stage": "read", "absent": [str(key)]}, check_mode=True)
    assert read.result["files"][str(key)]["exists"] is True
    run = run_module(install_files.main, {"absent": [str(key)]})
    assert not run.failed, run.output
    assert run.result["changed"] is True
    assert run.result["removed_files"] == [str(key)]
    assert not key.exists()
    again = run_module(install_files.main, {"absent": [str(key)]})
    assert again.result["changed"] is False


def test_install_failure_names_the_file(run_module, tmp_path):
    src = tmp_path / "payload"
    src.write_bytes(b"tampered")
    tar_path = tmp_path / "transfer.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(src, arcname="0")
    dest = tmp_path / "payload.out"
    run = run_module(
        install_files.main,
        {"archive": str(tar_path), "files": [{"dest": str(dest), "sha256": "0" * 64, "owner": OWNER, "group": GROUP,
                                               "member": "0", "codec": "none"}]},
    )  # fmt: skip
    assert run.failed
    assert str(dest) in run.result["msg"] and "expected" in run.result["msg"]
    assert not dest.exists()


def test_relative_path_is_refused(run_module):
    run = run_module(install_files.main, {"stage": "read", "files": [{"dest": "etc/x"}]})
    assert run.failed
    assert "not an absolute path" in run.result["msg"]


def test_docs_match_the_argument_spec(documented_spec):
    documented, actual = documented_spec(install_files)
    assert documented == actual
