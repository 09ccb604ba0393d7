#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeconfig
short_description: Write kubeconfigs with embedded certificates
version_added: 0.1.0
description:
  - Writes a kubeconfig with one cluster, one user and one context, the CA certificate, the client certificate and the
    client key embedded as C(certificate-authority-data), C(client-certificate-data) and C(client-key-data).
  - Before writing, checks that O(server) is an https URL, that O(client_cert) is signed by O(ca_cert) and that
    O(client_key) belongs to O(client_cert).
  - Idempotent. The file is rewritten when its parsed content differs from the wanted one (formatting and key order do
    not matter; anything else in the file, such as other users or contexts, is replaced).
  - The file is mode V(0600), written atomically (a temporary file in the same directory, then a rename); missing
    directories are created mode V(0700), and the file's directory, if it has another mode, is set to V(0700).
  - Meant to run where the certificates are, normally the controller (C(delegate_to=localhost)).
  - O(kubeconfigs) writes several kubeconfigs in one call (one module execution instead of one per loop item).
author:
  - airgap.k8s contributors (!UNKNOWN)
requirements:
  - cryptography
  - PyYAML
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Certificates show as a summary (subject, expiry, fingerprint); the client key never shows, only whether it
        changed.
      - With O(kubeconfigs), one diff per kubeconfig that changed.
  platform:
    platforms: posix
