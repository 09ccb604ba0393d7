# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""airgap.k8s.component_remove through main(), against a fake host.

The fake answers systemctl, dpkg-query, ip and the iptables, nft and ipset
tools in their formats and keeps the state their changes make (a disabled
unit is disabled, a purged package gone, userdel takes the user's own group
with it as on Debian); every command is recorded, so the tests assert what a
run costs and that check mode only reads. The unit files live in a temporary
directory (UNIT_DIR), /proc is a temporary tree of exe links (PROC), and
os.kill is replaced: nothing here touches the machine's units, processes,
packages or accounts.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils import _host_reset
from ansible_collections.airgap.k8s.plugins.modules import component_remove

SHOW = ["show", "--property=Id,LoadState,ActiveState,UnitFileState", "--"]
# Far above the kernel's largest pid (2^22): os.kill on them could reach no real process.
SHIM = 5000001
SSHD = 5000002
OTHER_SHIM = 5000003

IPTABLES_SAVE = """\
*filter
:INPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL -j DROP
COMMIT
"""


@dataclass
class Unit:
    load: str = "loaded"
    active: str = "active"
    file_state: str = "enabled"


@dataclass
class FakeHost:
    units: dict[str, Unit] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)  # name -> db:Status-Status
    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    iptables: str = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"
    fail: str = ""  # a command (its first words) that fails
    calls: list[list[str]] = field(default_factory=list)
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    killed: list[tuple[int, int]] = field(default_factory=list)

    def changes(self) -> list[list[str]]:
        """The calls that are not reads."""
        reads = (["systemctl", "show"], ["dpkg-query"], ["ip", "-j"], ["iptables-nft-save"], ["nft", "list"])
        return [c for c in self.calls if not any(c[: len(r)] == r for r in reads) and c[:2] != ["ipset", "list"]]

    def run_command(self, args: list[str], data=None, environ_update=None, **_kw) -> tuple[int, str, str]:
        call = [os.path.basename(args[0]), *args[1:]]
        self.calls.append(call)
        self.env[call[0]] = dict(environ_update or {})
        if self.fail and " ".join(call).startswith(self.fail):
            return 2, "", f"{call[0]}: error processing {call[-1]}"
        tool, rest = call[0], call[1:]
        if tool == "systemctl":
            return self.systemctl(rest)
        if tool == "dpkg-query":
            names = rest[2:]
            known = [n for n in names if n in self.packages]
            err = "".join(f"dpkg-query: no packages found matching {n}\n" for n in names if n not in known)
            return (1 if err else 0), "".join(f"{n} {self.packages[n]};" for n in known), err
        if tool == "dpkg" and rest[0] == "--purge":
            for name in rest[1:]:
                del self.packages[name]
            return 0, "", ""
        if tool == "userdel":
            self.users.discard(rest[0])
            self.groups.discard(rest[0])  # Debian's USERGROUPS_ENAB: the user's own group goes with it
            return 0, "", ""
        if tool == "groupdel":
            self.groups.discard(rest[0])
            return 0, "", ""
        if call == ["ip", "-j", "link", "show"]:
            return 0, json.dumps([{"ifname": name} for name in ["lo", "eth0", *self.links]]), ""
        if call[:3] == ["ip", "link", "delete"]:
            self.links.remove(rest[2])
            return 0, "", ""
        if call == ["iptables-nft-save"]:
            return 0, self.iptables, ""
        if call == ["iptables-nft-restore"]:
            self.iptables = data
            return 0, "", ""
        if call in (["nft", "list", "tables"], ["ipset", "list", "-n"]):
            return 0, "", ""
        raise AssertionError(f"unexpected command {call}")

    def systemctl(self, rest: list[str]) -> tuple[int, str, str]:
        verb, names = rest[0], rest[rest.index("--") + 1 :] if "--" in rest else []
        if verb == "show":
            blocks = []
            for name in names:
                unit = self.units.get(name, Unit("not-found", "inactive", ""))
                blocks.append(
                    f"Id={name}\nLoadState={unit.load}\nActiveState={unit.active}\nUnitFileState={unit.file_state}\n"
                )
            return 0, "\n".join(blocks), ""
        if verb == "disable":
            for name in names:
                self.units[name].file_state = "disabled"
        elif verb == "stop":
            for name in names:
                self.units[name].active = "inactive"
        elif verb == "daemon-reload":
            for name, unit in list(self.units.items()):
                if unit.active == "inactive":  # its file is gone: systemd forgets it
                    del self.units[name]
        else:
            raise AssertionError(f"unexpected systemctl {rest}")
        return 0, "", ""


