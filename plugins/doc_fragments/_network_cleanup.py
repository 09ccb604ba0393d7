# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

# Private to the collection (the leading underscore): the options of
# network_cleanup, which component_remove takes too; both run them through
# HostRemoval.network() in plugins/module_utils/_host_reset.py, and take their
# argument spec from network_argument_spec() there.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  links:
    description: Interface names or shell globs.
    type: list
    elements: str
    default: []
  chain_prefixes:
    description: Prefixes of the iptables chains to remove, e.g. C(KUBE-), C(FLANNEL-).
    type: list
    elements: str
    default: []
  ipset_prefixes:
    description: Prefixes of the ipsets to destroy, e.g. C(KUBE-).
    type: list
    elements: str
    default: []
  nft_tables:
    description: nftables tables to delete, C(<family> <name>).
    type: list
    elements: str
    default: []
"""