options:
  path:
    description:
      - Where the kubeconfig is written.
      - Required, unless the kubeconfigs are listed in O(kubeconfigs) (then each element has its own, and this option
        is not allowed).
    type: path
  cluster_name:
    description:
      - The name of the cluster entry.
      - Required, unless the kubeconfigs are listed in O(kubeconfigs) (then each element needs it, from the element or
        from this top-level default).
    type: str
  server:
    description:
      - The API server URL, for example V(https://10.0.0.10:6443). Must use https.
      - Required, unless the kubeconfigs are listed in O(kubeconfigs) (then each element needs it, from the element or
        from this top-level default).
    type: str
  ca_cert:
    description:
      - The CA certificate (PEM) that signed the API server's and the client's certificates. A bundle of several
        certificates is embedded as is.
      - Required, unless the kubeconfigs are listed in O(kubeconfigs) (then each element needs it, from the element or
        from this top-level default).
    type: path
  client_cert:
    description:
      - The client certificate (PEM). It must be signed by a certificate in O(ca_cert).
      - Required, unless the kubeconfigs are listed in O(kubeconfigs) (then each element needs it, from the element or
        from this top-level default).
    type: path
  client_key:
    description:
      - The client's private key (unencrypted PEM). It must match O(client_cert).
      - Required, unless the kubeconfigs are listed in O(kubeconfigs) (then each element needs it, from the element or
        from this top-level default).
    type: path
  user:
    description:
      - The name of the user entry.
      - Defaults to the common name of O(client_cert).
    type: str
  context:
    description:
      - The name of the context, which becomes the current context.
      - Defaults to V(<user>@<cluster_name>), as kubeadm names it.
    type: str
  kubeconfigs:
    description:
      - Several kubeconfigs, written in one call in list order. Each element takes the module's other options; the
        top-level options are the defaults of every element (for example one O(cluster_name) and O(ca_cert) for
        all). An option an element leaves out (or sets to V(null)) takes the top-level value.
      - Each element needs O(kubeconfigs[].path); O(path) is not allowed at the top level with O(kubeconfigs). Each
        element, with the top-level defaults filled in, needs O(cluster_name), O(server), O(ca_cert),
        O(client_cert) and O(client_key).
      - Every element is checked (URL, certificates, key) before any file is written; an error names the element
        (its index and path).
      - The module then returns RV(results) instead of the single kubeconfig's values.
    type: list
    elements: dict
    suboptions:
      path:
        description: Where the kubeconfig is written, as O(path). Required in each element.
        type: path
      cluster_name:
        description: As O(cluster_name).
        type: str
      server:
        description: As O(server).
        type: str
      ca_cert:
        description: As O(ca_cert).
        type: path
      client_cert:
        description: As O(client_cert).
        type: path
      client_key:
        description: As O(client_key).
        type: path
      user:
        description: As O(user).
        type: str
      context:
        description: As O(context).
        type: str
seealso:
  - module: airgap.k8s.pki_cert
"""

EXAMPLES = r"""
- name: Admin kubeconfig on the controller
  airgap.k8s.kubeconfig:
    path: "{{ airgap_cluster_dir }}/admin.conf"
    cluster_name: "{{ cluster_name }}"
    server: "https://{{ hostvars[groups['kube_control_plane'][0]]['ip'] }}:6443"
    ca_cert: "{{ airgap_cluster_dir }}/pki/ca.crt"
    client_cert: "{{ airgap_cluster_dir }}/pki/admin.crt"
    client_key: "{{ airgap_cluster_dir }}/pki/admin.key"
  delegate_to: localhost

- name: Kubelet kubeconfig for each node (user system:node:<node> from the certificate)
  airgap.k8s.kubeconfig:
    path: "{{ airgap_cluster_dir }}/kubelet/{{ inventory_hostname }}.conf"
    cluster_name: "{{ cluster_name }}"
    server: "https://127.0.0.1:6443"
    ca_cert: "{{ airgap_cluster_dir }}/pki/ca.crt"
    client_cert: "{{ airgap_cluster_dir }}/pki/kubelet/{{ inventory_hostname }}-client.crt"
    client_key: "{{ airgap_cluster_dir }}/pki/kubelet/{{ inventory_hostname }}-client.key"
    context: default
  delegate_to: localhost

- name: Controller-manager and scheduler kubeconfigs of this control plane, in one call
  airgap.k8s.kubeconfig:
    # Defaults for every element.
    cluster_name: "{{ cluster_name }}"
    server: "https://{{ ip }}:6443"
    ca_cert: "{{ airgap_cluster_dir }}/pki/ca.crt"
    kubeconfigs:
      - path: "{{ airgap_cluster_dir }}/kubeconfig/controller-manager-{{ inventory_hostname }}.conf"
        client_cert: "{{ airgap_cluster_dir }}/pki/controller-manager.crt"
        client_key: "{{ airgap_cluster_dir }}/pki/controller-manager.key"
      - path: "{{ airgap_cluster_dir }}/kubeconfig/scheduler-{{ inventory_hostname }}.conf"
        client_cert: "{{ airgap_cluster_dir }}/pki/scheduler.crt"
        client_key: "{{ airgap_cluster_dir }}/pki/scheduler.key"
  delegate_to: localhost
  register: control_plane_kubeconfigs
"""

RETURN = r"""
user:
  description:
    - The name of the user entry.
    - These values are for a single kubeconfig; with O(kubeconfigs) they are in RV(results) instead.
  returned: success, when O(kubeconfigs) is not used
  type: str
  sample: kubernetes-admin
context:
  description: The name of the context (also the current context).
  returned: success, when O(kubeconfigs) is not used
  type: str
  sample: kubernetes-admin@airgap
reasons:
  description: Why the file was (or, in check mode, would be) changed; empty when nothing changed.
  returned: when O(kubeconfigs) is not used
  type: list
  elements: str
  sample: ["client-certificate-data differs"]
results:
  description:
    - With O(kubeconfigs), one entry per kubeconfig, in the order of O(kubeconfigs).
    - When the call fails at an element, the entries of the elements before it, which were done.
  returned: when O(kubeconfigs) is used
  type: list
  elements: dict
  contains:
    path:
      description: The kubeconfig, as in O(kubeconfigs[].path).
      type: str
      sample: /srv/cluster/kubeconfig/kube-proxy.conf
    changed:
      description: Whether this kubeconfig was (in check mode, would be) changed.
      type: bool
      sample: false
    reasons:
      description: As RV(reasons), for this kubeconfig.
      type: list
      elements: str
      sample: []
    user:
      description: As RV(user).
      type: str
      sample: system:kube-proxy
    context:
      description: As RV(context).
      type: str
      sample: system:kube-proxy@airgap
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.airgap.k8s.plugins.module_utils import _batch
from ansible_collections.airgap.k8s.plugins.module_utils._kubeconfig import (
    build_kubeconfig,
    default_context,
    redact,
    validate_server,
)
from ansible_collections.airgap.k8s.plugins.module_utils._pki import (
    CRYPTOGRAPHY_IMP_ERR,
    HAS_CRYPTOGRAPHY,
    KEY_MODE,
    PkiError,
    common_name,
    file_mode,
    has_content,
    load_certificate,
    load_certificates,
    load_private_key,
    private_directory_reasons,
    read_bytes,
    same_public_key,
    utcnow,
    verify_issued_by,
    write_file_atomic,
)

YAML_IMP_ERR = None
try:
    import yaml
except ImportError:
    YAML_IMP_ERR = traceback.format_exc()
    HAS_YAML = False
else:
    HAS_YAML = True

# The options of one kubeconfig: the module's top level, and each element of `kubeconfigs`.
KUBECONFIG_OPTIONS = {
    "path": {"type": "path"},
    "cluster_name": {"type": "str"},
    "server": {"type": "str"},
    "ca_cert": {"type": "path"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path", "no_log": False},
    "user": {"type": "str"},
    "context": {"type": "str"},
}

ARGUMENT_SPEC = {
    **KUBECONFIG_OPTIONS,
    "kubeconfigs": {"type": "list", "elements": "dict", "options": _batch.element_spec(KUBECONFIG_OPTIONS)},
}

# What a single call's options must satisfy; each element of `kubeconfigs` too, with the top-level defaults.
KUBECONFIG_RULES = _batch.Rules(required=("path", "cluster_name", "server", "ca_cert", "client_cert", "client_key"))


def _dump(document: object) -> str:
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=False, width=4096)


def _differences(have: object, want: dict) -> list[str]:
    if not isinstance(have, dict):
        return ["the file is not a kubeconfig mapping"]
    reasons = []
    for field in ("certificate-authority-data", "server"):
        if _cluster(have).get(field) != _cluster(want).get(field):
            reasons.append(f"{field} differs")
    for field in ("client-certificate-data", "client-key-data"):
        if _user(have).get(field) != _user(want).get(field):
            reasons.append(f"{field} differs")
    return reasons or ["names or other content differ"]


def _cluster(document: dict) -> dict:
    return _first(document, "clusters", "cluster")


def _user(document: dict) -> dict:
    return _first(document, "users", "user")


def _first(document: dict, section: str, field: str) -> dict:
    entries = document.get(section)
    if isinstance(entries, list) and entries and isinstance(entries[0], dict):
        value = entries[0].get(field)
        if isinstance(value, dict):
            return value
    return {}


def wanted_kubeconfig(module: AnsibleModule, params: dict) -> dict:
    """The document one kubeconfig must hold, from checked inputs; writes nothing."""
    server = validate_server(params["server"])
    ca_certs = load_certificates(params["ca_cert"], "ca_cert")
    client_cert = load_certificate(params["client_cert"], "client_cert")
    client_key = load_private_key(params["client_key"], "client_key")

    problems = [verify_issued_by(client_cert, ca) for ca in ca_certs]
    if all(problems):
        raise PkiError(
            f"client_cert: {params['client_cert']} is not signed by the CA in ca_cert {params['ca_cert']} "
            f"({problems[0]}); issue it from that CA"
        )
    if not same_public_key(client_cert, client_key):
        raise PkiError(f"client_key: {params['client_key']} does not match client_cert {params['client_cert']}")
    if client_cert.not_valid_after_utc <= utcnow():
        module.warn(f"client_cert: {params['client_cert']} has expired; the API server will refuse it")

    user = params["user"] or common_name(client_cert)
    if not user:
        raise PkiError(f"user: client_cert {params['client_cert']} has no common name; set user")
    context = params["context"] or default_context(user, params["cluster_name"])
    return build_kubeconfig(
        cluster_name=params["cluster_name"],
        server=server,
        user=user,
        context=context,
        ca_pem=read_bytes(params["ca_cert"], "ca_cert"),
        cert_pem=read_bytes(params["client_cert"], "client_cert"),
        key_pem=read_bytes(params["client_key"], "client_key"),
    )


def ensure_kubeconfig(module: AnsibleModule, path: str, want: dict) -> dict:
    """Bring the kubeconfig at ``path`` in line with ``want``; the single form's result."""
    reasons: list[str] = []
    have = None
    before = ""
    if not has_content(path):
        reasons.append(f"{path} is missing or empty")
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                have = yaml.safe_load(handle)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            reasons.append(f"{path} cannot be read as YAML ({type(exc).__name__})")
            before = "<not readable as YAML; not shown, it may hold a key>\n"
        else:
            if have != want:
                reasons.extend(_differences(have, want))
            if isinstance(have, dict):
                before = _dump(redact(have))
            else:
                before = "<not a kubeconfig mapping; not shown, it may hold a key>\n"

    rewrite = bool(reasons)
    if rewrite and not module.check_mode:
        write_file_atomic(module, path, _dump(want).encode("utf-8"), KEY_MODE)
    current_mode = file_mode(path)
    if not rewrite and current_mode is not None and current_mode != KEY_MODE:
        reasons.append(f"mode of {path} is {current_mode:04o}, want {KEY_MODE:04o}")
        if not module.check_mode:
            os.chmod(path, KEY_MODE)

    reasons.extend(private_directory_reasons((path,), module.check_mode))

    user, context = want["users"][0]["name"], want["current-context"]
    result = {"changed": bool(reasons), "reasons": reasons, "user": user, "context": context}
    if module._diff:
        result["diff"] = {
            "before_header": path,
            "after_header": path,
            "before": before,
            "after": _dump(redact(want, have)),
        }
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("kubeconfigs", "path")],
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMP_ERR)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMP_ERR)
    try:
        kubeconfigs = _batch.elements(module.params, "kubeconfigs", KUBECONFIG_OPTIONS, KUBECONFIG_RULES)
    except _batch.BatchError as exc:
        module.fail_json(msg=str(exc))
    result = _batch.run(
        module,
        "kubeconfigs",
        kubeconfigs,
        prepare=lambda params: wanted_kubeconfig(module, params),
        apply=lambda params, want: ensure_kubeconfig(module, params["path"], want),
        errors=PkiError,
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
