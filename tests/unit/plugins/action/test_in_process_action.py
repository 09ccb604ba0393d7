# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Controller-side modules run in a fork of the worker, and as usual anywhere else (plugin_utils._in_process)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from _pkifactory import ca, leaf
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader

from ansible_collections.airgap.k8s.plugins.action.kubeconfig import ActionModule

MODULE = "airgap.k8s.kubeconfig"


class Action(ActionModule):
    """The kubeconfig action on a real local connection; a run through _execute_module is recorded, not made."""

    def __init__(self, args: dict[str, Any], *, check_mode: bool = False, **task: Any) -> None:
        context = PlayContext()
        context.become = task.pop("become", False)
        connection = connection_loader.get("local", context, None)
        if task.pop("transport", None):
            connection = SimpleNamespace(transport="ssh", _shell=connection._shell, socket_path=None)
        fields = {"async_val": 0, "environment": [{}], **task}
        self.task = SimpleNamespace(
            args=args, check_mode=check_mode, diff=False, no_log=False, action=MODULE, resolved_action=MODULE, **fields
        )
        super().__init__(self.task, connection, context, None, None, None)
        self.executed: list[tuple[str, dict[str, Any]]] = []

    def _execute_module(self, module_name=None, module_args=None, task_vars=None, **kw):
        self.executed.append((module_name, module_args))
        return {"changed": False, "ran": "the usual way"}


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    authority = ca("kubernetes")
    crt, _ = authority.write(tmp_path / "pki", "ca")
    admin_crt, admin_key = leaf(authority, "kubernetes-admin").write(tmp_path / "pki", "admin")
    return {"ca_cert": str(crt), "client_cert": str(admin_crt), "client_key": str(admin_key)}


@pytest.fixture(autouse=True)
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fork's working directories go here, to see that none is left."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def args(pki: dict[str, str], path: Path) -> dict[str, Any]:
    return {"cluster_name": "airgap", "path": str(path), "server": "https://127.0.0.1:6443", **pki}


def test_on_the_controller_the_module_runs_in_a_fork(pki, tmp_path, own_tmp):
    path = tmp_path / "conf" / "admin.conf"
    action = Action(args(pki, path))
    res = action.run(task_vars={})
    assert action.executed == [], "no AnsiballZ run"
    assert res["changed"] is True and not res.get("failed"), res
    assert res["context"] == "kubernetes-admin@airgap"
    assert not [k for k in res if k.startswith("_ansible_") and k != "_ansible_parsed"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["current-context"] == "kubernetes-admin@airgap"
    assert Action(args(pki, path)).run(task_vars={})["changed"] is False
    assert list(own_tmp.iterdir()) == [], "the module's working directory is removed"


def test_check_mode_reaches_the_module(pki, tmp_path):
    path = tmp_path / "conf" / "admin.conf"
    res = Action(args(pki, path), check_mode=True).run(task_vars={})
    assert res["changed"] is True and not res.get("failed"), res
    assert not path.exists()


def test_a_refusal_of_the_module_is_its_result(pki, tmp_path):
    bad = args(pki, tmp_path / "admin.conf")
    bad["server"] = "http://127.0.0.1:6443"
    res = Action(bad).run(task_vars={})
    assert res["failed"] is True
    assert "https" in res["msg"], res
    assert not (tmp_path / "admin.conf").exists()


def test_a_missing_option_is_reported_by_the_module(tmp_path):
    res = Action({"path": str(tmp_path / "admin.conf")}).run(task_vars={})
    assert res["failed"] is True
    assert "cluster_name" in res["msg"] or "missing" in res["msg"], res


@pytest.mark.parametrize(
    "task",
    [{"become": True}, {"transport": "ssh"}, {"async_val": 30}, {"environment": [{"HTTPS_PROXY": "http://p:3128"}]}],
    ids=["become", "remote-host", "async", "environment"],
)
def test_anywhere_else_the_module_runs_as_usual(pki, tmp_path, task):
    path = tmp_path / "admin.conf"
    action = Action(args(pki, path), **task)
    action._supports_async = True
    res = action.run(task_vars={})
    assert res["ran"] == "the usual way"
    assert action.executed == [(MODULE, args(pki, path))]
    assert not path.exists()


def test_the_parent_is_untouched(pki, tmp_path):
    cwd, umask = os.getcwd(), os.umask(0o022)
    os.umask(umask)
    Action(args(pki, tmp_path / "admin.conf")).run(task_vars={})
    assert os.getcwd() == cwd
    assert os.umask(umask) == umask