@pytest.fixture
def host(monkeypatch, tmp_path):
    """A fake host; its unit files are under tmp_path/system, its processes under tmp_path/proc."""
    fake = FakeHost()
    unit_dir, proc = tmp_path / "system", tmp_path / "proc"
    unit_dir.mkdir()
    proc.mkdir()
    for pid, exe in ((SHIM, "/usr/local/bin/containerd-shim-runc-v2"), (SSHD, "/usr/sbin/sshd")):
        (proc / str(pid)).mkdir()
        (proc / str(pid) / "exe").symlink_to(exe)
    (proc / "2").mkdir()  # a kernel thread: no exe link
    (proc / "self").symlink_to(proc / str(SSHD))
    monkeypatch.setattr(component_remove, "UNIT_DIR", str(unit_dir))
    monkeypatch.setattr(component_remove, "PROC", str(proc))
    monkeypatch.setattr(component_remove, "user_exists", lambda name: name in fake.users)
    monkeypatch.setattr(component_remove, "group_exists", lambda name: name in fake.groups)
    monkeypatch.setattr(os, "kill", lambda pid, sig: fake.killed.append((pid, sig)))
    monkeypatch.setattr(AnsibleModule, "run_command", lambda _module, args, **kw: fake.run_command(args, **kw))
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda _module, name, **_kw: f"/usr/bin/{name}")
    tools = {"iptables-nft-save", "nft", "ipset"}
    monkeypatch.setattr(_host_reset.shutil, "which", lambda name: f"/usr/sbin/{name}" if name in tools else None)
    fake.unit_dir, fake.proc = unit_dir, proc
    return fake


def containerd(host: FakeHost, tmp_path) -> dict:
    """containerd's options, and all of it on the host: unit, shim, state, a CNI plugin, the bridge, a KUBE chain."""
    host.units["containerd.service"] = Unit()
    (host.unit_dir / "containerd.service").write_text("[Unit]\n")
    (tmp_path / "lib" / "containerd").mkdir(parents=True)
    cni = tmp_path / "opt" / "cni" / "bin"
    cni.mkdir(parents=True)
    (cni / "bridge").write_text("")
    host.links.append("cni0")
    host.iptables = IPTABLES_SAVE
    return {
        "units": ["containerd.service"],
        "processes": ["/usr/local/bin/containerd-shim"],
        "links": ["cni0"],
        "chain_prefixes": ["KUBE-"],
        "ipset_prefixes": ["KUBE-"],
        "paths": [str(tmp_path / "lib" / "containerd"), str(cni / "bridge")],
        "empty_dirs": [str(cni), str(cni.parent)],
    }


ALL_STEPS = {
    "units": ["etcd.service", "haproxy.service"],
    "processes": ["/usr/local/bin/containerd-shim"],
    "links": ["flannel.1", "cni0"],
    "chain_prefixes": ["FLANNEL-"],
    "ipset_prefixes": ["KUBE-"],
    "nft_tables": ["ip flannel-ipv4"],
    "packages": ["haproxy"],
    "users": ["etcd"],
    "groups": ["etcd", "docker"],
}


def test_a_host_without_the_component_only_reads_and_changes_nothing(run_module, host, tmp_path):
    (host.proc / str(SHIM) / "exe").unlink()
    (host.proc / str(SHIM) / "exe").symlink_to("/usr/bin/containerd-shim-elsewhere")
    args = {**ALL_STEPS, "paths": [str(tmp_path / "gone")], "empty_dirs": [str(tmp_path / "none")]}
    run = run_module(component_remove.main, args)
    assert not run.failed, run.output
    assert run.result["changed"] is False
    assert host.changes() == [] and host.killed == []
    assert [c[0] for c in host.calls] == ["systemctl", "ip", "iptables-nft-save", "nft", "ipset", "dpkg-query"]
    assert host.calls[0] == ["systemctl", *SHOW, "etcd.service", "haproxy.service"]
    assert run.result["daemon_reloaded"] is False
    assert all(run.result[key] == [] for key in component_remove.CHANGES)
    assert not any(run.result["network"].values()) and not any(run.result["paths"].values())


def test_an_empty_call_runs_nothing(run_module, host):
    run = run_module(component_remove.main, {})
    assert not run.failed, run.output
    assert run.result["changed"] is False and host.calls == []


