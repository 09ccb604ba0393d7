# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The install_files action against a fake host: the module's own code runs on a directory here.

The connection is replaced by a recorder: module runs call the host module's
main() in-process, put_file copies locally. So these tests see exactly what
would cross the wire: how many module runs, whether an archive was sent and
which files were in it.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import sys
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ansible.errors import AnsibleActionFail
from fake_wire import FakeWire, connection

from ansible_collections.airgap.k8s.plugins.action.install_files import ActionModule
from ansible_collections.airgap.k8s.plugins.modules import install_files as module

OWNER = pwd.getpwuid(os.getuid())[0]
GROUP = grp.getgrgid(os.getgid())[0]


class FakeHost(FakeWire, ActionModule):
    """install_files with the wire replaced: records module runs and transfers."""

    def __init__(self, args: dict[str, Any], root: Path, run_module: Any, check: bool = False) -> None:
        task = SimpleNamespace(
            args=args, check_mode=check, diff=False, async_val=0, action="airgap.k8s.install_files", _role=None
        )
        super().__init__(task, connection(), None, None, None)
        self.root, self.run_module, self.runs, self.sent = root, run_module, [], []

    def _execute_module(self, module_name=None, module_args=None, task_vars=None, **kw):
        self.runs.append(module_args["stage"])
        result = self.run_module(module.main, module_args, check_mode=self._task.check_mode).result
        return result

    def _transfer_file(self, local_path, remote_path):
        with tarfile.open(local_path) as tar:
            self.sent.append(sorted(tar.getnames()))
        return super()._transfer_file(local_path, remote_path)


@pytest.fixture
def bundle(tmp_path):
    b = tmp_path / "bundle"
    (b / "k8s").mkdir(parents=True)
    data = os.urandom(200 * 1024)  # random: compresses badly, but goes through the codec path
    (b / "k8s" / "kubelet").write_bytes(data)
    manifest = {"artifacts": [{"path": "k8s/kubelet", "sha256": hashlib.sha256(data).hexdigest()}]}
    (b / "manifest.json").write_text(json.dumps(manifest))
    return b


def args(tmp_path: Path, bundle: Path, **extra: Any) -> dict[str, Any]:
    host = tmp_path / "host"
    files = [
        {"src": "k8s/kubelet", "dest": str(host / "bin" / "kubelet"), "mode": "0755"},
        {"content": "[Unit]\n", "dest": str(host / "kubelet.service")},
    ]
    base = {
        "bundle_dir": str(bundle),
        "cache_dir": str(tmp_path / "cache"),
        "directories": [{"path": str(host / "pki"), "mode": "0700", "owner": OWNER, "group": GROUP}],
        "files": [dict(f, owner=OWNER, group=GROUP) for f in files],
    }
    return {**base, **extra}


def test_first_run_sends_one_archive_second_run_reads_only(tmp_path, bundle, run_module):
    first = FakeHost(args(tmp_path, bundle), tmp_path, run_module)
    res = first.run(task_vars={})
    assert res["changed"] is True
    assert first.runs == ["read", "install"], "one read, one install"
    assert first.sent == [["0", "1"]], "one archive with both files"
    assert (tmp_path / "host" / "bin" / "kubelet").read_bytes() == (bundle / "k8s" / "kubelet").read_bytes()

    second = FakeHost(args(tmp_path, bundle), tmp_path, run_module)
    res = second.run(task_vars={})
    assert res["changed"] is False
    assert second.runs == ["read"], "a converged host costs one module run"
    assert second.sent == [] and res["sent_bytes"] == 0
    assert not (tmp_path / "remote-tmp").exists(), "no remote temporary directory on the fast path"


def test_only_the_differing_file_travels(tmp_path, bundle, run_module):
    FakeHost(args(tmp_path, bundle), tmp_path, run_module).run(task_vars={})
    changed = args(tmp_path, bundle)
    changed["files"][1]["content"] = "[Unit]\nDescription=new\n"
    host = FakeHost(changed, tmp_path, run_module)
    res = host.run(task_vars={})
    assert res["changed_files"] == [str(tmp_path / "host" / "kubelet.service")]
    assert host.sent == [["0"]], "the kubelet binary is not sent again"


def test_a_mode_difference_is_fixed_without_a_transfer(tmp_path, bundle, run_module):
    FakeHost(args(tmp_path, bundle), tmp_path, run_module).run(task_vars={})
    (tmp_path / "host" / "bin" / "kubelet").chmod(0o700)
    host = FakeHost(args(tmp_path, bundle), tmp_path, run_module)
    res = host.run(task_vars={})
    assert res["changed"] is True and host.sent == []
    assert host.runs == ["read", "install"]
    assert oct((tmp_path / "host" / "bin" / "kubelet").stat().st_mode & 0o777) == "0o755"


def test_check_mode_reports_and_sends_nothing(tmp_path, bundle, run_module):
    host = FakeHost(args(tmp_path, bundle), tmp_path, run_module, check=True)
    res = host.run(task_vars={})
    assert res["changed"] is True
    assert host.runs == ["read"] and host.sent == []
    assert not (tmp_path / "host" / "bin" / "kubelet").exists()


