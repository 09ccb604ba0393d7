# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""airgap.k8s.etcd_member: its documentation matches its argument spec; bad input fails before any request.

The membership changes themselves run against a real etcd cluster in
tests/integration/test_etcd_member_real.py.
"""

from __future__ import annotations

from ansible_collections.airgap.k8s.plugins.modules import etcd_member


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(etcd_member)
    assert docs == spec


def test_plain_http_endpoints_are_refused(run_module, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not used")
    run = run_module(etcd_member.main, {"endpoints": ["http://127.0.0.1:2379"], "ca_cert": str(ca), "name": "n"})
    assert run.failed
    assert run.result["msg"] == "endpoints must be https:// client URLs of etcd members; got ['http://127.0.0.1:2379']"
