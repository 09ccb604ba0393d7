# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""etcd membership changes through the v3 JSON gateway (member list/add/promote/remove).

The decisions are pure functions over parsed member lists (unit-tested on
recorded answers); ``Gateway`` does the HTTP calls with _health's plumbing.
Standard library only, like the health checks: it runs on etcd members.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from ansible_collections.airgap.k8s.plugins.module_utils._health import (
    REQUEST_TIMEOUT,
    FetchError,
    fetch_json,
    http_error,
    join_url,
)

# What etcd answers to a promotion while the learner is still catching up.
NOT_IN_SYNC = "can only promote a learner member which is in sync with leader"
# What etcd answers to a membership change until every member has been
# connected for a few seconds (--strict-reconfig-check), e.g. right after a start.
UNHEALTHY = "etcdserver: unhealthy cluster"


class MemberError(Exception):
    """A membership change etcd refused, or a request this module refuses; str() says what to do."""


@dataclass(frozen=True)
class Member:
    id: str  # hexadecimal, as etcdctl prints it
    name: str  # "" for a member that was added but never started
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @property
    def started(self) -> bool:
        return bool(self.name)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["peer_urls"] = list(self.peer_urls)
        out["client_urls"] = list(self.client_urls)
        out["started"] = self.started
        return out


def parse_members(doc: dict[str, Any]) -> list[Member]:
    """Members of a /v3/cluster/member/{list,add,remove,promote} answer (IDs are decimal strings there)."""
    members = []
    for m in doc.get("members") or []:
        members.append(
            Member(
                id=format(int(m.get("ID") or 0), "x"),
                name=m.get("name") or "",
                peer_urls=tuple(sorted(m.get("peerURLs") or [])),
                client_urls=tuple(sorted(m.get("clientURLs") or [])),
                is_learner=bool(m.get("isLearner")),
            )
        )
    return members


def find(members: list[Member], name: str, peer_urls: list[str] | None = None) -> Member | None:
    """The member called ``name``, or (not started yet, so nameless) the one with these peer URLs.

    Raises MemberError when the name and the peer URLs point at different
    members: another host holds this name, or these addresses.
    """
    by_name = [m for m in members if m.name == name]
    wanted = set(peer_urls or [])
    by_url = [m for m in members if wanted and wanted & set(m.peer_urls)]
    if by_name and by_url and by_name[0] != by_url[0]:
        raise MemberError(
            f"member {name} has peer URLs {', '.join(by_name[0].peer_urls)} but member "
            f"{by_url[0].name or by_url[0].id} has {', '.join(sorted(wanted))}: remove the stale member first"
        )
    if by_name:
        if wanted and set(by_name[0].peer_urls) != wanted:
            raise MemberError(
                f"member {name} exists with peer URLs {', '.join(by_name[0].peer_urls)}, not "
                f"{', '.join(sorted(wanted))}: its address changed; remove it (playbooks/remove_nodes.yml) and add it again"
            )
        return by_name[0]
    return by_url[0] if by_url else None


def initial_cluster(members: list[Member], name: str, member: Member) -> str:
    """--initial-cluster for a member joining an existing cluster: every member's name=peerURL.

    The joining member has no name in the list yet; it is given ``name``.
    """
    parts = []
    for m in sorted(members, key=lambda m: m.name or (name if m == member else m.id)):
        label = name if m == member else m.name
        if not label:
            raise MemberError(
                f"member {m.id} ({', '.join(m.peer_urls)}) was added but never started: start it, or remove it, "
                "before another member joins"
            )
        parts.extend(f"{label}={url}" for url in m.peer_urls)
    return ",".join(parts)


class Gateway:
    """One etcd cluster behind one or more client URLs; each call tries them in order."""

    def __init__(self, endpoints: list[str], context: Any, timeout: float = REQUEST_TIMEOUT) -> None:
        self.endpoints = endpoints
        self.context = context
        self.timeout = timeout

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        errors = []
        for endpoint in self.endpoints:
            try:
                code, doc = fetch_json(
                    join_url(endpoint, path), self.context, method="POST", body=body, timeout=self.timeout
                )
            except FetchError as exc:
                errors.append(f"{endpoint}: {exc}")
                continue
            if code != 200:
                # etcd refused: another endpoint would refuse the same way.
                raise MemberError(f"{path} on {endpoint}: {http_error(code, json.dumps(doc))}")
            return doc
        raise MemberError("no endpoint answered: " + "; ".join(errors))

    def members(self) -> list[Member]:
        return parse_members(self.call("/v3/cluster/member/list", {}))

    def add(self, peer_urls: list[str], learner: bool) -> list[Member]:
        return parse_members(self.call("/v3/cluster/member/add", {"peerURLs": peer_urls, "isLearner": learner}))

    def promote(self, member: Member) -> list[Member]:
        return parse_members(self.call("/v3/cluster/member/promote", {"ID": str(int(member.id, 16))}))

    def remove(self, member: Member) -> list[Member]:
        return parse_members(self.call("/v3/cluster/member/remove", {"ID": str(int(member.id, 16))}))
