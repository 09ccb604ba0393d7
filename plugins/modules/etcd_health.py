#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_health
short_description: Wait until an etcd cluster is healthy, over mutual TLS
version_added: 0.1.0
description:
  - Asks every endpoint for C(/health), C(/v3/maintenance/status) and C(/v3/cluster/member/list) through etcd's
    JSON gateway, using a client certificate.
  - The cluster is healthy when every endpoint answers C(/health) with true, reports no errors, all endpoints
    agree on exactly one leader that is in the member list, every endpoint returns the same member list and,
    when O(expected_members) is set, that list has that many members.
  - Polls until the cluster is healthy or O(wait_timeout) passes, then fails with one message that names every
    unhealthy member and why (connection refused, TLS error, no leader, disagreement).
  - Only reads; never changes anything.
extends_documentation_fragment:
  - airgap.k8s._health
options:
  endpoints:
    description:
      - Client URLs of the members to check, for example C(https://192.0.2.11:2379).
      - Each endpoint is checked on its own, so list every member to see every member.
    type: list
    elements: str
    required: true
  ca_cert:
    description:
      - PEM file of the CA that signed the etcd server certificates (C(etcd/ca.crt)).
    type: path
    required: true
  client_cert:
    description:
      - PEM client certificate signed by the etcd CA, for example C(etcd/healthcheck-client.crt).
      - Required by members that run with C(--client-cert-auth).
    type: path
  expected_members:
    description:
      - Number of members the member list must have. Not checked when omitted.
    type: int
  fail_on_unhealthy:
    description:
      - Fail when the cluster is still unhealthy after O(wait_timeout).
      - Set to V(false) to get the report anyway, for example to assert that a stopped member is seen as down
        (use O(wait_timeout=0) then, so it does not wait for a recovery that will not come).
    type: bool
    default: true
notes:
  - Standard library only (C(urllib), C(ssl)); needs no etcdctl and no Python packages on the host.
  - Server certificates are verified against O(ca_cert), including the host name or IP address in the URL.
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Wait for etcd to be healthy with all three members
  airgap.k8s.etcd_health:
    endpoints:
      - https://192.0.2.11:2379
      - https://192.0.2.12:2379
      - https://192.0.2.13:2379
    ca_cert: /etc/kubernetes/pki/etcd/ca.crt
    client_cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    client_key: /etc/kubernetes/pki/etcd/healthcheck-client.key
    expected_members: 3
    wait_timeout: 180

- name: See which members are down without failing
  airgap.k8s.etcd_health:
    endpoints: "{{ groups['etcd'] | map('extract', hostvars, 'ip') | map('regex_replace', '^(.*)$', 'https://\\1:2379') }}"
    ca_cert: /etc/kubernetes/pki/etcd/ca.crt
    client_cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    client_key: /etc/kubernetes/pki/etcd/healthcheck-client.key
    wait_timeout: 0
    fail_on_unhealthy: false
  register: etcd

- name: Show the unhealthy members
  ansible.builtin.debug:
    msg: "{{ etcd.members | rejectattr('healthy') | map(attribute='name') }}"
"""

RETURN = r"""
healthy:
  description: Whether the cluster was healthy at the last poll.
  returned: always
  type: bool
  sample: true
members:
  description: One entry per endpoint, in the order of O(endpoints).
  returned: always
  type: list
  elements: dict
  contains:
    endpoint:
      description: The endpoint asked.
      type: str
      sample: https://192.0.2.11:2379
    name:
      description:
        - The member's name. For an endpoint that did not answer it comes from the other members' lists
          (matched by client URL), else it is the endpoint.
      type: str
      sample: etcd1
    id:
      description: The member ID in hexadecimal, as C(etcdctl member list) prints it; null when unknown.
      type: str
      sample: 8e9e05c52164694d
    healthy:
      description: Whether this member passed every check.
      type: bool
      sample: true
    is_leader:
      description: Whether this member is the agreed leader.
      type: bool
      sample: false
    version:
      description: The etcd server version; null when it did not answer.
      type: str
      sample: 3.6.4
    db_size:
      description: Size of the backend database in bytes; null when it did not answer.
      type: int
      sample: 20480
    raft_index:
      description: The member's raft index; null when it did not answer.
      type: int
      sample: 9
    error:
      description: Why the member is unhealthy; null when healthy.
      type: str
      sample: connection refused
leader:
  description: Name of the leader all answering members agree on; null when there is none or they disagree.
  returned: always
  type: str
  sample: etcd2
leader_id:
  description: ID (hexadecimal) of that leader; null when there is none.
  returned: always
  type: str
  sample: fb7ab1a25c4c6e49
healthy_count:
  description: Number of endpoints that passed every check.
  returned: always
  type: int
  sample: 3
member_count:
  description: Number of members in the member list most endpoints returned (0 when none answered).
  returned: always
  type: int
  sample: 3
problems:
  description: Every reason the cluster is not healthy, one sentence each; empty when healthy.
  returned: always
  type: list
  elements: str
  sample: ["etcd3 (https://192.0.2.13:2379): connection refused"]
"""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ansible_collections.airgap.k8s.plugins.module_utils._health import (
    REQUEST_TIMEOUT,
    FetchError,
    common_argument_spec,
    fetch_json,
    health_module,
    http_error,
    join_url,
    module_tls_context,
    poll_and_exit,
)


@dataclass
class EndpointProbe:
    """What one endpoint answered: parsed JSON bodies, or why it did not answer."""

    endpoint: str
    health: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    member_list: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class MemberReport:
    endpoint: str
    name: str
    id: str | None = None
    healthy: bool = False
    is_leader: bool = False
    version: str | None = None
    db_size: int | None = None
    raft_index: int | None = None
    error: str | None = None


@dataclass
class EtcdReport:
    healthy: bool
    members: list[MemberReport] = field(default_factory=list)
    leader: str | None = None
    leader_id: str | None = None
    healthy_count: int = 0
    member_count: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.healthy

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _uint(value: Any) -> int:
    """etcd's gateway sends uint64/int64 as decimal strings and omits zero values."""
    if value is None or value == "":
        return 0
    return int(value)


def _hex(member_id: int | None) -> str | None:
    return format(member_id, "x") if member_id else None


def _signature(members: dict[int, dict[str, Any]]) -> frozenset:
    return frozenset(
        (
            mid,
            m.get("name", ""),
            tuple(sorted(m.get("peerURLs") or [])),
            tuple(sorted(m.get("clientURLs") or [])),
            bool(m.get("isLearner")),
        )
        for mid, m in members.items()
    )


def _describe(member_id: int, *lists: dict[int, dict[str, Any]]) -> str:
    """'etcd2', or the hex ID of a member that has no name yet (added but never started)."""
    for members in lists:
        name = (members.get(member_id) or {}).get("name")
        if name:
            return name
    return f"{_hex(member_id)} (not started)" if any(member_id in m for m in lists) else str(_hex(member_id))


def _most_common(values: list[Any]) -> Any:
    """The value most endpoints report; ties go to the first endpoint (Counter keeps insertion order)."""
    return Counter(values).most_common(1)[0][0] if values else None


@dataclass
class _Seen:
    """One endpoint's answers, parsed."""

    probe: EndpointProbe
    own: int = 0
    cluster: int = 0
    leader: int = 0
    members: dict[int, dict[str, Any]] | None = None
    errors: list[str] = field(default_factory=list)


def _parse(probe: EndpointProbe) -> _Seen:
    seen = _Seen(probe=probe)
    if probe.error is not None:
        return seen
    for attr in ("health", "status", "member_list"):
        if getattr(probe, attr) is not None and not isinstance(getattr(probe, attr), dict):
            seen.errors.append(f"unexpected {attr} answer from the JSON gateway: {getattr(probe, attr)!r:.100}")
            probe = replace(probe, **{attr: None})
    seen.probe = probe
    try:
        for doc in (probe.status, probe.member_list):
            header = (doc or {}).get("header") or {}
            seen.own = seen.own or _uint(header.get("member_id"))
            seen.cluster = seen.cluster or _uint(header.get("cluster_id"))
        if probe.status is not None:
            seen.leader = _uint(probe.status.get("leader"))
        if probe.member_list is not None:
            seen.members = {_uint(m.get("ID")): m for m in probe.member_list.get("members") or []}
    except (TypeError, ValueError, AttributeError) as exc:
        seen.errors.append(f"unexpected answer from the JSON gateway ({exc})")
    return seen


def evaluate(probes: list[EndpointProbe], expected_members: int | None = None) -> EtcdReport:
    """Decide whether the cluster is healthy from what each endpoint answered. Pure: no I/O."""
    seen = [_parse(p) for p in probes]

    # What most endpoints say is the reference; each endpoint that says otherwise is named.
    listed = [s for s in seen if s.members is not None]
    ref_sig = _most_common([_signature(s.members) for s in listed])
    reference = next((s.members for s in listed if _signature(s.members) == ref_sig), {})
    ref_cluster = _most_common([s.cluster for s in seen if s.cluster])
    leaders = [s.leader for s in seen if s.leader]
    ref_leader = _most_common(leaders) or 0

    cluster_problems: list[str] = []
    leader = ref_leader if len(set(leaders)) == 1 else 0
    if any(s.probe.status is not None for s in seen) and not leaders:
        cluster_problems.append("no member knows a leader: quorum is lost or an election is in progress")
    elif len(set(leaders)) > 1:
        says = [
            f"{_endpoint_name(s, reference)} says {_describe(s.leader, reference, s.members or {})}"
            for s in seen
            if s.leader
        ]
        cluster_problems.append("members disagree on the leader: " + "; ".join(says))
    if leader and reference and leader not in reference:
        cluster_problems.append(f"the leader {_hex(leader)} is not in the member list")
        leader = 0
    if listed and expected_members is not None and len(reference) != expected_members:
        names = ", ".join(sorted(_describe(i, reference) for i in reference)) or "none"
        cluster_problems.append(f"the member list has {len(reference)} members ({names}), expected {expected_members}")
    if not probes:
        cluster_problems.append("no endpoints given")

    members: list[MemberReport] = []
    for s in seen:
        report = MemberReport(endpoint=s.probe.endpoint, name=_endpoint_name(s, reference), id=_hex(s.own))
        errors = list(s.errors)
        if s.probe.error is not None:
            errors.append(s.probe.error)
        else:
            errors.extend(_endpoint_errors(s, reference, ref_cluster, ref_leader))
            status = s.probe.status or {}
            report.version = status.get("version")
            try:
                report.db_size = _uint(status.get("dbSize")) if status else None
                report.raft_index = _uint(status.get("raftIndex")) if status else None
            except (TypeError, ValueError):
                errors.append("unexpected dbSize/raftIndex in the status answer")
        report.is_leader = bool(leader) and s.own == leader
        report.healthy = not errors
        report.error = "; ".join(errors) or None
        members.append(report)

    # Members first: the message names who is down before what that means for the cluster.
    problems = [
        f"{m.name} ({m.endpoint}): {m.error}" if m.name != m.endpoint else f"{m.endpoint}: {m.error}"
        for m in members
        if not m.healthy
    ] + cluster_problems
    return EtcdReport(
        healthy=not problems and bool(leader),
        members=members,
        leader=_describe(leader, reference) if leader else None,
        leader_id=_hex(leader),
        healthy_count=sum(1 for m in members if m.healthy),
        member_count=len(reference),
        problems=problems,
    )


def _endpoint_name(s: _Seen, reference: dict[int, dict[str, Any]]) -> str:
    """The member's own name, else the name the others give the member with this client URL, else the URL."""
    for members in (s.members or {}, reference):
        name = (members.get(s.own) or {}).get("name") if s.own else None
        if name:
            return name
    endpoint = s.probe.endpoint.rstrip("/")
    for m in reference.values():
        if endpoint in [u.rstrip("/") for u in m.get("clientURLs") or []] and m.get("name"):
            return m["name"]
    return s.probe.endpoint


def _endpoint_errors(s: _Seen, reference: dict[int, dict[str, Any]], ref_cluster: int, ref_leader: int) -> list[str]:
    probe = s.probe
    errors = []
    health = probe.health or {}
    if str(health.get("health", "")).lower() != "true":
        reason = health.get("reason")
        errors.append("/health reports false" + (f" ({reason})" if reason else ""))
    if s.cluster and ref_cluster and s.cluster != ref_cluster:
        errors.append(
            f"belongs to another cluster (cluster ID {_hex(s.cluster)}, the others {_hex(ref_cluster)}): was its data "
            "directory recreated with --initial-cluster-state=new?"
        )
    if probe.status is None:
        errors.append("no status answer")
    else:
        reported = [str(msg).strip() for msg in probe.status.get("errors") or []]
        errors.extend(f"reports error: {msg}" for msg in reported)
        if not s.leader and not any("no leader" in msg for msg in reported):
            errors.append("no leader")
        elif s.leader and ref_leader and s.leader != ref_leader:
            mine = _describe(s.leader, reference, s.members or {})
            errors.append(f"sees leader {mine}, the others see {_describe(ref_leader, reference)}")
    if s.members is None:
        errors.append("no member list answer")
    else:
        if s.own and s.own not in s.members:
            errors.append("is not in its own member list")
        if reference and _signature(s.members) != _signature(reference):
            missing = set(reference) - set(s.members)
            extra = set(s.members) - set(reference)
            detail = []
            if missing:
                detail.append("lacks " + ", ".join(sorted(f"{_describe(i, reference)} ({_hex(i)})" for i in missing)))
            if extra:
                detail.append("has " + ", ".join(sorted(f"{_describe(i, s.members)} ({_hex(i)})" for i in extra)))
            errors.append(
                "member list differs from the others' (" + ("; ".join(detail) or "different names or URLs") + ")"
            )
    return errors


def probe(endpoint: str, context: Any, timeout: float = REQUEST_TIMEOUT) -> EndpointProbe:
    """Ask one endpoint; stop at the first transport error (connection refused, TLS...)."""
    result = EndpointProbe(endpoint=endpoint)
    try:
        # /health answers 503 with {"health": "false"} when there is no leader: keep the body.
        result.health = fetch_json(join_url(endpoint, "/health"), context, timeout=timeout)[1]
        for attr, path in (("status", "/v3/maintenance/status"), ("member_list", "/v3/cluster/member/list")):
            code, doc = fetch_json(join_url(endpoint, path), context, method="POST", body={}, timeout=timeout)
            if code != 200:
                raise FetchError(f"{path}: {http_error(code, json.dumps(doc))}")
            setattr(result, attr, doc)
    except FetchError as exc:
        result.error = str(exc)
    return result


def check(
    endpoints: list[str], context: Any, expected_members: int | None = None, timeout: float = REQUEST_TIMEOUT
) -> EtcdReport:
    """One round: probe every endpoint, then evaluate."""
    return evaluate([probe(e, context, timeout) for e in endpoints], expected_members)


ARGUMENT_SPEC = {
    **common_argument_spec(),
    "endpoints": {"type": "list", "elements": "str", "required": True},
    "expected_members": {"type": "int"},
    "fail_on_unhealthy": {"type": "bool", "default": True},
}


def main() -> None:
    module = health_module(ARGUMENT_SPEC, "endpoints", "etcd client ports")
    p = module.params
    if not p["endpoints"]:
        module.fail_json(msg="endpoints is empty: list the client URL of every etcd member")
    context = module_tls_context(module)
    poll_and_exit(
        module,
        lambda: check(p["endpoints"], context, p["expected_members"]),
        "etcd is not healthy",
        fail=p["fail_on_unhealthy"],
    )


if __name__ == "__main__":
    main()
