# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""airgap.k8s.systemd_units through main(), against a fake systemctl that keeps the units' state.

The fake answers `systemctl show` in systemctl's format from its units, and
daemon-reload, enable and start change them the way systemd does; every call
is recorded, so the tests assert which commands a run costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._systemd import SHOW_PROPERTIES
from ansible_collections.airgap.k8s.plugins.modules import systemd_units

SYSTEMCTL = "/usr/bin/systemctl"
SHOW = ["show", "--property=" + ",".join(SHOW_PROPERTIES), "--"]


@dataclass
class Unit:
    id: str
    load: str = "loaded"
    active: str = "active"
    file_state: str = "enabled"
    need_reload: bool = False
    fails_to_start: bool = False
    file_on_disk: bool = True  # for a not-found unit: a daemon-reload finds its file

    @property
    def sub(self) -> str:
        if self.active == "active":
            return "listening" if self.id.endswith(".socket") else "running"
        return "failed" if self.active == "failed" else "dead"


class FakeSystemctl:
    def __init__(self, *units: Unit) -> None:
        self.units = {u.id: u for u in units}
        self.calls: list[list[str]] = []

    def unit(self, name: str) -> Unit:
        unit_id = name if "." in name else f"{name}.service"
        if unit_id not in self.units:
            self.units[unit_id] = Unit(unit_id, "not-found", "inactive", "", file_on_disk=False)
        return self.units[unit_id]

    def verbs(self) -> list[str]:
        return [call[0] for call in self.calls]

    def run_command(self, args: list[str]) -> tuple[int, str, str]:
        assert args[0] == SYSTEMCTL
        call = list(args[1:])
        self.calls.append(call)
        verb, names = call[0], call[call.index("--") + 1 :] if "--" in call else []
        if verb == "show":
            return 0, "\n".join(self.block(self.unit(n)) for n in names), ""
        if verb == "daemon-reload":
            for unit in self.units.values():
                unit.need_reload = False
                if unit.load == "not-found" and unit.file_on_disk:
                    unit.load, unit.file_state = "loaded", "disabled"
                elif unit.load == "error" and unit.file_on_disk:
                    unit.load = "loaded"
            return 0, "", ""
        if verb in ("enable", "disable"):
            for name in names:
                self.unit(name).file_state = "enabled" if verb == "enable" else "disabled"
            return 0, "", ""
        if verb == "start":
            failed = []
            for name in names:
                unit = self.unit(name)
                unit.active = "failed" if unit.fails_to_start else "active"
                if unit.fails_to_start:
                    failed.append(unit.id)
            err = "".join(
                f"Job for {u} failed because the control process exited with error code.\n"
                f'See "systemctl status {u}" and "journalctl -xeu {u}" for details.\n'
                for u in failed
            )
            return (1 if failed else 0), "", err
        raise AssertionError(f"unexpected systemctl call {call}")

    @staticmethod
    def block(unit: Unit) -> str:
        fragment = f"/etc/systemd/system/{unit.id}" if unit.load != "not-found" else ""
        return (
            f"Id={unit.id}\nLoadState={unit.load}\nActiveState={unit.active}\nSubState={unit.sub}\n"
            f"UnitFileState={unit.file_state}\nNeedDaemonReload={'yes' if unit.need_reload else 'no'}\n"
            f"FragmentPath={fragment}\n"
        )


@pytest.fixture
def systemd(monkeypatch):
    """Install a fake systemctl with the given units; returns it."""

    def install(*units: Unit) -> FakeSystemctl:
        fake = FakeSystemctl(*units)
        monkeypatch.setattr(AnsibleModule, "run_command", lambda _module, args, **_kw: fake.run_command(args))
        monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda _self, name, **_kw: f"/usr/bin/{name}")
        return fake

    return install


def test_running_enabled_units_cost_one_show_and_no_change(run_module, systemd):
    fake = systemd(Unit("kubelet.service"), Unit("kube-proxy.service"))
    run = run_module(systemd_units.main, {"units": ["kubelet", "kube-proxy"]})
    assert not run.failed, run.output
    assert fake.calls == [[*SHOW, "kubelet", "kube-proxy"]]
    assert run.result["changed"] is False
    assert run.result["daemon_reloaded"] is False
    assert run.result["units"][1] == {
        "name": "kube-proxy",
        "id": "kube-proxy.service",
        "fragment_path": "/etc/systemd/system/kube-proxy.service",
        "before": {"active_state": "active", "unit_file_state": "enabled", "enabled": True},
        "after": {"active_state": "active", "unit_file_state": "enabled", "enabled": True},
    }


