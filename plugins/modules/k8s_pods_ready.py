#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_pods_ready
short_description: Wait until the pods of some namespaces are running and ready
version_added: 0.1.0
description:
  - Lists the pods of each namespace in O(namespaces) through the apiserver
    (C(GET /api/v1/namespaces/<namespace>/pods)) with a client certificate.
  - Ready when every pod is in phase C(Running) with all its containers ready, or in phase C(Succeeded)
    (completed Job pods), and at least O(min_pods) pods were found.
  - Polls until ready or O(wait_timeout) passes, then fails naming each pod that is not ready and why, using
    the reason Kubernetes gives (for example C(CrashLoopBackOff), C(ImagePullBackOff), C(Unschedulable)).
  - Only reads; never changes anything.
extends_documentation_fragment:
  - airgap.k8s._health
  - airgap.k8s._health.apiserver
options:
  client_cert:
    description:
      - PEM client certificate of a user allowed to list pods, for example the admin certificate.
    type: path
  namespaces:
    description:
      - Namespaces whose pods must be ready.
    type: list
    elements: str
    default: [kube-system]
  label_selector:
    description:
      - Only consider pods matching this label selector, for example C(k8s-app=kube-dns).
    type: str
  min_pods:
    description:
      - Fewest pods that must be found (over all O(namespaces)) before the pods count as ready.
      - Guards against a namespace that looks ready only because its pods have not been created yet.
    type: int
    default: 0
notes:
  - Standard library only (C(urllib), C(ssl)); needs no kubectl and no Python packages on the host.
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Wait for CoreDNS
  airgap.k8s.k8s_pods_ready:
    url: https://127.0.0.1:6443
    ca_cert: /etc/kubernetes/pki/ca.crt
    client_cert: /etc/kubernetes/pki/admin.crt
    client_key: /etc/kubernetes/pki/admin.key
    namespaces: [kube-system]
    label_selector: k8s-app=kube-dns
    min_pods: 2
    wait_timeout: 300

- name: Wait for the network plugin's pods
  airgap.k8s.k8s_pods_ready:
    url: https://127.0.0.1:6443
    ca_cert: /etc/kubernetes/pki/ca.crt
    client_cert: /etc/kubernetes/pki/admin.crt
    client_key: /etc/kubernetes/pki/admin.key
    namespaces: [kube-flannel]
    min_pods: "{{ groups['k8s_cluster'] | length }}"
"""

RETURN = r"""
ready:
  description: Whether the pods were ready at the last poll.
  returned: always
  type: bool
  sample: true
pods:
  description: Every pod found, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
      sample: coredns-6d4b75cb6d-7xk2p
    namespace:
      description: Pod namespace.
      type: str
      sample: kube-system
    node:
      description: Node the pod is scheduled on; null while it is not scheduled.
      type: str
      sample: node1
    phase:
      description: Pod phase (C(Pending), C(Running), C(Succeeded), C(Failed), C(Unknown)).
      type: str
      sample: Running
    ready:
      description: Whether the pod counts as ready (see the description).
      type: bool
      sample: true
    restarts:
      description: Sum of the restart counts of its containers.
      type: int
      sample: 0
not_ready:
  description: Pods that are not ready, with why.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
      sample: coredns-6d4b75cb6d-7xk2p
    namespace:
      description: Pod namespace.
      type: str
      sample: kube-system
    node:
      description: Node the pod is scheduled on; null while it is not scheduled.
      type: str
      sample: node2
    phase:
      description: Pod phase.
      type: str
      sample: Running
    reason:
      description:
        - The most telling reason, for example C(CrashLoopBackOff), C(ImagePullBackOff), C(Init:ErrImagePull),
          C(Unschedulable), C(ContainersNotReady), C(Evicted), C(Terminating).
      type: str
      sample: CrashLoopBackOff
    message:
      description: Kubernetes' message for that reason, when it gives one.
      type: str
      sample: back-off 5m0s restarting failed container=coredns pod=coredns-6d4b75cb6d-7xk2p_kube-system
problems:
  description: Every reason the pods are not ready, one sentence each; empty when ready.
  returned: always
  type: list
  elements: str
  sample: ["kube-system/coredns-6d4b75cb6d-7xk2p on node2: CrashLoopBackOff"]
