#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apiserver_health
short_description: Wait until a kube-apiserver is live and ready
version_added: 0.1.0
description:
  - Asks one kube-apiserver for C(/livez?verbose), C(/readyz?verbose) and C(/version).
  - The apiserver is healthy when C(/livez) and C(/readyz) both answer HTTP 200 (every check passed).
  - Polls until healthy or O(wait_timeout) passes, then fails naming the failing checks (the lines the
    apiserver marks with C([-]), for example C(etcd) or C(poststarthook/rbac/bootstrap-roles)).
  - Only reads; never changes anything.
extends_documentation_fragment:
  - airgap.k8s._health
  - airgap.k8s._health.apiserver
options:
  url:
    description:
      - Base URL of one apiserver, for example C(https://127.0.0.1:6443). Check each control-plane node's own
        apiserver rather than a load balancer, to learn which one is unhealthy.
    type: str
    required: true
  client_cert:
    description:
      - PEM client certificate signed by the cluster CA, for example an admin certificate.
      - Optional here, because the health endpoints and C(/version) are readable anonymously by default;
        needed when the apiserver runs with C(--anonymous-auth=false).
    type: path
notes:
  - Standard library only (C(urllib), C(ssl)); needs no kubectl and no Python packages on the host.
  - The serving certificate is verified against O(ca_cert), including the host name or IP address in O(url).
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Wait for the local apiserver
  airgap.k8s.apiserver_health:
    url: https://127.0.0.1:6443
    ca_cert: /etc/kubernetes/pki/ca.crt
    client_cert: /etc/kubernetes/pki/admin.crt
    client_key: /etc/kubernetes/pki/admin.key
    wait_timeout: 300
  register: apiserver

- name: Show the version it runs
  ansible.builtin.debug:
    var: apiserver.version
"""

RETURN = r"""
healthy:
  description: Whether both C(/livez) and C(/readyz) passed at the last poll.
  returned: always
  type: bool
  sample: true
live:
  description: Whether C(/livez) answered HTTP 200.
  returned: always
  type: bool
  sample: true
ready:
  description: Whether C(/readyz) answered HTTP 200.
  returned: always
  type: bool
  sample: false
failed_checks:
  description: Names of the checks C(/readyz) or C(/livez) report as failed, without duplicates.
  returned: always
  type: list
  elements: str
  sample: ["etcd", "poststarthook/rbac/bootstrap-roles"]
version:
  description: The C(gitVersion) from C(/version); null when it could not be read.
  returned: always
  type: str
  sample: v1.36.3
problems:
  description: Every reason the apiserver is not healthy, one sentence each; empty when healthy.
  returned: always
  type: list
  elements: str
  sample: ["readyz: HTTP 500, failing checks: etcd"]
"""

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ansible_collections.airgap.k8s.plugins.module_utils._health import (
    APISERVER_URL,
    REQUEST_TIMEOUT,
    FetchError,
    common_argument_spec,
    fetch,
    health_module,
    http_error,
    join_url,
    module_tls_context,
    poll_and_exit,
)


@dataclass
class Answer:
    """One HTTP answer: status and text, or the transport error instead."""

    status: int | None = None
    body: str = ""
    error: str | None = None


@dataclass
class ApiserverReport:
    healthy: bool
    live: bool = False
    ready: bool = False
    failed_checks: list[str] = field(default_factory=list)
    version: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.healthy

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed_check_names(body: str) -> list[str]:
    """Names from lines like ``[-]etcd failed: reason withheld``."""
    names = []
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith("[-]"):
            name = line[3:].split(" failed", 1)[0].strip()
            if name:
                names.append(name)
    return names


def _endpoint(label: str, answer: Answer, failed: list[str], problems: list[str]) -> bool:
    if answer.error is not None:
        problems.append(f"{label}: {answer.error}")
        return False
    if answer.status == 200:
        return True
    names = failed_check_names(answer.body)
    failed.extend(n for n in names if n not in failed)
    if names:
        problems.append(f"{label}: HTTP {answer.status}, failing checks: {', '.join(names)}")
    else:
        problems.append(f"{label}: {http_error(answer.status or 0, answer.body)}")
    return False


def evaluate(livez: Answer, readyz: Answer | None, version: Answer | None = None) -> ApiserverReport:
    """Decide whether the apiserver is healthy from its answers. Pure: no I/O.

    ``readyz`` is None when it was not asked because /livez got no HTTP answer.
    """
    failed: list[str] = []
    problems: list[str] = []
    ready = readyz is not None and _endpoint("readyz", readyz, failed, problems)
    live = _endpoint("livez", livez, failed, problems)
    git_version = None
    if version is not None and version.error is None and version.status == 200:
        try:
            doc = json.loads(version.body)
            git_version = doc.get("gitVersion") if isinstance(doc, dict) else None
        except ValueError:
            git_version = None
    return ApiserverReport(
        healthy=live and ready, live=live, ready=ready, failed_checks=failed, version=git_version, problems=problems
    )


def _get(url: str, context: Any, timeout: float) -> Answer:
    try:
        status, text = fetch(url, context, timeout=timeout)
    except FetchError as exc:
        return Answer(error=str(exc))
    return Answer(status=status, body=text)


def check(url: str, context: Any, timeout: float = REQUEST_TIMEOUT) -> ApiserverReport:
    """One round: ask /livez, /readyz and /version, then evaluate."""
    livez = _get(join_url(url, "/livez?verbose"), context, timeout)
    if livez.error is not None:
        # Nothing listens or TLS fails: the other two would only repeat it.
        return evaluate(livez, None)
    readyz = _get(join_url(url, "/readyz?verbose"), context, timeout)
    version = _get(join_url(url, "/version"), context, timeout)
    return evaluate(livez, readyz, version)


ARGUMENT_SPEC = {**common_argument_spec(), "url": {"type": "str", "required": True}}


def main() -> None:
    module = health_module(ARGUMENT_SPEC, "url", APISERVER_URL)
    p = module.params
    context = module_tls_context(module)
    poll_and_exit(module, lambda: check(p["url"], context), f"kube-apiserver at {p['url']} is not healthy")


if __name__ == "__main__":
    main()