def test_only_the_inactive_unit_is_started(run_module, systemd):
    fake = systemd(Unit("kubelet.service"), Unit("kube-proxy.service", active="inactive"))
    run = run_module(systemd_units.main, {"units": ["kubelet", "kube-proxy"]})
    assert not run.failed, run.output
    assert [c for c in fake.calls if c[0] != "show"] == [["start", "--", "kube-proxy.service"]]
    assert run.result["changed"] is True
    assert run.result["started_units"] == ["kube-proxy.service"]
    assert run.result["enabled_units"] == []
    proxy = run.result["units"][1]
    assert (proxy["before"]["active_state"], proxy["after"]["active_state"]) == ("inactive", "active")


def test_a_changed_unit_file_is_reloaded_once_before_enable_and_start(run_module, systemd):
    fake = systemd(
        Unit("kube-apiserver.service", need_reload=True),
        Unit("kube-scheduler.service", active="inactive", file_state="disabled", need_reload=True),
    )
    run = run_module(systemd_units.main, {"units": ["kube-apiserver", "kube-scheduler"]})
    assert not run.failed, run.output
    assert fake.verbs() == ["show", "daemon-reload", "show", "enable", "start", "show"]
    assert fake.calls[3:5] == [["enable", "--", "kube-scheduler.service"], ["start", "--", "kube-scheduler.service"]]
    assert run.result["daemon_reloaded"] is True
    assert run.result["changed"] is True


def test_a_reload_alone_is_not_a_change(run_module, systemd):
    fake = systemd(Unit("containerd.service", need_reload=True))
    run = run_module(systemd_units.main, {"units": ["containerd"]})
    assert fake.verbs() == ["show", "daemon-reload", "show"]
    assert run.result["daemon_reloaded"] is True
    assert run.result["changed"] is False


def test_a_unit_file_systemd_has_not_looked_for_yet_is_found_after_one_reload(run_module, systemd):
    fake = systemd(Unit("etcd.service", "not-found", "inactive", "", file_on_disk=True))
    run = run_module(systemd_units.main, {"units": ["etcd"]})
    assert not run.failed, run.output
    assert fake.verbs() == ["show", "daemon-reload", "show", "enable", "start", "show"]
    assert run.result["started_units"] == ["etcd.service"]


def test_a_running_unit_whose_file_was_deleted_and_is_back_loads_after_one_reload(run_module, systemd):
    """The drift test's case: kube-proxy.service deleted and `daemon-reload`ed while kube-proxy ran
    (LoadState=error), then written again by the role: reload, and nothing to start."""
    fake = systemd(Unit("kube-proxy.service", "error", "active", "enabled", file_on_disk=True))
    run = run_module(systemd_units.main, {"units": ["kube-proxy"]})
    assert not run.failed, run.output
    assert fake.verbs() == ["show", "daemon-reload", "show"]
    assert run.result["daemon_reloaded"] is True
    assert run.result["changed"] is False


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        (Unit("etcd.service", "masked", "inactive", "masked"), "etcd is masked (/etc/systemd/system/etcd.service)"),
        (
            Unit("etcd.service", "not-found", "inactive", "", file_on_disk=False),
            "etcd is not-found: systemd has no unit file for it",
        ),
        (Unit("etcd.service", "bad-setting", "inactive", "disabled"), "etcd did not load (bad-setting)"),
    ],
)
def test_a_unit_that_cannot_load_fails_the_run_by_name_before_any_change(run_module, systemd, unit, expected):
    fake = systemd(Unit("kubelet.service", active="inactive", file_state="disabled"), unit)
    run = run_module(systemd_units.main, {"units": ["kubelet", "etcd"]})
    assert run.failed
    assert run.result["msg"].startswith("systemd_units cannot start: etcd ")
    assert expected in run.result["msg"]
    assert "kubelet" not in run.result["msg"]
    assert not {"enable", "start"} & set(fake.verbs()), "nothing may change when a unit cannot start"
    # One reload (a unit that is not loaded may load after it), then the refusal.
    assert fake.verbs().count("daemon-reload") == 1
    assert fake.units["kubelet.service"].active == "inactive"


