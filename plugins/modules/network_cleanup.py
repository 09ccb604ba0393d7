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
extends_documentation_fragment:
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

import json
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._host_reset import (
    filter_iptables_save,
    nft_tables,
    wanted_links,
)

ARGUMENT_SPEC = {
    "links": {"type": "list", "elements": "str", "default": []},
    "chain_prefixes": {"type": "list", "elements": "str", "default": []},
    "ipset_prefixes": {"type": "list", "elements": "str", "default": []},
    "nft_tables": {"type": "list", "elements": "str", "default": []},
}


def run(module: AnsibleModule, argv: list[str], data: str | None = None) -> str:
    rc, out, err = module.run_command(argv, data=data, binary_data=data is not None)
    if rc != 0:
        module.fail_json(msg=f"{' '.join(argv)} failed ({rc}): {err.strip() or out.strip()}")
    return out


def iptables_commands() -> list[str]:
    """One iptables command per backend and IP version that is installed (legacy and nft rules are separate)."""
    commands = []
    for family in ("iptables", "ip6tables"):
        backends = [f"{family}-{b}" for b in ("nft", "legacy") if shutil.which(f"{family}-{b}-save")]
        if not backends and shutil.which(f"{family}-save"):
            backends = [family]
        commands.extend(backends)
    return commands


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    result: dict[str, list[str]] = {"links": [], "chains": [], "ipsets": [], "nft_tables": []}

    if p["links"]:
        present = [link["ifname"] for link in json.loads(run(module, ["ip", "-j", "link", "show"]) or "[]")]
        for name in wanted_links(present, p["links"]):
            if not module.check_mode:
                run(module, ["ip", "link", "delete", name])
            result["links"].append(name)

    if p["chain_prefixes"]:
        for command in iptables_commands():
            for table in filter_iptables_save(run(module, [f"{command}-save"]), p["chain_prefixes"]):
                if not module.check_mode:
                    run(module, [f"{command}-restore"], data=table.text)
                result["chains"].extend(f"{command} {table.table} {chain}" for chain in table.chains)

    if p["nft_tables"] and shutil.which("nft"):
        present_tables = {f"{family} {name}" for family, name in nft_tables(run(module, ["nft", "list", "tables"]))}
        for wanted in p["nft_tables"]:
            if " ".join(wanted.split()) in present_tables:
                if not module.check_mode:
                    run(module, ["nft", "delete", "table", *wanted.split()])
                result["nft_tables"].append(wanted)

    # After the iptables rules: a set still referenced by a rule cannot be destroyed.
    if p["ipset_prefixes"] and shutil.which("ipset"):
        for name in run(module, ["ipset", "list", "-n"]).split():
            if any(name.startswith(prefix) for prefix in p["ipset_prefixes"]):
                if not module.check_mode:
                    run(module, ["ipset", "destroy", name])
                result["ipsets"].append(name)

    module.exit_json(changed=any(result.values()), **result)


if __name__ == "__main__":
    main()
