#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_member
short_description: Add, promote or remove one etcd member, over mutual TLS
version_added: 0.1.0
description:
  - Changes the membership of a running etcd cluster through its v3 JSON gateway
    (C(/v3/cluster/member/list), C(add), C(promote), C(remove)), the calls C(etcdctl member ...) makes.
  - O(state=present) adds the member when no member has its name or its peer URLs, by default as a learner
    (a non-voting member, so adding it never changes the quorum), and returns the C(--initial-cluster) value the
    new member must start with (C(--initial-cluster-state=existing)).
  - O(state=voting) makes an added learner a voting member once it has caught up with the leader (etcd refuses
    earlier; the module keeps asking for O(wait_timeout) seconds). A member that votes already is left alone.
  - O(state=absent) removes the member found by name or peer URLs; a member that is not there is left alone.
  - Changed only when the member list changed. In check mode nothing is sent but the member list is read.
options:
  endpoints:
    description:
      - Client URLs of members of the cluster to talk to, for example C(https://192.0.2.11:2379); tried in order
        until one answers. Do not list the member being removed.
    type: list
    elements: str
    required: true
  ca_cert:
    description:
      - PEM file of the etcd CA (C(etcd/ca.crt)).
    type: path
    required: true
  client_cert:
    description:
      - PEM client certificate signed by the etcd CA, for example C(etcd/healthcheck-client.crt).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert). Its path is kept out of logs and results.
    type: path
  wait_timeout:
    description:
      - Seconds to keep asking while etcd refuses for a passing reason, such as a learner that is still catching
        up (O(state=voting)) or members that have not been connected long enough yet (C(unhealthy cluster)).
    type: int
    default: 120
  wait_sleep:
    description:
      - Seconds between those attempts.
    type: int
    default: 2
  name:
    description:
      - The member's name (C(--name)), the inventory name in this collection.
    type: str
    required: true
  peer_urls:
    description:
      - The member's peer URLs (C(--initial-advertise-peer-urls)). Required with O(state=present). They also find
        a member that was added but has not published its name yet (never started, or just starting).
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) the member is in the list (added if missing); V(voting) it is a voting member (a learner is
        promoted); V(absent) it is not in the list.
    type: str
    choices: [present, voting, absent]
    default: present
  learner:
    description:
      - Add a new member as a learner. It then needs O(state=voting) once it has started.
    type: bool
    default: true
notes:
  - Standard library only (C(urllib), C(ssl)); needs no etcdctl on the host.
  - etcd itself refuses a change that would leave too few started members for quorum (C(--strict-reconfig-check)).
