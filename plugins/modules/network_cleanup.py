#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_cleanup
short_description: Remove the network interfaces, iptables chains, ipsets and nftables tables a component made
version_added: 0.1.0
description:
  - Deletes the interfaces named in O(links) (C(cni0), C(flannel.1), C(docker0), globs such as C(cali*)).
  - Removes every iptables chain whose name starts with one of O(chain_prefixes), its rules and every rule that
    jumps to it, in every table, for IPv4 and IPv6 and for both iptables backends present on the host (nft and
    legacy). Each affected table is reloaded whole with C(iptables-restore) from a filtered C(iptables-save), so
    the host's other rules stay exactly as they were.
  - Destroys the ipsets whose names start with one of O(ipset_prefixes), and the nftables tables in O(nft_tables)
    (C(<family> <name>), e.g. C(ip kube-proxy)).
  - A tool that is not installed (ipset, nft, an iptables backend) means there is nothing of that kind to remove.
  - Changed when anything was removed; check mode reports what would be.
extends_documentation_fragment:
  - airgap.k8s._network_cleanup
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Remove what flannel made on this node
  airgap.k8s.network_cleanup:
    links: [flannel.1, cni0]
    chain_prefixes: [FLANNEL-]
    nft_tables: [ip flannel, ip6 flannel]
"""

RETURN = r"""
links:
  description: Interfaces removed.
  returned: always
  type: list
  elements: str
chains:
  description: Chains removed, as C(<command> <table> <chain>).
  returned: always
  type: list
  elements: str
  sample: [iptables-nft nat KUBE-SERVICES]
ipsets:
  description: ipsets destroyed.
  returned: always
  type: list
  elements: str
nft_tables:
  description: nftables tables deleted.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._host_reset import (
    HostRemoval,
    RemoveError,
    network_argument_spec,
)

ARGUMENT_SPEC = network_argument_spec()


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    removal = HostRemoval(module)
    try:
        removal.network(module.params)
    except RemoveError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=any(removal.network_removed.values()), **removal.network_removed)


if __name__ == "__main__":
    main()
