"""Refusals through the real playbook, while every host is still bare.

site.yml with a bad inventory must stop in preflight with the message that
names the problem, and leave every host as it was: nothing under
/etc/kubernetes, no units, no copied packages. This module uses the bare
`sandbox` only; it runs before anything deploys (the `cluster` fixture of
test_10 does). With E2E_REUSE=1 the hosts are not bare: then the check is
that nothing on them changed.
"""

from __future__ import annotations

import pytest

from .conftest import REFUSALS, SANDBOX_DIR, UNITS, Sandbox, refuse, reusing, snapshot


@pytest.fixture(scope="module")
def bare(sandbox: Sandbox) -> dict[str, str]:
    before = snapshot(sandbox)
    if not reusing():
        for host, listing in before.items():
            assert "dir /etc/kubernetes" not in listing, f"{host} is not bare:\n{listing}"
            assert not any(f"/{unit}.service" in listing for unit in UNITS), f"{host} has units:\n{listing}"
    return before


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_inventory_refused_before_any_host_changes(sandbox: Sandbox, bare, case, tmp_path):
    refuse(sandbox, sandbox.inventory(SANDBOX_DIR / f"refused-{case}" / "hosts.yml"), case, tmp_path, bare)
