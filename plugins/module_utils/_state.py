# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Does the controller's cluster directory belong to the cluster the hosts run?

Private to the collection. ``host_state`` runs on the hosts (standard library
only: it returns public certificates as PEM text and only hashes of the
encryption keys); ``controller_state`` and ``evaluate`` run on the
controller, where ``cryptography`` is, and compare keys, not file bytes, so a
CA certificate renewed with the same key still matches.
"""

from __future__ import annotations

import hashlib
import os
import re
import typing as t

# Imports without cryptography too (the hosts' half needs none of it).
from ansible_collections.airgap.k8s.plugins.module_utils._pki import (
    parse_certificates,
    parse_public_key,
    public_key_sha256,
)

# The controller's cluster directory (docs/design.md "Controller-side PKI").
CONTROLLER_CAS = {"kubernetes": "pki/ca.crt", "etcd": "pki/etcd/ca.crt", "front-proxy": "pki/front-proxy-ca.crt"}
CONTROLLER_SA = "pki/sa.pub"
CONTROLLER_ENCRYPTION_KEY = "encryption-key"
# What a backup keeps of the cluster directory (playbooks/etcd_backup.yml).
STATE_ENTRIES = ("pki", CONTROLLER_ENCRYPTION_KEY)

_SECRET = re.compile(r"^\s*secret:\s*[\"']?([A-Za-z0-9+/=]+)[\"']?\s*$", re.MULTILINE)
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
_PEM_PUBLIC = re.compile(r"-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+?-----END PUBLIC KEY-----")


def key_sha256(text: str) -> str:
    """How an encryption key is named in results: the sha256 of its base64 text, never the key."""
    return hashlib.sha256(text.strip().encode("ascii", errors="replace")).hexdigest()


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _first(pattern: re.Pattern[str], text: str | None) -> str | None:
    match = pattern.search(text or "")
    return match.group(0).strip() + "\n" if match else None


def host_state(
    *, etcd_data_dir: str, kubernetes_dir: str, etcd_pki_dir: str, systemd_dir: str = "/etc/systemd/system"
) -> dict[str, t.Any]:
    """What on this host shows a cluster, and the public half of its identity. Only reads."""
    k8s_pki = os.path.join(kubernetes_dir, "pki")
    candidates = {
        "kubernetes": [os.path.join(k8s_pki, "ca.crt")],
        "etcd": [os.path.join(etcd_pki_dir, "ca.crt"), os.path.join(k8s_pki, "etcd", "ca.crt")],
        "front-proxy": [os.path.join(k8s_pki, "front-proxy-ca.crt")],
    }
    cas = []
    for kind, paths in candidates.items():
        for path in paths:
            pem = _first(_PEM_CERT, _read(path))
            if pem:
                cas.append({"kind": kind, "path": path, "pem": pem})
    sa_path = os.path.join(k8s_pki, "sa.pub")
    sa_pem = _first(_PEM_PUBLIC, _read(sa_path))
    encryption_path = os.path.join(kubernetes_dir, "encryption-config.yaml")
    encryption = _read(encryption_path)
    return {
        "etcd_data": os.path.isdir(os.path.join(etcd_data_dir, "member")),
        "kube_apiserver": os.path.exists(os.path.join(systemd_dir, "kube-apiserver.service")),
        "cas": cas,
        "service_account": {"path": sa_path, "pem": sa_pem} if sa_pem else None,
        "encryption_keys": (
            {"path": encryption_path, "sha256": [key_sha256(k) for k in _SECRET.findall(encryption)]}
            if encryption is not None
            else None
        ),
    }


# --- controller side (needs cryptography) -----------------------------------


def _spki_of_certificate(pem: str | bytes) -> tuple[str, str]:
    """(sha256 of the public key, subject) of the first certificate in ``pem``."""
    data = pem.encode("ascii", errors="replace") if isinstance(pem, str) else pem
    cert = parse_certificates(data, "certificate")[0]
    return public_key_sha256(cert), cert.subject.rfc4514_string()


def _spki_of_public_key(pem: str | bytes) -> str:
    data = pem.encode("ascii", errors="replace") if isinstance(pem, str) else pem
    return public_key_sha256(parse_public_key(data, "service-account public key"))


def controller_state(cluster_dir: str) -> dict[str, t.Any]:
    """The identity the controller's cluster directory holds; absent parts are None."""
    cas: dict[str, dict[str, str] | None] = {}
    for kind, rel in CONTROLLER_CAS.items():
        path = os.path.join(cluster_dir, rel)
        text = _read(path)
        if text is None:
            cas[kind] = None
            continue
        spki, subject = _spki_of_certificate(text)
        cas[kind] = {"path": path, "spki_sha256": spki, "subject": subject}
    sa_text = _read(os.path.join(cluster_dir, CONTROLLER_SA))
    key_text = _read(os.path.join(cluster_dir, CONTROLLER_ENCRYPTION_KEY))
    return {
        "dir": cluster_dir,
        "exists": os.path.isdir(cluster_dir),
        "cas": cas,
        "service_account_spki_sha256": _spki_of_public_key(sa_text) if sa_text else None,
        "encryption_key_sha256": key_sha256(key_text) if key_text is not None else None,
    }


