# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The deb_install action: what it sends for a given dpkg status (the host side is recorded, not run)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ansible.errors import AnsibleActionFail
from fake_wire import FakeWire, connection

from ansible_collections.airgap.k8s.plugins.action.deb_install import ActionModule

pytestmark = pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb to build test packages")


def build(directory: Path, package: str, depends: str = "") -> None:
    root = directory / f"src-{package}"
    (root / "DEBIAN").mkdir(parents=True)
    control = [f"Package: {package}", "Version: 1", "Architecture: all", "Maintainer: t <t@example.org>"]
    control += [f"Depends: {depends}"] if depends else []
    (root / "DEBIAN" / "control").write_text("\n".join([*control, "Description: test"]) + "\n")
    subprocess.run(["dpkg-deb", "--build", str(root), str(directory / f"{package}_1_all.deb")], check=True,
                   capture_output=True)  # fmt: skip
    shutil.rmtree(root)


class Host(FakeWire, ActionModule):
    def __init__(self, args: dict[str, Any], status: str, root: Path, check: bool = False) -> None:
        task = SimpleNamespace(args=args, check_mode=check, diff=False, async_val=0, action="airgap.k8s.deb_install")
        super().__init__(task, connection(), None, None, None)
        self.status, self.root, self.runs, self.sent = status, root, [], []

    def _low_level_execute_command(self, cmd, sudoable=True, in_data=None, **kw):
        """The host's dpkg-query, answered with the test's status (rc 1 when it is None: no dpkg-query)."""
        assert sudoable is False, "no become, no pseudo-terminal"
        self.runs.append("query")
        self.commands = [*getattr(self, "commands", []), cmd]
        if self.status is None:
            return {"rc": 127, "stdout": "", "stderr": "dpkg-query: not found"}
        return {"rc": 0, "stdout": self.status, "stderr": ""}

    def _execute_module(self, module_name=None, module_args=None, task_vars=None, **kw):
        self.runs.append(module_args["stage"])
        if module_args["stage"] == "read":
            if self.status is None:
                return {"failed": True, "msg": "dpkg-query is not on this host"}
            return {"status": self.status}
        with tarfile.open(module_args["archive"]) as tar:
            self.sent = sorted(tar.getnames())
        return {"changed": True, "stdout": "ok"}


@pytest.fixture
def debs(tmp_path):
    d = tmp_path / "debs"
    d.mkdir()
    build(d, "haproxy", "libc6, liblua5.3-0")
    build(d, "liblua5.3-0", "libc6")
    build(d, "socat", "libc6")
    return d


def test_sends_only_the_missing_closure_in_one_archive(tmp_path, debs):
    host = Host({"packages": ["haproxy", "socat"], "deb_dir": str(debs)}, "libc6\tinstalled\t\nsocat\tinstalled\t\n",
                tmp_path)  # fmt: skip
    res = host.run(task_vars={})
    assert res["changed"] is True
    assert host.runs == ["query", "install"]
    assert host.sent == ["haproxy_1_all.deb", "liblua5.3-0_1_all.deb"], "socat is installed: not sent"
    assert res["installed"] == ["haproxy", "liblua5.3-0"]


def test_installed_packages_cost_one_read(tmp_path, debs):
    host = Host({"packages": ["haproxy"], "deb_dir": str(debs)}, "haproxy\tinstalled\t\n", tmp_path)
    res = host.run(task_vars={})
    assert res["changed"] is False and host.runs == ["query"] and res["sent_bytes"] == 0


def test_check_mode_lists_without_sending(tmp_path, debs):
    host = Host({"packages": ["haproxy"], "deb_dir": str(debs)}, "libc6\tinstalled\t\n", tmp_path, check=True)
    res = host.run(task_vars={})
    assert res["changed"] is True and res["installed"] == ["haproxy", "liblua5.3-0"]
    assert host.runs == ["query"] and host.sent == []


def test_an_unresolvable_dependency_fails_before_anything_is_sent(tmp_path, debs):
    host = Host({"packages": ["haproxy"], "deb_dir": str(debs)}, "", tmp_path)
    with pytest.raises(AnsibleActionFail, match=r"package libc6 \(needed by haproxy\) is neither installed nor in"):
        host.run(task_vars={})
    assert host.runs == ["query"]


def test_the_read_is_dpkg_query_on_the_host_and_its_failure_falls_back_to_the_module(tmp_path, debs):
    host = Host({"packages": ["socat"], "deb_dir": str(debs)}, "socat\tinstalled\t\n", tmp_path)
    host.run(task_vars={})
    assert host.commands == ["dpkg-query -W -f '${Package}\t${db:Status-Status}\t${Provides}\n'"]
    missing = Host({"packages": ["socat"], "deb_dir": str(debs)}, None, tmp_path)
    with pytest.raises(AnsibleActionFail, match="dpkg-query is not on this host"):
        missing.run(task_vars={})
    assert missing.runs == ["query", "read"], "the module's read explains the failure"