"""

import urllib.parse
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


@dataclass
class PodInfo:
    name: str
    namespace: str
    node: str | None
    phase: str
    ready: bool
    restarts: int = 0


@dataclass
class PodsReport:
    ready: bool
    pods: list[PodInfo] = field(default_factory=list)
    not_ready: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.ready

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return {}


def _container_problem(statuses: list[dict[str, Any]], prefix: str = "") -> tuple[str, str] | None:
    """The first container stuck waiting or failed, as (reason, message)."""
    for cs in statuses:
        state = cs.get("state") or {}
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") not in (None, "", "PodInitializing"):
            message = waiting.get("message") or ""
            last = (cs.get("lastState") or {}).get("terminated")
            if last:
                exit_info = f"last exit: {last.get('reason') or 'terminated'}, code {last.get('exitCode')}"
                message = f"{message} ({exit_info})" if message else exit_info
            return prefix + waiting["reason"], f"container {cs.get('name')}: {message}".rstrip(": ")
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode", 0) != 0:
            message = terminated.get("message") or f"exit code {terminated.get('exitCode')}"
            return prefix + (terminated.get("reason") or "Error"), f"container {cs.get('name')}: {message}"
    return None


def pod_is_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    phase = status.get("phase")
    if phase == "Succeeded":
        return True
    statuses = status.get("containerStatuses") or []
    containers = (pod.get("spec") or {}).get("containers") or statuses
    return phase == "Running" and len(statuses) >= len(containers) > 0 and all(cs.get("ready") for cs in statuses)


def pod_reason(pod: dict[str, Any]) -> tuple[str, str]:
    """Why a pod is not ready, as Kubernetes would put it: (reason, message)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating", "the pod is being deleted"
    if status.get("reason"):  # Evicted, NodeLost, UnexpectedAdmissionError...
        return status["reason"], status.get("message") or ""
    scheduled = _condition(status, "PodScheduled")
    if scheduled.get("status") == "False":
        return scheduled.get("reason") or "Unschedulable", scheduled.get("message") or ""
    found = _container_problem(status.get("initContainerStatuses") or [], prefix="Init:") or _container_problem(
        status.get("containerStatuses") or []
    )
    if found:
        return found
    if phase == "Running":
        ready = _condition(status, "Ready")
        return ready.get("reason") or "ContainersNotReady", ready.get("message") or "not every container is ready"
    return phase, status.get("message") or f"the pod is {phase}"


def evaluate(pod_lists: list[dict[str, Any]], min_pods: int = 0, errors: list[str] | None = None) -> PodsReport:
    """Decide readiness from PodList documents (plus errors of lists that failed). Pure: no I/O."""
    problems = list(errors or [])
    items = []
    for doc in pod_lists:
        if isinstance(doc, dict) and doc.get("kind", "PodList") == "PodList":
            items.extend(doc.get("items") or [])
        else:
            problems.append(f"cannot list pods: the answer is not a PodList: {doc!r:.100}")
    items.sort(
        key=lambda p: ((p.get("metadata") or {}).get("namespace", ""), (p.get("metadata") or {}).get("name", ""))
    )
    pods: list[PodInfo] = []
    not_ready: list[dict[str, Any]] = []
    for pod in items:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        info = PodInfo(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            node=(pod.get("spec") or {}).get("nodeName"),
            phase=status.get("phase") or "Unknown",
            ready=pod_is_ready(pod),
            restarts=sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or []),
        )
        pods.append(info)
        if not info.ready:
            reason, message = pod_reason(pod)
            not_ready.append(
                {
                    "name": info.name,
                    "namespace": info.namespace,
                    "node": info.node,
                    "phase": info.phase,
                    "reason": reason,
                    "message": message,
                }
            )
    for p in not_ready:
        where = f" on {p['node']}" if p["node"] else ""
        problems.append(
            f"{p['namespace']}/{p['name']}{where}: {p['reason']}" + (f": {p['message']}" if p["message"] else "")
        )
    if not problems and len(pods) < min_pods:
        problems.append(f"found {len(pods)} pods, expected at least {min_pods} (min_pods)")
    return PodsReport(ready=not problems, pods=pods, not_ready=not_ready, problems=problems)


def check(
    url: str,
    context: Any,
    namespaces: list[str],
    *,
    label_selector: str | None = None,
    min_pods: int = 0,
    timeout: float = REQUEST_TIMEOUT,
) -> PodsReport:
    """One round: list the pods of every namespace, then evaluate."""
    docs, errors = [], []
    query = {"labelSelector": label_selector} if label_selector else None
    for ns in namespaces:
        path = f"/api/v1/namespaces/{urllib.parse.quote(ns, safe='')}/pods"
        try:
            docs.append(get_json(join_url(url, path, query), context, timeout=timeout))
        except FetchError as exc:
            errors.append(f"cannot list pods in namespace {ns}: {exc}")
    return evaluate(docs, min_pods, errors)


ARGUMENT_SPEC = {
    **common_argument_spec(),
    "url": {"type": "str", "required": True},
    "namespaces": {"type": "list", "elements": "str", "default": ["kube-system"]},
    "label_selector": {"type": "str"},
    "min_pods": {"type": "int", "default": 0},
}


def main() -> None:
    module = health_module(ARGUMENT_SPEC, "url", APISERVER_URL)
    p = module.params
    if not p["namespaces"]:
        module.fail_json(msg="namespaces is empty: name at least one namespace, e.g. kube-system")
    context = module_tls_context(module)
    poll_and_exit(
        module,
        lambda: check(p["url"], context, p["namespaces"], label_selector=p["label_selector"], min_pods=p["min_pods"]),
        "pods are not ready",
    )


if __name__ == "__main__":
    main()
