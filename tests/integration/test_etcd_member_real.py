"""airgap.k8s.etcd_member against a real 3-member etcd cluster on 127.0.0.1 (TLS everywhere).

A fourth member joins as a learner with the --initial-cluster the module
returns, is promoted once it has caught up, and is removed again; a member
that is not there is left alone. Same etcd and certificates as
test_etcd_health_real.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from test_etcd_health_real import START_TIMEOUT, cluster, etcd_binary, free_ports, member_command, wait_healthy

from ansible_collections.airgap.k8s.plugins.module_utils._health import tls_context, wait_for
from ansible_collections.airgap.k8s.plugins.modules import etcd_health, etcd_member

pytestmark = pytest.mark.slow
__all__ = ["cluster"]  # the fixture, used by name


def run_member(capsys, args: dict, *, check_mode: bool = False) -> tuple[int, dict]:
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args({**args, "_ansible_check_mode": check_mode}), pytest.raises(SystemExit) as info:
        etcd_member.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def member_args(c, **over) -> dict:
    return {
        "endpoints": [c.endpoints["etcd-a"]],
        "ca_cert": str(c.pki.ca),
        "client_cert": str(c.pki.client[0]),
        "client_key": str(c.pki.client[1]),
        "wait_timeout": START_TIMEOUT,
        "wait_sleep": 1,
        **over,
    }


def test_a_learner_joins_is_promoted_and_leaves(cluster, capsys, tmp_path):
    wait_healthy(cluster)
    client_port, peer_port = free_ports(2)
    peer = f"https://127.0.0.1:{peer_port}"
    client = f"https://127.0.0.1:{client_port}"

    # Check mode reads the list and says it would add, but adds nothing.
    rc, result = run_member(capsys, member_args(cluster, name="etcd-d", peer_urls=[peer]), check_mode=True)
    assert rc == 0 and result["changed"] is True, result
    rc, result = run_member(capsys, member_args(cluster, name="etcd-d", peer_urls=[peer], state="absent"))
    assert rc == 0 and result["changed"] is False and len(result["members"]) == 3, result

    rc, added = run_member(capsys, member_args(cluster, name="etcd-d", peer_urls=[peer]))
    assert rc == 0 and added["changed"] is True, added.get("msg", added)
    assert added["member"]["is_learner"] is True and added["member"]["started"] is False
    assert len(added["members"]) == 4
    assert f"etcd-d={peer}" in added["initial_cluster"].split(",")
    assert sorted(part.split("=")[0] for part in added["initial_cluster"].split(",")) == [
        "etcd-a",
        "etcd-b",
        "etcd-c",
        "etcd-d",
    ]

    # Adding again (an interrupted join re-run) finds the unstarted member by its peer URL.
    rc, again = run_member(capsys, member_args(cluster, name="etcd-d", peer_urls=[peer]))
    assert rc == 0 and again["changed"] is False and again["initial_cluster"] == added["initial_cluster"], again

    log = tmp_path / "etcd-d.log"
    cmd = member_command(
        etcd_binary(),
        "etcd-d",
        tmp_path / "etcd-d",
        client=client,
        peer=peer,
        pki=cluster.pki,
        initial_cluster=added["initial_cluster"],
        initial_cluster_state="existing",
    )
    with log.open("wb") as fh:
        cluster.procs["etcd-d"] = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    cluster.logs["etcd-d"] = log

    # Right after its start the member has no name in the list yet: it is found by its peer URL.
    rc, promoted = run_member(capsys, member_args(cluster, name="etcd-d", peer_urls=[peer], state="voting"))
    assert rc == 0 and promoted["changed"] is True, (promoted, log.read_text()[-2000:])
    assert promoted["member"]["is_learner"] is False and promoted["member"]["name"] == "etcd-d"
    rc, result = run_member(capsys, member_args(cluster, name="etcd-d", state="voting"))
    assert rc == 0 and result["changed"] is False

    ctx = tls_context(str(cluster.pki.ca), str(cluster.pki.client[0]), str(cluster.pki.client[1]))
    endpoints = [*cluster.endpoints.values(), client]
    report = wait_for(lambda: etcd_health.check(endpoints, ctx, 4), START_TIMEOUT, 0.5)
    assert report.healthy, report.problems

    # Removal goes through another member; etcd-d then stops on its own.
    rc, removed = run_member(capsys, member_args(cluster, name="etcd-d", state="absent"))
    assert rc == 0 and removed["changed"] is True and removed["member"] is None, removed
    assert sorted(m["name"] for m in removed["members"]) == ["etcd-a", "etcd-b", "etcd-c"]
    cluster.procs["etcd-d"].wait(timeout=30)
    report = wait_for(lambda: etcd_health.check(list(cluster.endpoints.values()), ctx, 3), START_TIMEOUT, 0.5)
    assert report.healthy, report.problems


def test_promoting_a_member_that_is_not_there_fails_with_what_to_do(cluster, capsys):
    wait_healthy(cluster)
    rc, result = run_member(capsys, member_args(cluster, name="etcd-x", state="voting"))
    assert rc == 1
    assert result["msg"] == "etcd member etcd-x: there is no member etcd-x: add it (state=present) and start it first"


def test_a_name_at_another_address_is_refused(cluster, capsys):
    wait_healthy(cluster)
    rc, result = run_member(capsys, member_args(cluster, name="etcd-b", peer_urls=["https://127.0.0.1:1"]))
    assert rc == 1
    assert "member etcd-b exists with peer URLs" in result["msg"], result
    assert "remove it (playbooks/remove_nodes.yml) and add it again" in result["msg"]
