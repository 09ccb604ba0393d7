#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_nodes_ready
short_description: Wait until Kubernetes nodes are registered and Ready
version_added: 0.1.0
description:
  - Lists the nodes through the apiserver (C(GET /api/v1/nodes)) with a client certificate.
  - Ready when every node in O(expected_nodes) exists and has the condition C(Ready=True). Without
    O(expected_nodes), every registered node must be Ready and at least one must be registered.
  - Polls until ready or O(wait_timeout) passes, then fails naming each node that is missing or not Ready with
    the reason and message of its Ready condition (for example C(KubeletNotReady) with
    C(container runtime network not ready) while no CNI plugin is installed).
  - Only reads; never changes anything.
extends_documentation_fragment:
  - airgap.k8s._health
  - airgap.k8s._health.apiserver
options:
  client_cert:
    description:
      - PEM client certificate of a user allowed to list nodes, for example the admin certificate.
    type: path
  expected_nodes:
    description:
      - Names of the nodes that must exist and be Ready (the kubelets' node names).
      - Other registered nodes are reported but do not decide readiness.
    type: list
    elements: str
notes:
  - Standard library only (C(urllib), C(ssl)); needs no kubectl and no Python packages on the host.
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Wait for every node of the inventory to be Ready
  airgap.k8s.k8s_nodes_ready:
    url: https://127.0.0.1:6443
    ca_cert: /etc/kubernetes/pki/ca.crt
    client_cert: /etc/kubernetes/pki/admin.crt
    client_key: /etc/kubernetes/pki/admin.key
    expected_nodes: "{{ groups['k8s_cluster'] }}"
    wait_timeout: 600
    wait_sleep: 5
"""

RETURN = r"""
ready:
  description: Whether the nodes were ready at the last poll.
  returned: always
  type: bool
  sample: true
nodes:
  description: Every registered node, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
      sample: node1
    ready:
      description: Whether its Ready condition is C(True).
      type: bool
      sample: true
    kubelet_version:
      description: Kubelet version the node reports.
      type: str
      sample: v1.36.3
    internal_ip:
      description: First C(InternalIP) address; null when the node reports none.
      type: str
      sample: 192.0.2.11
    roles:
      description: Roles from the C(node-role.kubernetes.io/<role>) labels, sorted.
      type: list
      elements: str
      sample: ["control-plane"]
    container_runtime_version:
      description: Container runtime the node reports.
      type: str
      sample: containerd://2.1.4
    schedulable:
      description: False when the node is cordoned (C(spec.unschedulable)).
      type: bool
      sample: true
not_ready:
  description: Nodes that keep the module from being ready, with why.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
      sample: node2
    reason:
      description:
        - Reason of the Ready condition (for example C(KubeletNotReady), C(NodeStatusUnknown)), or C(NotRegistered)
          for an expected node that does not exist.
      type: str
      sample: KubeletNotReady
    message:
      description: Message of the Ready condition.
      type: str
      sample: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady"
problems:
  description: Every reason the nodes are not ready, one sentence each; empty when ready.
  returned: always
  type: list
  elements: str
  sample: ["node2: KubeletNotReady: container runtime network not ready"]
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from ansible_collections.airgap.k8s.plugins.module_utils._health import (
    APISERVER_URL,
    REQUEST_TIMEOUT,
    FetchError,
    common_argument_spec,
    get_json,
    health_module,
    join_url,
    module_tls_context,
    poll_and_exit,
)

ROLE_LABEL = "node-role.kubernetes.io/"


@dataclass
class NodeInfo:
    name: str
    ready: bool
    kubelet_version: str | None = None
    internal_ip: str | None = None
    roles: list[str] = field(default_factory=list)
    container_runtime_version: str | None = None
    schedulable: bool = True


@dataclass
class NodesReport:
    ready: bool
    nodes: list[NodeInfo] = field(default_factory=list)
    not_ready: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.ready

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ready_condition(node: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def node_info(node: dict[str, Any]) -> NodeInfo:
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    info = status.get("nodeInfo") or {}
    labels = meta.get("labels") or {}
    roles = {key[len(ROLE_LABEL) :] for key in labels if key.startswith(ROLE_LABEL) and key != ROLE_LABEL}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    internal = [a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"]
    cond = _ready_condition(node)
    return NodeInfo(
        name=meta.get("name", ""),
        ready=bool(cond) and cond.get("status") == "True",
        kubelet_version=info.get("kubeletVersion"),
        internal_ip=internal[0] if internal else None,
        roles=sorted(roles),
        container_runtime_version=info.get("containerRuntimeVersion"),
        schedulable=not (node.get("spec") or {}).get("unschedulable", False),
    )


def evaluate(
    node_list: dict[str, Any] | None, expected_nodes: list[str] | None = None, error: str | None = None
) -> NodesReport:
    """Decide readiness from a NodeList (or the error that replaced it). Pure: no I/O."""
    if node_list is None:
        return NodesReport(ready=False, problems=[f"cannot list nodes: {error or 'no answer'}"])
    if not isinstance(node_list, dict) or node_list.get("kind", "NodeList") != "NodeList":
        return NodesReport(
            ready=False, problems=[f"cannot list nodes: the answer is not a NodeList: {node_list!r:.100}"]
        )
    items = sorted(node_list.get("items") or [], key=lambda n: (n.get("metadata") or {}).get("name", ""))
    by_name = {(n.get("metadata") or {}).get("name", ""): n for n in items}
    nodes = [node_info(n) for n in items]
    ready_by_name = {n.name: n.ready for n in nodes}
    wanted = list(dict.fromkeys(expected_nodes)) if expected_nodes else list(by_name)

    not_ready: list[dict[str, str]] = []
    for name in wanted:
        if name not in by_name:
            not_ready.append(
                {
                    "name": name,
                    "reason": "NotRegistered",
                    "message": "no node of this name is registered: is its kubelet running and is the name right?",
                }
            )
        elif not ready_by_name[name]:
            cond = _ready_condition(by_name[name]) or {}
            not_ready.append(
                {
                    "name": name,
                    "reason": cond.get("reason") or ("NoReadyCondition" if not cond else f"Ready={cond.get('status')}"),
                    "message": cond.get("message") or "the kubelet has not reported a Ready condition yet",
                }
            )
    problems = [f"{n['name']}: {n['reason']}: {n['message']}" for n in not_ready]
    if not wanted:
        problems.append("no nodes are registered yet")
    return NodesReport(ready=not problems, nodes=nodes, not_ready=not_ready, problems=problems)


def check(
    url: str, context: Any, expected_nodes: list[str] | None = None, timeout: float = REQUEST_TIMEOUT
) -> NodesReport:
    """One round: list the nodes, then evaluate."""
    try:
        node_list = get_json(join_url(url, "/api/v1/nodes"), context, timeout=timeout)
    except FetchError as exc:
        return evaluate(None, expected_nodes, error=str(exc))
    return evaluate(node_list, expected_nodes)


ARGUMENT_SPEC = {
    **common_argument_spec(),
    "url": {"type": "str", "required": True},
    "expected_nodes": {"type": "list", "elements": "str"},
}


def main() -> None:
    module = health_module(ARGUMENT_SPEC, "url", APISERVER_URL)
    p = module.params
    context = module_tls_context(module)
    poll_and_exit(module, lambda: check(p["url"], context, p["expected_nodes"]), "nodes are not ready")


if __name__ == "__main__":
    main()