attributes:
  check_mode:
    description: Reads the member list and reports what would change; sends no change.
    support: full
  diff_mode:
    description: The member list before and after.
    support: full
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Add etcd4 as a learner, from an existing member
  airgap.k8s.etcd_member:
    endpoints: [https://192.0.2.11:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/healthcheck-client.crt
    client_key: /etc/etcd/pki/healthcheck-client.key
    name: etcd4
    peer_urls: [https://192.0.2.14:2380]
  delegate_to: etcd1
  register: added

- name: Start etcd4 with --initial-cluster={{ added.initial_cluster }} --initial-cluster-state=existing
  ansible.builtin.debug:
    msg: "{{ added.initial_cluster }}"

- name: Promote etcd4 once it has caught up
  airgap.k8s.etcd_member:
    endpoints: [https://192.0.2.11:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/healthcheck-client.crt
    client_key: /etc/etcd/pki/healthcheck-client.key
    name: etcd4
    state: voting
    wait_timeout: 120

- name: Remove etcd3
  airgap.k8s.etcd_member:
    endpoints: [https://192.0.2.11:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/healthcheck-client.crt
    client_key: /etc/etcd/pki/healthcheck-client.key
    name: etcd3
    state: absent
"""

RETURN = r"""
member:
  description: The member after the change; null when it is absent.
  returned: always
  type: dict
  contains:
    id:
      description: Member ID in hexadecimal, as C(etcdctl member list) prints it.
      type: str
      sample: 8e9e05c52164694d
    name:
      description: Its name; empty until the member has started.
      type: str
      sample: etcd4
    peer_urls:
      description: Peer URLs.
      type: list
      elements: str
    client_urls:
      description: Client URLs; empty until the member has started.
      type: list
      elements: str
    is_learner:
      description: Whether it is a learner (non-voting).
      type: bool
    started:
      description: Whether it has started (has a name in the list).
      type: bool
members:
  description: Every member after the change, in the same form as RV(member).
  returned: always
  type: list
  elements: dict
initial_cluster:
  description:
    - The C(--initial-cluster) value for this member, C(name=peerURL,...) over every member, with O(name) for the
      member itself. Only with O(state=present).
  returned: when state is present
  type: str
  sample: etcd1=https://192.0.2.11:2380,etcd4=https://192.0.2.14:2380
"""

from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.k8s.plugins.module_utils._etcd_member import (
    NOT_IN_SYNC,
    UNHEALTHY,
    Gateway,
    Member,
    MemberError,
    find,
    initial_cluster,
)
from ansible_collections.airgap.k8s.plugins.module_utils._health import (
    ConfigError,
    common_argument_spec,
    tls_context,
    wait_for,
)

ARGUMENT_SPEC = {
    **common_argument_spec(),
    "endpoints": {"type": "list", "elements": "str", "required": True},
    "name": {"type": "str", "required": True},
    "peer_urls": {"type": "list", "elements": "str", "default": []},
    "state": {"type": "str", "choices": ["present", "voting", "absent"], "default": "present"},
    "learner": {"type": "bool", "default": True},
}


def listing(members: list[Member]) -> list[dict[str, Any]]:
    return [m.as_dict() for m in members]


def patiently(
    call: Callable[[], list[Member]], transient: str, timeout: float, sleep: float, what: str
) -> list[Member]:
    """``call()``, asked again while etcd refuses with the ``transient`` reason, for up to ``timeout`` seconds."""
    outcome: dict[str, Any] = {}

    def attempt() -> bool:
        try:
            outcome["members"] = call()
            return True
        except MemberError as exc:
            if not any(reason in str(exc) for reason in transient):
                raise
            outcome["error"] = str(exc)
            return False

    if not wait_for(attempt, timeout, sleep, done=bool):
        raise MemberError(f"{what} for {timeout:.0f}s: {outcome.get('error')}")
    return outcome["members"]


def run(module: AnsibleModule, gateway: Gateway) -> dict[str, Any]:
    p = module.params
    name, peer_urls, state = p["name"], p["peer_urls"], p["state"]
    timeout, sleep = p["wait_timeout"], p["wait_sleep"]
    before = gateway.members()
    member = find(before, name, peer_urls)
    after, changed = before, False

    if state == "present":
        if not peer_urls:
            raise MemberError("peer_urls is required with state=present: the member's --initial-advertise-peer-urls")
        if member is None:
            changed = True
            if not module.check_mode:
                after = patiently(
                    lambda: gateway.add(peer_urls, p["learner"]),
                    (UNHEALTHY,),
                    timeout,
                    sleep,
                    "etcd refused the member add",
                )
                member = find(after, name, peer_urls)
            else:
                member = Member(id="0", name="", peer_urls=tuple(sorted(peer_urls)), client_urls=(), is_learner=True)
                after = [*before, member]
    elif state == "voting":
        if member is None:
            raise MemberError(f"there is no member {name}: add it (state=present) and start it first")
        if member.is_learner:
            changed = True
            if not module.check_mode:
                after = patiently(
                    lambda: gateway.promote(member),
                    (NOT_IN_SYNC, UNHEALTHY),
                    timeout,
                    sleep,
                    f"learner {name} did not catch up with the leader (is etcd running on it, can it reach the peers?)",
                )
                member = find(after, name, peer_urls)
    elif member is not None:
        changed = True
        if not module.check_mode:
            after = patiently(lambda: gateway.remove(member), (UNHEALTHY,), timeout, sleep, "etcd refused the removal")
        else:
            after = [m for m in before if m != member]
        member = None

    result: dict[str, Any] = {
        "changed": changed,
        "member": member.as_dict() if member else None,
        "members": listing(after),
        "diff": {"before": {"members": listing(before)}, "after": {"members": listing(after)}},
    }
    if state == "present" and member is not None:
        result["initial_cluster"] = initial_cluster(after, name, member)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC, required_together=[("client_cert", "client_key")], supports_check_mode=True
    )
    p = module.params
    bad = [url for url in p["endpoints"] if not url.startswith("https://")]
    if bad or not p["endpoints"]:
        module.fail_json(msg=f"endpoints must be https:// client URLs of etcd members; got {bad or 'none'}")
    try:
        context = tls_context(p["ca_cert"], p["client_cert"], p["client_key"])
    except ConfigError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = run(module, Gateway(p["endpoints"], context))
    except MemberError as exc:
        module.fail_json(msg=f"etcd member {p['name']}: {exc}")
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
