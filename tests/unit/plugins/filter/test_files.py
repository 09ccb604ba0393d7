from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.airgap.k8s.plugins.filter.files import stale_files

SHA_A = "a" * 64
SHA_B = "b" * 64
SAME = {"exists": True, "sha256": SHA_A, "mode": "0755", "owner": "root", "group": "root"}


def test_an_identical_file_is_not_copied():
    items = [{"src": "k/kubelet", "dest": "/usr/local/bin/kubelet"}]
    assert stale_files(items, {"/usr/local/bin/kubelet": SAME}, {"k/kubelet": SHA_A}) == []


@pytest.mark.parametrize(
    "have",
    [
        {"exists": False},
        {**SAME, "sha256": SHA_B},
        {**SAME, "mode": "0775"},
        {**SAME, "owner": "nobody"},
        {**SAME, "group": "staff"},
    ],
    ids=["missing", "content", "mode", "owner", "group"],
)
def test_each_difference_makes_a_file_stale(have):
    items = [{"src": "k/kubelet", "dest": "/usr/local/bin/kubelet"}]
    assert stale_files(items, {"/usr/local/bin/kubelet": have}, {"k/kubelet": SHA_A}) == items


def test_item_checksum_and_mode_win_and_order_is_kept():
    items = [
        {"dest": "/etc/pki/a.key", "sha256": SHA_A, "mode": "0600"},
        {"dest": "/etc/pki/b.crt", "sha256": SHA_B, "mode": "644"},
        {"dest": "/etc/pki/c.crt", "sha256": SHA_A, "mode": "0644"},
    ]
    installed = {
        "/etc/pki/a.key": {**SAME, "mode": "0644"},  # key left world-readable: must be fixed
        "/etc/pki/b.crt": {**SAME, "sha256": SHA_B, "mode": "0644"},
        "/etc/pki/c.crt": {"exists": False},
    }
    assert stale_files(items, installed) == [items[0], items[2]]


def test_owner_and_group_are_parameters():
    have = {**SAME, "owner": "etcd", "group": "etcd"}
    items = [{"dest": "/var/lib/etcd/x", "sha256": SHA_A}]
    assert stale_files(items, {"/var/lib/etcd/x": have}, owner="etcd", group="etcd") == []


@pytest.mark.parametrize(
    ("items", "installed", "message"),
    [
        ([{"src": "x"}], {}, "has no dest"),
        ([{"src": "x", "dest": "/x"}], {"/x": SAME}, "no sha256 for /x"),
        ([{"dest": "/x", "sha256": SHA_A}], {}, "/x was not read"),
    ],
)
def test_bad_input_names_the_file(items, installed, message):
    with pytest.raises(AnsibleFilterError, match=message):
        stale_files(items, installed)


def test_src_on_the_controller_is_hashed(tmp_path):
    import hashlib

    cert = tmp_path / "server.crt"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    digest = hashlib.sha256(cert.read_bytes()).hexdigest()
    items = [{"src": str(cert), "dest": "/etc/etcd/pki/server.crt", "mode": "0644"}]
    same = {"/etc/etcd/pki/server.crt": {**SAME, "sha256": digest, "mode": "0644"}}
    assert stale_files(items, same) == []
    cert.write_text("-----BEGIN CERTIFICATE----- renewed\n")
    assert stale_files(items, same) == items


def test_a_src_not_made_yet_is_stale(tmp_path):
    items = [{"src": str(tmp_path / "later.crt"), "dest": "/x"}]
    assert stale_files(items, {"/x": SAME}) == items


def test_per_item_owner_wins():
    items = [{"dest": "/etc/etcd/pki/server.key", "sha256": SHA_A, "mode": "0600", "owner": "etcd", "group": "etcd"}]
    root_owned = {**SAME, "mode": "0600"}
    assert stale_files(items, {"/etc/etcd/pki/server.key": root_owned}) == items
    etcd_owned = {**root_owned, "owner": "etcd", "group": "etcd"}
    assert stale_files(items, {"/etc/etcd/pki/server.key": etcd_owned}) == []