def test_only_units_systemd_knows_are_stopped_and_disabled(run_module, host):
    host.units.update(
        {
            "kubelet.service": Unit(),  # runs, enabled
            "kube-proxy.service": Unit(active="inactive", file_state="disabled"),  # nothing to do
            "docker.socket": Unit(file_state="static"),  # runs; nothing to disable
            "cri-docker.service": Unit(active="failed", file_state="enabled"),  # enabled only
            "old.service": Unit(active="deactivating", file_state="enabled-runtime"),  # stopping
        }
    )
    names = [
        "kubelet.service",
        "kube-proxy.service",
        "docker.socket",
        "cri-docker.service",
        "old.service",
        "etcd.service",
    ]
    run = run_module(component_remove.main, {"units": names})
    assert not run.failed, run.output
    assert host.changes() == [
        ["systemctl", "disable", "--", "kubelet.service", "cri-docker.service"],
        ["systemctl", "stop", "--", "kubelet.service", "docker.socket", "old.service"],
    ]
    assert run.result["disabled_units"] == ["kubelet.service", "cri-docker.service"]
    assert run.result["stopped_units"] == ["kubelet.service", "docker.socket", "old.service"]
    assert run.result["changed"] is True
    assert run.result["daemon_reloaded"] is False, "no unit file of theirs was in /etc/systemd/system"
    before = len(host.calls)
    again = run_module(component_remove.main, {"units": names})
    assert again.result["changed"] is False
    assert host.calls[before:] == [["systemctl", *SHOW, *names]]


def test_the_processes_that_outlive_the_units_are_killed(run_module, host):
    (host.proc / str(OTHER_SHIM)).mkdir()
    (host.proc / str(OTHER_SHIM) / "exe").symlink_to("/usr/local/bin/containerd-shim-runc-v2 (deleted)")
    run = run_module(component_remove.main, {"processes": ["/usr/local/bin/containerd-shim"]})
    assert not run.failed, run.output
    assert run.result["killed_processes"] == [
        f"{SHIM} /usr/local/bin/containerd-shim-runc-v2",
        f"{OTHER_SHIM} /usr/local/bin/containerd-shim-runc-v2 (deleted)",
    ]
    assert host.killed == [(SHIM, signal.SIGKILL), (OTHER_SHIM, signal.SIGKILL)]
    assert run.result["changed"] is True and host.calls == []


def test_a_whole_component_goes_in_order_and_a_rerun_changes_nothing(run_module, host, tmp_path):
    args = containerd(host, tmp_path)
    run = run_module(component_remove.main, args)
    assert not run.failed, run.output
    unit_file = str(host.unit_dir / "containerd.service")
    assert run.result["paths"]["removed"] == [unit_file, *args["paths"]]
    assert run.result["paths"]["removed_dirs"] == args["empty_dirs"]
    assert run.result["network"]["links"] == ["cni0"] and run.result["network"]["chains"] == [
        "iptables-nft filter KUBE-FIREWALL"
    ]
    assert run.result["killed_processes"] == [f"{SHIM} /usr/local/bin/containerd-shim-runc-v2"]
    assert run.result["daemon_reloaded"] is True
    assert [c for c in host.changes()] == [
        ["systemctl", "disable", "--", "containerd.service"],
        ["systemctl", "stop", "--", "containerd.service"],
        ["ip", "link", "delete", "cni0"],
        ["iptables-nft-restore"],
        ["systemctl", "daemon-reload"],
    ]
    assert "KUBE-" not in host.iptables
    assert not any(os.path.lexists(p) for p in [unit_file, *args["paths"], *args["empty_dirs"]])

    host.killed.clear()
    (host.proc / str(SHIM) / "exe").unlink()  # the shim is gone now
    (host.proc / str(SHIM) / "exe").symlink_to("/usr/bin/bash")
    again = run_module(component_remove.main, args)
    assert not again.failed, again.output
    assert again.result["changed"] is False and again.result["daemon_reloaded"] is False
    assert host.killed == []


def test_check_mode_reports_every_step_and_changes_nothing(run_module, host, tmp_path):
    args = containerd(host, tmp_path)
    args.update(packages=["haproxy"], users=["etcd"], groups=["etcd"])
    host.packages["haproxy"] = "installed"
    host.users.add("etcd")
    host.groups.add("etcd")
    run = run_module(component_remove.main, args, check_mode=True)
    assert not run.failed, run.output
    assert run.result["changed"] is True
    assert run.result["stopped_units"] == run.result["disabled_units"] == ["containerd.service"]
    assert run.result["killed_processes"] == [f"{SHIM} /usr/local/bin/containerd-shim-runc-v2"]
    assert run.result["network"]["links"] == ["cni0"] and run.result["network"]["chains"] == [
        "iptables-nft filter KUBE-FIREWALL"
    ]
    assert run.result["paths"]["removed"][0] == str(host.unit_dir / "containerd.service")
    assert run.result["paths"]["removed_dirs"] == args["empty_dirs"]
    assert run.result["daemon_reloaded"] is True
    assert run.result["purged_packages"] == ["haproxy"]
    assert run.result["deleted_users"] == ["etcd"] and run.result["deleted_groups"] == ["etcd"]
    assert host.changes() == [] and host.killed == []
    assert all(os.path.lexists(p) for p in [host.unit_dir / "containerd.service", *args["paths"]])
    assert host.units["containerd.service"] == Unit() and host.links == ["cni0"]


