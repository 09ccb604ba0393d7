"""etcd: mTLS only with the etcd CA, survives losing one member, catches up."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import Cluster

ETCDCTL = ". /etc/etcd/etcdctl.env && etcdctl"


@pytest.fixture(scope="module")
def etcd_hosts(cluster: Cluster) -> list[str]:
    hosts = cluster.etcd_members
    assert len(hosts) >= 3, f"the e2e shapes have 3 etcd members, this one {hosts}"
    return hosts


def test_cluster_healthy(cluster: Cluster, etcd_hosts):
    out = cluster.ssh(etcd_hosts[0], f"{ETCDCTL} endpoint health --cluster -w json").stdout
    health = json.loads(out)
    assert len(health) == 3 and all(h["health"] for h in health), health


def test_client_without_certificate_refused(cluster: Cluster, etcd_hosts):
    host = etcd_hosts[0]
    since = cluster.ssh(host, "date -u '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    proc = cluster.ssh(
        host,
        f"ETCDCTL_API=3 etcdctl --endpoints=https://{cluster.hosts[host]}:2379 --cacert=/etc/etcd/pki/ca.crt "
        "--dial-timeout=3s --command-timeout=5s get /x",
        check=False,
    )
    assert proc.returncode != 0, proc.stdout
    # What the client prints depends on timing (a TLS alert, a broken pipe,
    # a deadline); etcd's log says why it refused.
    log = cluster.ssh(host, f"journalctl -u etcd --since '{since}' --no-pager -o cat").stdout
    assert "rejected connection on client endpoint" in log and "didn't provide a certificate" in log, log[-2000:]
    # The same request with the etcd CA's client certificate works.
    cluster.ssh(host, f"{ETCDCTL} get /x")


def test_client_signed_by_kubernetes_ca_refused(cluster: Cluster, etcd_hosts):
    """A valid client certificate from the *Kubernetes* CA must not open etcd."""
    pki = cluster.inventory.parent / "cluster" / "pki"
    host = etcd_hosts[0]
    for name in ("apiserver-kubelet-client.crt", "apiserver-kubelet-client.key"):
        cluster.put_file(host, f"/tmp/e2e-{name}", (pki / name).read_bytes())
    since = cluster.ssh(host, "date -u '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    proc = cluster.ssh(
        host,
        f"ETCDCTL_API=3 etcdctl --endpoints=https://{cluster.hosts[host]}:2379 --cacert=/etc/etcd/pki/ca.crt "
        "--cert=/tmp/e2e-apiserver-kubelet-client.crt --key=/tmp/e2e-apiserver-kubelet-client.key "
        "--dial-timeout=3s --command-timeout=5s get /x",
        check=False,
    )
    cluster.ssh(host, "rm -f /tmp/e2e-apiserver-kubelet-client.*", check=False)
    assert proc.returncode != 0, proc.stdout
    # etcd itself says why: the client certificate's issuer is not the etcd CA.
    log = cluster.ssh(host, f"journalctl -u etcd --since '{since}' --no-pager -o cat").stdout
    assert "rejected connection on client endpoint" in log and "unknown authority" in log, log[-2000:]
    # The same request with the etcd CA's client certificate works.
    cluster.ssh(host, f"{ETCDCTL} get /x")


def test_losing_one_member_keeps_writes_and_is_reported(cluster: Cluster, etcd_hosts):
    victim, survivor = etcd_hosts[-1], etcd_hosts[0]
    cluster.ssh(victim, "systemctl kill -s SIGKILL etcd && systemctl stop etcd")
    try:
        # If the victim led, the others elect a new leader first (election
        # timeout 5 s); writes succeed once they have.
        deadline = time.monotonic() + 30
        while True:
            put = cluster.ssh(survivor, f"{ETCDCTL} put /e2e/while-down yes", check=False)
            if put.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert "OK" in put.stdout, put.stderr
        status = cluster.ssh(
            survivor, f"{ETCDCTL} endpoint health --cluster -w json --command-timeout=3s", check=False
        ).stdout
        report = {h["endpoint"]: h["health"] for h in json.loads(status)}
        down = [ep for ep, ok in report.items() if not ok]
        assert down == [f"https://{cluster.hosts[victim]}:2379"], report
        # The collection's own health module sees the same.
        result = cluster.module(
            survivor,
            "airgap.k8s.etcd_health",
            {
                "endpoints": [f"https://{cluster.hosts[h]}:2379" for h in etcd_hosts],
                "ca_cert": "/etc/etcd/pki/ca.crt",
                "client_cert": "/etc/etcd/pki/healthcheck-client.crt",
                "client_key": "/etc/etcd/pki/healthcheck-client.key",
                "wait_timeout": 5,
                "fail_on_unhealthy": False,
            },
        )
        unhealthy = [m for m in result["members"] if not m["healthy"]]
        assert len(unhealthy) == 1 and cluster.hosts[victim] in json.dumps(unhealthy), result
        assert result["healthy_count"] == 2 and result["leader"], result
    finally:
        cluster.ssh(victim, "systemctl start etcd")
    # The restarted member catches up and serves the write made while it was down.
    deadline = time.monotonic() + 60
    while True:
        got = cluster.ssh(victim, f"{ETCDCTL} get /e2e/while-down --print-value-only", check=False)
        if got.stdout.strip() == "yes" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert got.stdout.strip() == "yes", got.stderr
    health = json.loads(cluster.ssh(survivor, f"{ETCDCTL} endpoint health --cluster -w json").stdout)
    assert all(h["health"] for h in health), health
