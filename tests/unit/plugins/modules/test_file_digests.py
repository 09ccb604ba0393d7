# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Unit tests for the airgap.k8s.file_digests module, run through main()."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd

from ansible_collections.airgap.k8s.plugins.modules import file_digests


def test_reports_each_file(run_module, tmp_path):
    binary = tmp_path / "kubelet"
    binary.write_bytes(b"\x7fELF" + bytes(range(256)) * 5000)
    binary.chmod(0o755)
    key = tmp_path / "ca.key"
    key.write_text("secret\n")
    key.chmod(0o600)
    missing = tmp_path / "absent"
    run = run_module(file_digests.main, {"paths": [str(binary), str(key), str(missing), str(tmp_path)]})
    assert not run.failed, run.output
    assert run.result["changed"] is False
    files = run.result["files"]
    owner = pwd.getpwuid(os.getuid())[0]
    group = grp.getgrgid(os.getgid())[0]
    assert files[str(binary)] == {
        "exists": True,
        "sha256": hashlib.sha256(binary.read_bytes()).hexdigest(),
        "mode": "0755",
        "owner": owner,
        "group": group,
    }
    assert files[str(key)]["mode"] == "0600"
    assert files[str(key)]["sha256"] == hashlib.sha256(b"secret\n").hexdigest()
    assert files[str(missing)] == {"exists": False}
    assert files[str(tmp_path)] == {"exists": False}, "a directory is not a file"


def test_check_mode_reads_the_same(run_module, tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    normal = run_module(file_digests.main, {"paths": [str(path)]})
    check = run_module(file_digests.main, {"paths": [str(path)]}, check_mode=True)
    assert check.result["files"] == normal.result["files"]


def test_relative_path_is_refused(run_module):
    run = run_module(file_digests.main, {"paths": ["usr/local/bin/kubelet"]})
    assert run.failed
    assert "not an absolute path" in run.result["msg"]


def test_docs_match_the_argument_spec(documented_spec):
    documented, actual = documented_spec(file_digests)
    assert documented == actual
