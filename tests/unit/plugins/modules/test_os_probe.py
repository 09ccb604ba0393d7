# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""airgap.k8s.os_probe through main(), on this machine (it only reads)."""

from __future__ import annotations

from ansible_collections.airgap.k8s.plugins.modules import os_probe


def test_reads_this_machine(run_module):
    run = run_module(
        os_probe.main,
        {"modules": {"overlay": "CONFIG_OVERLAY_FS"}, "ports": [1], "sysctls": ["kernel.ostype"],
         "firewall_units": ["no-such-firewall"]},
        check_mode=True,
    )  # fmt: skip
    assert not run.failed, run.output
    assert run.result["changed"] is False
    assert run.result["cgroup_fs"]
    assert run.result["modules"]["overlay"] in ("loaded", "builtin", "absent")
    assert run.result["sysctls"] == {"kernel.ostype": "Linux"}
    assert run.result["firewall"] == {}
    assert "chrony_tracking" not in run.result


def test_docs_match_the_argument_spec(documented_spec):
    documented, actual = documented_spec(os_probe)
    assert documented == actual


def test_returns_the_text_of_the_files_asked_for(run_module, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    run = run_module(os_probe.main, {"files": [str(hosts), str(tmp_path / "missing")]}, check_mode=True)
    assert not run.failed, run.output
    assert run.result["files"] == {str(hosts): "127.0.0.1 localhost\n", str(tmp_path / "missing"): None}