def test_a_bundle_file_missing_from_the_manifest_fails_before_the_host_is_read(tmp_path, bundle, run_module):
    bad = args(tmp_path, bundle)
    bad["files"][0]["src"] = "k8s/kube-proxy"
    host = FakeHost(bad, tmp_path, run_module)
    with pytest.raises(AnsibleActionFail, match=r"k8s/kube-proxy is not in .*manifest.json"):
        host.run(task_vars={})
    assert host.runs == []


def test_a_tampered_bundle_file_is_refused_on_the_host(tmp_path, bundle, run_module):
    (bundle / "k8s" / "kubelet").write_bytes(b"tampered after bundle_verify")
    host = FakeHost(args(tmp_path, bundle, compress="none"), tmp_path, run_module)
    with pytest.raises(AnsibleActionFail, match="expected"):
        host.run(task_vars={})
    assert not (tmp_path / "host" / "bin" / "kubelet").exists()


# The read as a plain script (module_utils/_hostread.py run by the host's
# Python), used when the task knows the interpreter: here this test's own.
PYTHON = {"ansible_python_interpreter": sys.executable}


def test_with_a_known_interpreter_the_read_is_a_script_not_a_module_run(tmp_path, bundle, run_module):
    first = FakeHost(args(tmp_path, bundle), tmp_path, run_module)
    assert first.run(task_vars=PYTHON)["changed"] is True
    assert first.runs == ["script", "install"]
    second = FakeHost(args(tmp_path, bundle), tmp_path, run_module)
    res = second.run(task_vars=PYTHON)
    assert res["changed"] is False and second.runs == ["script"] and second.sent == []


def test_a_file_changed_behind_the_digest_cache_is_seen(tmp_path, bundle, run_module):
    """Same size, mtime put back: only the ctime tells, and the cached sha256 is not trusted."""
    FakeHost(args(tmp_path, bundle), tmp_path, run_module).run(task_vars=PYTHON)
    reader = FakeHost(args(tmp_path, bundle), tmp_path, run_module)
    reader.SETTLE_NS = 0  # cache files written a moment ago (the default waits until they are 2 s old)
    reader.run(task_vars=PYTHON)
    time.sleep(0.05)  # past the kernel's clock tick, so the rewrite below gets another ctime
    cache = json.loads(next((tmp_path / "cache" / "digests").glob("*.json")).read_text())
    kubelet = tmp_path / "host" / "bin" / "kubelet"
    assert str(kubelet) in cache, "the second read filled the cache"
    st = kubelet.stat()
    data = bytearray(kubelet.read_bytes())
    data[0] ^= 0xFF
    kubelet.write_bytes(bytes(data))
    os.utime(kubelet, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert kubelet.stat().st_size == st.st_size and kubelet.stat().st_mtime_ns == st.st_mtime_ns
    host = FakeHost(args(tmp_path, bundle), tmp_path, run_module)
    res = host.run(task_vars=PYTHON)
    assert res["changed_files"] == [str(kubelet)], res
    assert kubelet.read_bytes() == (bundle / "k8s" / "kubelet").read_bytes()


def test_a_host_where_the_script_cannot_run_is_read_by_the_module(tmp_path, bundle, run_module):
    host = FakeHost(args(tmp_path, bundle), tmp_path, run_module)
    res = host.run(task_vars={"ansible_python_interpreter": str(tmp_path / "no-such-python")})
    assert res["changed"] is True
    assert host.runs == ["script", "read", "install"]


def test_a_relative_path_fails_in_the_script_read(tmp_path, bundle, run_module):
    bad = args(tmp_path, bundle)
    bad["files"][1]["dest"] = "relative/kubelet.service"
    host = FakeHost(bad, tmp_path, run_module)
    with pytest.raises(AnsibleActionFail, match=r"'relative/kubelet\.service' is not an absolute path"):
        host.run(task_vars=PYTHON)
    assert host.runs == ["script"]


# require: files an earlier stage installs, read in the same read.
@pytest.mark.parametrize("task_vars", [{}, PYTHON], ids=["module-read", "script-read"])
def test_a_missing_required_file_fails_before_anything_changes(tmp_path, bundle, run_module, task_vars):
    need = [str(tmp_path / "cni" / "bridge"), str(tmp_path / "cni" / "loopback")]
    (tmp_path / "cni").mkdir()
    (tmp_path / "cni" / "bridge").write_bytes(b"plugin")
    host = FakeHost(
        args(tmp_path, bundle, require=need, require_msg="Run the runtime stage first."), tmp_path, run_module
    )
    with pytest.raises(AnsibleActionFail, match=rf"^Run the runtime stage first\. Missing: {need[1]}\.$"):
        host.run(task_vars=task_vars)
    assert host.runs in (["read"], ["script"]) and host.sent == []
    assert not (tmp_path / "host").exists(), "nothing was installed"

    (tmp_path / "cni" / "loopback").write_bytes(b"plugin")
    present = FakeHost(args(tmp_path, bundle, require=need), tmp_path, run_module)
    res = present.run(task_vars=task_vars)
    assert res["changed"] is True and (tmp_path / "host" / "bin" / "kubelet").exists()


def test_a_missing_required_file_does_not_fail_check_mode(tmp_path, bundle, run_module):
    need = [str(tmp_path / "cni" / "bridge")]
    host = FakeHost(args(tmp_path, bundle, require=need), tmp_path, run_module, check=True)
    res = host.run(task_vars={})
    assert res["changed"] is True and host.sent == []
