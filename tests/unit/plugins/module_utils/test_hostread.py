# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""module_utils/_hostread: the host read that also runs as a plain script (python3 -c, JSON in and out)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ansible_collections.airgap.k8s.plugins.module_utils import _hostread

SOURCE = Path(_hostread.__file__).read_text(encoding="utf-8")


def script(request: dict) -> dict:
    """What the action plugin does: this file's source as a script, the request on stdin."""
    proc = subprocess.run(
        [sys.executable, "-I", "-c", SOURCE], input=json.dumps(request), capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def test_the_script_reads_files_directories_and_text(tmp_path):
    f = tmp_path / "kubelet.conf"
    f.write_text("apiVersion: v1\n")
    f.chmod(0o600)
    answer = script(
        {
            "files": [str(f), str(tmp_path / "missing"), str(tmp_path)],
            "directories": [str(tmp_path), str(f)],
            "read_content": [str(f)],
        }
    )
    have = answer["files"][str(f)]
    assert have["exists"] and have["mode"] == "0600"
    assert have["sha256"] == hashlib.sha256(b"apiVersion: v1\n").hexdigest()
    assert have["signature"] == [], "written a moment ago: not cached yet"
    assert answer["files"][str(tmp_path / "missing")] == {"exists": False}
    assert answer["files"][str(tmp_path)] == {"exists": False}, "a directory is not a file"
    assert answer["directories"][str(tmp_path)]["exists"] is True
    assert answer["directories"][str(f)] == {"exists": False, "other": True}
    assert answer["content"] == {str(f): "apiVersion: v1\n"}
    assert "gzip" in answer["codecs"]


def test_the_script_answers_a_relative_path_with_a_failure(tmp_path):
    answer = script({"files": ["etc/kubernetes/kubelet.conf"]})
    assert answer == {
        "failed": True,
        "msg": "cannot read the host: 'etc/kubernetes/kubelet.conf' is not an absolute path",
    }


def test_a_file_changed_in_the_last_two_seconds_gets_no_signature_to_cache(tmp_path):
    f = tmp_path / "kubelet"
    f.write_bytes(b"binary")
    assert _hostread.digest(str(f))["signature"] == []
    assert _hostread.digest(str(f), settle_ns=0)["signature"] == _hostread.signature(f.stat())


def test_a_known_signature_spares_the_hash_and_any_change_of_it_does_not(tmp_path):
    f = tmp_path / "kubelet"
    f.write_bytes(b"binary")
    sig = _hostread.signature(f.stat())
    # The cached sha256 is believed while the signature holds (here a made-up one, to see it used) ...
    assert _hostread.digest(str(f), [*sig, "cached"])["sha256"] == "cached"
    # ... and not once any of inode, size, mtime or ctime differs.
    real = hashlib.sha256(b"binary").hexdigest()
    for index in range(4):
        other = list(sig)
        other[index] += 1
        assert _hostread.digest(str(f), [*other, "cached"])["sha256"] == real


def test_a_rewrite_with_the_same_size_and_mtime_changes_the_signature(tmp_path):
    f = tmp_path / "kubelet"
    f.write_bytes(b"binary")
    before = f.stat()
    time.sleep(0.05)  # past the kernel's clock tick
    f.write_bytes(b"BINARY")
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _hostread.signature(f.stat()) != _hostread.signature(before), "ctime moved"