def test_only_installed_packages_are_purged_noninteractively(run_module, host):
    host.packages.update({"haproxy": "installed", "keepalived": "config-files", "socat": "not-installed"})
    names = ["haproxy", "keepalived", "socat", "unknown"]
    run = run_module(component_remove.main, {"packages": names})
    assert not run.failed, run.output
    assert host.calls[0] == ["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status};", *names]
    assert host.changes() == [["dpkg", "--purge", "haproxy"]]
    assert host.env["dpkg"] == {"DEBIAN_FRONTEND": "noninteractive"}
    assert run.result["purged_packages"] == ["haproxy"] and run.result["changed"] is True
    again = run_module(component_remove.main, {"packages": names})
    assert again.result["changed"] is False and again.result["purged_packages"] == []


def test_users_then_groups_only_those_that_exist(run_module, host):
    host.users.update({"etcd"})
    host.groups.update({"etcd", "docker"})
    args = {"users": ["etcd", "nobody-here"], "groups": ["etcd", "docker", "absent"]}
    run = run_module(component_remove.main, args)
    assert not run.failed, run.output
    # userdel took etcd's own group with it: groupdel only for docker.
    assert host.changes() == [["userdel", "etcd"], ["groupdel", "docker"]]
    assert run.result["deleted_users"] == ["etcd"] and run.result["deleted_groups"] == ["docker"]
    again = run_module(component_remove.main, args)
    assert again.result["changed"] is False and host.changes() == [["userdel", "etcd"], ["groupdel", "docker"]]


def test_daemon_reload_only_when_a_unit_file_was_removed(run_module, host, tmp_path):
    # haproxy's unit comes with its package (/lib/systemd/system): nothing in UNIT_DIR to delete.
    host.units["haproxy.service"] = Unit()
    run = run_module(component_remove.main, {"units": ["haproxy.service"], "paths": [str(tmp_path / "etc")]})
    assert not run.failed, run.output
    assert run.result["daemon_reloaded"] is False
    assert ["systemctl", "daemon-reload"] not in host.calls

    # A drop-in directory under UNIT_DIR counts, named in paths.
    dropin = host.unit_dir / "kubelet.service.d"
    dropin.mkdir()
    (dropin / "10-airgap.conf").write_text("[Service]\n")
    run = run_module(component_remove.main, {"paths": [str(dropin)]})
    assert run.result["daemon_reloaded"] is True
    assert host.calls[-1] == ["systemctl", "daemon-reload"]


def test_a_failing_step_is_named_and_what_was_done_is_reported(run_module, host, tmp_path):
    args = containerd(host, tmp_path)
    args["packages"] = ["haproxy"]
    host.packages["haproxy"] = "installed"
    host.fail = "dpkg --purge"
    run = run_module(component_remove.main, args)
    assert run.failed
    assert run.result["step"] == "purge the packages"
    assert run.result["msg"].startswith("component_remove could not purge the packages: /usr/bin/dpkg --purge haproxy")
    assert "error processing haproxy" in run.result["msg"]
    assert run.result["changed"] is True and run.result["paths"]["removed_dirs"] == args["empty_dirs"]
    assert run.result["purged_packages"] == []


def test_a_failing_systemctl_names_the_first_step(run_module, host):
    host.units["kubelet.service"] = Unit()
    host.fail = "systemctl disable"
    run = run_module(component_remove.main, {"units": ["kubelet.service"], "users": ["etcd"]})
    assert run.failed and run.result["step"] == "stop and disable the units"
    assert "component_remove could not stop and disable the units: /usr/bin/systemctl disable" in run.result["msg"]
    assert [c[1] for c in host.calls] == ["show", "disable"], "no later step ran"


def test_unsafe_options_are_refused_before_anything_changes(run_module, host, tmp_path):
    host.units["kubelet.service"] = Unit()
    (tmp_path / "state").mkdir()
    args = {
        "units": ["kubelet.service", "../../../var/lib", "kube-*"],
        "processes": ["/usr/local/bin/", "containerd-shim"],
        "paths": [str(tmp_path / "state"), "/var/lib"],
    }
    run = run_module(component_remove.main, args)
    assert run.failed
    msg = run.result["msg"]
    assert msg.startswith("component_remove refuses, and changed nothing: ")
    assert "'../../../var/lib' is not a unit name" in msg and "'kube-*' is not a unit name" in msg
    assert "/usr/local/bin/ is a system directory" in msg and "'containerd-shim' is not an absolute" in msg
    assert "/var/lib is a system directory" in msg
    assert host.calls == [] and host.killed == [] and (tmp_path / "state").exists()


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(component_remove)
    assert docs == spec