def fingerprints(state: t.Mapping[str, t.Any]) -> dict[str, str | None]:
    """The comparable part of ``controller_state``: what a backup records."""
    return {
        **{f"ca/{kind}": (ca or {}).get("spki_sha256") for kind, ca in state["cas"].items()},
        "service_account": state["service_account_spki_sha256"],
        "encryption_key": state["encryption_key_sha256"],
    }


def evaluate(
    controller: t.Mapping[str, t.Any], hosts: t.Mapping[str, t.Mapping[str, t.Any]]
) -> tuple[dict[str, list[str]], list[str]]:
    """(evidence of a running cluster by kind, problems). No problems: safe to go on.

    Evidence is etcd data, a kube-apiserver unit, or an installed cluster CA.
    Hosts without any are a new install, whatever the controller holds.
    """
    evidence: dict[str, list[str]] = {"etcd data": [], "kube-apiserver": [], "cluster CA": []}
    for host, state in sorted(hosts.items()):
        if state.get("etcd_data"):
            evidence["etcd data"].append(host)
        if state.get("kube_apiserver"):
            evidence["kube-apiserver"].append(host)
        if state.get("cas"):
            evidence["cluster CA"].append(host)
    problems: list[str] = []
    if not any(evidence.values()):
        return evidence, problems

    cluster_dir = controller["dir"]
    # Without the directory or its CA there is nothing to compare, one problem says it all.
    if not controller["exists"]:
        return evidence, [f"the controller's cluster directory {cluster_dir} does not exist"]
    if controller["cas"].get("kubernetes") is None:
        return evidence, [f"{cluster_dir} holds no {CONTROLLER_CAS['kubernetes']} (the cluster CA)"]
    for host, state in sorted(hosts.items()):
        for ca in state.get("cas") or []:
            mine = controller["cas"].get(ca["kind"])
            if mine is None:
                problems.append(
                    f"{host}: {ca['path']} is the {ca['kind']} CA, but {cluster_dir} has no {CONTROLLER_CAS[ca['kind']]}"
                )
                continue
            try:
                spki, subject = _spki_of_certificate(ca["pem"])
            except ValueError as exc:
                problems.append(f"{host}: {ca['path']} cannot be read as a certificate ({exc})")
                continue
            if spki != mine["spki_sha256"]:
                problems.append(
                    f"{host}: {ca['path']} ({subject}) is not the {ca['kind']} CA of {cluster_dir} "
                    f"({mine['subject']}): different keys"
                )
        sa = state.get("service_account")
        sa_mine = controller["service_account_spki_sha256"]
        if sa and sa_mine is not None and _spki_of_public_key(sa["pem"]) != sa_mine:
            problems.append(f"{host}: {sa['path']} is not the service-account key of {cluster_dir}")
        keys = state.get("encryption_keys")
        if keys and keys["sha256"]:
            if controller["encryption_key_sha256"] is None:
                problems.append(
                    f"{host}: {keys['path']} encrypts Secrets, but {cluster_dir} has no {CONTROLLER_ENCRYPTION_KEY}: "
                    "a new key would make every stored Secret unreadable"
                )
            elif controller["encryption_key_sha256"] not in keys["sha256"]:
                problems.append(
                    f"{host}: {keys['path']} does not hold the encryption key of {cluster_dir}: "
                    "its Secrets were written with another key"
                )
    return evidence, _unique(problems)


def _unique(items: t.Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def refusal(
    controller: t.Mapping[str, t.Any],
    evidence: t.Mapping[str, list[str]],
    problems: t.Sequence[str],
    backups: t.Sequence[str] = (),
) -> str:
    """The message of a refusal: what runs, what is wrong, what was not done, how to fix it."""
    cluster_dir = controller["dir"]
    running = "; ".join(f"{kind} on {', '.join(hosts)}" for kind, hosts in evidence.items() if hosts)
    newest = (
        f"The newest backup found is {backups[-1]}: cp -a {backups[-1]}/state/. {cluster_dir}/"
        if backups
        else "No backup was found next to it (etcd_backup_dir); use the copy you keep elsewhere"
    )
    return (
        f"Refusing to go on: the hosts run a cluster ({running}), but the controller's cluster directory "
        f"{cluster_dir} does not hold that cluster's state: " + "; ".join(problems) + ". Nothing was changed. "
        "Going on would create new certificate authorities and keys (and a new Secrets encryption key) over the "
        "running cluster: its components would stop trusting each other and stored Secrets would become unreadable. "
        "If you moved or renamed the directory, put it back or set airgap_cluster_dir to it. Otherwise restore it "
        "from a backup made by playbooks/etcd_backup.yml, whose state/ directory holds the CAs, keys and encryption "
        f"key (docs/operations.md, 'Restoring the controller's cluster directory'). {newest}. If the hosts hold "
        "nothing worth keeping (a first install that failed), clean them before installing anew."
    )