def test_check_mode_only_reads(run_module, systemd):
    fake = systemd(
        Unit("docker.socket", active="inactive", file_state="disabled"),
        Unit("docker.service", active="inactive", file_state="disabled", need_reload=True),
    )
    run = run_module(systemd_units.main, {"units": ["docker.socket", "docker.service"]}, check_mode=True)
    assert not run.failed, run.output
    assert fake.verbs() == ["show"]
    assert run.result["changed"] is True
    assert run.result["daemon_reloaded"] is True
    assert run.result["enabled_units"] == run.result["started_units"] == ["docker.socket", "docker.service"]
    assert run.result["units"][1]["after"] == {"active_state": "active", "unit_file_state": "enabled", "enabled": True}
    assert fake.units["docker.service"].active == "inactive"


@pytest.mark.parametrize(
    ("file_state", "enabled"),
    [
        ("static", False),
        ("generated", False),
        ("transient", False),
        ("disabled", True),
        ("linked", True),
        # ansible.builtin.systemd_service enables these too (what is-enabled prints for them is ambiguous).
        ("enabled-runtime", True),
        ("indirect", True),
        ("alias", True),
    ],
)
def test_which_unit_file_states_get_systemctl_enable(run_module, systemd, file_state, enabled):
    fake = systemd(Unit("chrony.service", active="inactive", file_state=file_state))
    run = run_module(systemd_units.main, {"units": ["chrony"]})
    assert not run.failed, run.output
    assert (["enable", "--", "chrony.service"] in fake.calls) is enabled
    assert run.result["units"][0]["before"]["enabled"] is not enabled
    assert ["start", "--", "chrony.service"] in fake.calls


def test_a_static_running_unit_needs_nothing(run_module, systemd):
    fake = systemd(Unit("haproxy.service", file_state="static"))
    run = run_module(systemd_units.main, {"units": ["haproxy"]})
    assert fake.verbs() == ["show"]
    assert run.result["changed"] is False


def test_sockets_and_services_start_in_the_order_given_in_one_call(run_module, systemd):
    names = ["docker.socket", "docker.service", "cri-docker.socket", "cri-docker.service"]
    fake = systemd(*(Unit(n, active="inactive", file_state="disabled") for n in names))
    run = run_module(systemd_units.main, {"units": names})
    assert not run.failed, run.output
    assert [c for c in fake.calls if c[0] != "show"] == [["enable", "--", *names], ["start", "--", *names]]
    assert [u["after"]["active_state"] for u in run.result["units"]] == ["active"] * 4


def test_a_failed_start_names_the_unit_and_where_to_look(run_module, systemd):
    names = ["docker.socket", "docker.service", "cri-docker.socket", "cri-docker.service"]
    fake = systemd(*(Unit(n, active="inactive") for n in names[:3]), Unit(names[3], "loaded", "inactive", "enabled"))
    fake.units["cri-docker.service"].fails_to_start = True
    run = run_module(systemd_units.main, {"units": names})
    assert run.failed
    msg = run.result["msg"]
    assert "Not running: cri-docker.service (failed/failed). See " in msg, "only the unit that failed is blamed"
    assert "`systemctl status cri-docker.service`, `journalctl -u cri-docker.service`" in msg
    assert "Job for cri-docker.service failed" in msg
    assert [u["after"]["active_state"] for u in run.result["units"]] == ["active", "active", "active", "failed"]


def test_enabled_false_disables_only_enabled_units(run_module, systemd):
    fake = systemd(Unit("etcd-backup.timer"), Unit("kube-lb.service", file_state="static"))
    run = run_module(systemd_units.main, {"units": ["etcd-backup.timer", "kube-lb"], "enabled": False})
    assert not run.failed, run.output
    assert [c for c in fake.calls if c[0] != "show"] == [["disable", "--", "etcd-backup.timer"]]
    assert run.result["disabled_units"] == ["etcd-backup.timer"]
    assert run.result["changed"] is True


def test_patterns_are_refused_and_no_units_is_no_command(run_module, systemd):
    fake = systemd()
    refused = run_module(systemd_units.main, {"units": ["kube-*"]})
    assert refused.failed and "'kube-*' is not a unit name" in refused.result["msg"]
    empty = run_module(systemd_units.main, {"units": []})
    assert not empty.failed and empty.result["changed"] is False
    assert fake.calls == []


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(systemd_units)
    assert docs == spec
