"""The pure parts of airgap.k8s.etcd_member: parsing gateway answers, finding a member, --initial-cluster."""

from __future__ import annotations

import re

import pytest

from ansible_collections.airgap.k8s.plugins.module_utils._etcd_member import (
    Member,
    MemberError,
    find,
    initial_cluster,
    parse_members,
)

# A /v3/cluster/member/add answer of etcd 3.6 (IDs are decimal strings; the
# new learner has no name and no client URLs until it starts).
ADD_ANSWER = {
    "header": {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437", "raft_term": "2"},
    "member": {"ID": "5227563225216391186", "peerURLs": ["https://10.0.0.14:2380"], "isLearner": True},
    "members": [
        {
            "ID": "10276657743932975437",
            "name": "node1",
            "peerURLs": ["https://10.0.0.11:2380"],
            "clientURLs": ["https://10.0.0.11:2379"],
        },
        {
            "ID": "1554924442034455573",
            "name": "node2",
            "peerURLs": ["https://10.0.0.12:2380"],
            "clientURLs": ["https://10.0.0.12:2379"],
        },
        {"ID": "5227563225216391186", "peerURLs": ["https://10.0.0.14:2380"], "isLearner": True},
    ],
}


def test_parse_members_reads_ids_as_hex_and_keeps_unstarted_members():
    members = parse_members(ADD_ANSWER)
    assert [m.id for m in members] == ["8e9e05c52164694d", "1594338aac094415", "488c090e77eb1812"]
    assert [m.name for m in members] == ["node1", "node2", ""]
    assert [m.started for m in members] == [True, True, False]
    assert members[2].is_learner and not members[0].is_learner
    assert members[0].as_dict()["client_urls"] == ["https://10.0.0.11:2379"]


def test_find_by_name_or_by_peer_url_of_an_unstarted_member():
    members = parse_members(ADD_ANSWER)
    assert find(members, "node2").name == "node2"
    assert find(members, "node4", ["https://10.0.0.14:2380"]).id == "488c090e77eb1812"
    assert find(members, "node5", ["https://10.0.0.15:2380"]) is None
    assert find(members, "node5") is None


def test_find_refuses_a_name_that_moved_to_another_address():
    members = parse_members(ADD_ANSWER)
    with pytest.raises(
        MemberError, match=re.escape("node2 exists with peer URLs https://10.0.0.12:2380, not https://10.0.0.19:2380")
    ):
        find(members, "node2", ["https://10.0.0.19:2380"])


def test_find_refuses_a_name_and_an_address_held_by_two_members():
    members = parse_members(ADD_ANSWER)
    with pytest.raises(MemberError, match="remove the stale member first"):
        find(members, "node2", ["https://10.0.0.11:2380"])


def test_initial_cluster_names_the_joining_member():
    members = parse_members(ADD_ANSWER)
    joining = find(members, "node4", ["https://10.0.0.14:2380"])
    assert initial_cluster(members, "node4", joining) == (
        "node1=https://10.0.0.11:2380,node2=https://10.0.0.12:2380,node4=https://10.0.0.14:2380"
    )


def test_initial_cluster_refuses_while_another_member_never_started():
    members = [*parse_members(ADD_ANSWER), Member("abc", "", ("https://10.0.0.15:2380",), (), True)]
    joining = find(members, "node4", ["https://10.0.0.14:2380"])
    with pytest.raises(MemberError, match=r"abc \(.*\) was added but never started"):
        initial_cluster(members, "node4", joining)
