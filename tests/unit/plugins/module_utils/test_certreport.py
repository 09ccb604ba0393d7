"""_certreport: rows sorted by expiry, days left, the expiring list and the table."""

from __future__ import annotations

import pytest
from _pkifactory import DAY, NOW, ca, leaf

from ansible_collections.airgap.k8s.plugins.module_utils._certreport import build_report, describe, format_table
from ansible_collections.airgap.k8s.plugins.module_utils._pki import serial_hex


@pytest.fixture(scope="module")
def certs():
    root = ca("kubernetes-ca")
    etcd = ca("etcd-ca")
    return {
        "ca": root,
        "apiserver": leaf(root, "kube-apiserver", days=365),
        "kubelet": leaf(root, "system:node:node2", days=10),
        "peer": leaf(etcd, "node1", days=40),
        "old": leaf(root, "expired", days=1, now=NOW - 3 * DAY),
    }


def entry(pair, location, kind="file", index=0):
    return {"location": location, "kind": kind, "index": index, "pem": pair.pem}


def test_rows_sorted_by_expiry_with_days_left_subject_and_issuer(certs):
    report = build_report(
        {
            "node1": [
                entry(certs["apiserver"], "/etc/kubernetes/pki/apiserver.crt"),
                entry(certs["peer"], "/etc/etcd/pki/peer.crt"),
            ],
            "node2": [entry(certs["kubelet"], "/etc/kubernetes/kubelet.conf#client-certificate-data", "kubeconfig")],
            "controller": [entry(certs["ca"], "/c/pki/ca.crt"), entry(certs["old"], "/c/pki/old.crt")],
        },
        NOW,
    )
    assert [(r.host, r.subject, r.days_left) for r in report.rows] == [
        ("controller", "expired", -2),
        ("node2", "system:node:node2", 10),
        ("node1", "node1", 40),
        ("node1", "kube-apiserver", 365),
        ("controller", "kubernetes-ca", 3650),
    ]
    peer = report.rows[2]
    assert peer.issuer == "etcd-ca" and peer.serial == serial_hex(certs["peer"].cert.serial_number)
    assert peer.not_after == "2027-01-01T08:00:00Z" and not peer.is_ca
    assert report.rows[-1].is_ca
    assert report.expiring == [] and report.errors == []


def test_expiring_within_n_days_includes_expired_ones(certs):
    found = {"n": [entry(certs["kubelet"], "/k"), entry(certs["peer"], "/p"), entry(certs["old"], "/o")]}
    assert [r.location for r in build_report(found, NOW, 10).expiring] == ["/o"]  # 10 days left is not within 10
    assert [r.location for r in build_report(found, NOW, 11).expiring] == ["/o", "/k"]
    assert [r.location for r in build_report(found, NOW, 0).expiring] == ["/o"]
    text = describe(build_report(found, NOW, 11).expiring)
    assert "n:/o (expired) expired 2026-11-20T08:00:00Z" in text and "n:/k (system:node:node2) expires" in text


def test_unreadable_entries_and_collection_errors_are_reported_not_fatal(certs):
    report = build_report(
        {"n": [{"location": "/bad", "kind": "file", "index": 0, "pem": "nonsense"}, entry(certs["ca"], "/ca")]},
        NOW,
        errors={"m": [{"path": "https://10.0.0.1:2379", "error": "connection refused"}]},
    )
    assert [r.location for r in report.rows] == ["/ca"]
    assert {"host": "n", "path": "/bad", "error": "/bad is not a PEM certificate"} in report.errors
    assert {"host": "m", "path": "https://10.0.0.1:2379", "error": "connection refused"} in report.errors
    assert report.lines[-2:] == [
        "cannot read m:https://10.0.0.1:2379: connection refused",
        "cannot read n:/bad: /bad is not a PEM certificate",
    ]


def test_second_certificate_of_a_chain_is_marked(certs):
    (row,) = build_report({"n": [entry(certs["ca"], "/bundle.crt", index=1)]}, NOW).rows
    assert row.location == "/bundle.crt [1]"


def test_table_has_a_header_and_aligned_columns(certs):
    rows = build_report({"node1": [entry(certs["kubelet"], "/a"), entry(certs["apiserver"], "/b")]}, NOW).rows
    lines = format_table(rows)
    assert lines[0].split() == ["days", "not", "after", "host", "subject", "issuer", "where"]
    assert lines[1].split()[0] == "10" and lines[2].split()[0] == "365"
    # Columns line up: every row's host starts where the header's does.
    column = lines[0].index("host")
    assert all(line[column:].startswith("node1") for line in lines[1:])
    assert all(line == line.rstrip() for line in lines)
