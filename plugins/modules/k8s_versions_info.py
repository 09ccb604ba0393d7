#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_versions_info
short_description: Read the Nodes and every kube-apiserver's version in one call
version_added: 0.1.0
description:
  - Lists the Nodes (C(/api/v1/nodes)) from O(url) and asks each apiserver of O(apiservers) for C(/version).
  - The filter C(airgap.k8s.upgrade_plan) compares what it returns with the inventory's versions (playbooks/upgrade.yml
    and site.yml's version guard).
  - One module run in place of a kubectl call per read; on the controller it runs in a fork of the worker.
  - Only reads; never changes anything.
extends_documentation_fragment:
  - airgap.k8s._health
  - airgap.k8s._health.apiserver
options:
  url:
    description:
      - Base URL of the apiserver to list the Nodes from, for example C(https://192.0.2.11:6443).
    type: str
    required: true
  apiservers:
    description:
      - Each apiserver to read C(/version) from, by name (the control plane's inventory name), as its base URL.
    type: dict
    default: {}
  client_cert:
    description:
      - PEM client certificate of a user allowed to list nodes, for example the admin certificate.
    type: path
  fail_on_error:
    description:
      - Fail when a read does not answer after O(wait_timeout). V(false) returns what answered and the problems.
    type: bool
    default: true
notes:
  - Standard library only (C(urllib), C(ssl)); needs no kubectl and no Python packages on the host.
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read what the cluster runs
  airgap.k8s.k8s_versions_info:
    url: https://192.0.2.11:6443
    apiservers:
      cp1: https://192.0.2.11:6443
      cp2: https://192.0.2.12:6443
    ca_cert: /etc/kubernetes/pki/ca.crt
    client_cert: /etc/kubernetes/pki/admin.crt
    client_key: /etc/kubernetes/pki/admin.key
    wait_timeout: 0
  register: running
"""

RETURN = r"""
ok:
  description: Whether every read answered.
  returned: always
  type: bool
  sample: true
nodes:
  description: The NodeList as the API returned it (C(kubectl get nodes -o json)); an empty dict when it did not answer.
  returned: always
  type: dict
apiservers:
  description: The C(gitVersion) of each apiserver that answered, by name.
  returned: always
  type: dict
  sample: {"cp1": "v1.36.3"}
problems:
  description: Every read that did not answer, one sentence each; empty when RV(ok) is true.
  returned: always
  type: list
  elements: str
  sample: ["apiserver cp2 (https://192.0.2.12:6443): connection refused"]
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from ansible_collections.airgap.k8s.plugins.module_utils._health import (
    APISERVER_URL,
    FetchError,
    common_argument_spec,
    get_json,
    health_module,
    join_url,
    module_tls_context,
    poll_and_exit,
)


@dataclass
class VersionsReport:
    nodes: dict[str, Any] = field(default_factory=dict)
    apiservers: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def read(url: str, apiservers: dict[str, str], context: Any) -> VersionsReport:
    """One round: the NodeList from ``url``, then each apiserver's /version."""
    report = VersionsReport()
    try:
        node_list = get_json(join_url(url, "/api/v1/nodes"), context)
    except FetchError as exc:
        report.problems.append(f"cannot list nodes from {url}: {exc}")
    else:
        if isinstance(node_list, dict) and node_list.get("kind") == "NodeList":
            report.nodes = node_list
        else:
            report.problems.append(f"cannot list nodes from {url}: the answer is not a NodeList: {node_list!r:.100}")
    for name, base in sorted(apiservers.items()):
        try:
            answer = get_json(join_url(base, "/version"), context)
        except FetchError as exc:
            report.problems.append(f"apiserver {name} ({base}): {exc}")
            continue
        version = answer.get("gitVersion") if isinstance(answer, dict) else None
        if isinstance(version, str) and version:
            report.apiservers[name] = version
        else:
            report.problems.append(f"apiserver {name} ({base}): /version has no gitVersion: {answer!r:.100}")
    return report


ARGUMENT_SPEC = {
    **common_argument_spec(),
    "url": {"type": "str", "required": True},
    "apiservers": {"type": "dict", "default": {}},
    "fail_on_error": {"type": "bool", "default": True},
}


def main() -> None:
    module = health_module(ARGUMENT_SPEC, "url", APISERVER_URL)
    p = module.params
    bad = sorted(name for name, base in p["apiservers"].items() if not str(base).startswith("https://"))
    if bad:
        module.fail_json(msg=f"apiservers must map names to https:// URLs of apiservers; not so for {', '.join(bad)}")
    apiservers = {str(name): str(base) for name, base in p["apiservers"].items()}
    context = module_tls_context(module)
    poll_and_exit(
        module,
        lambda: read(p["url"], apiservers, context),
        "cannot read the cluster's versions",
        fail=p["fail_on_error"],
    )


if __name__ == "__main__":
    main()
