# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""airgap.k8s.network_cleanup: its documentation matches its argument spec.

What it removes is decided in module_utils/_host_reset.py (tests/unit/plugins/module_utils/test_host_reset.py);
the end-to-end tests check a removed host for every interface, chain and ipset (tests/e2e/day2.py).
"""

from __future__ import annotations

from ansible_collections.airgap.k8s.plugins.modules import network_cleanup


def test_docs_match_argument_spec(documented_spec):
    docs, spec = documented_spec(network_cleanup)
    assert docs == spec
