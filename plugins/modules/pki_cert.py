#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pki_cert
short_description: Create CAs or CA-signed certificates from cfssl-style requests
version_added: 0.1.0
description:
  - Creates a self-signed CA (O(is_ca=true) without O(ca_cert)) or a certificate signed by the CA in O(ca_cert)/O(ca_key),
    with its private key, using the cfssl vocabulary (C(CN), C(hosts), C(key), C(names), signing profiles with
    C(expiry) and C(usages)).
  - The request is given inline (O(cn), O(hosts), O(key), O(names), O(profile)) or as cfssl JSON files
    (O(csr_json), O(ca_config_json) with O(profile_name)).
  - Idempotent. The certificate is kept while its key type and size, issuer (the signature is verified with the CA),
    subject, SANs, usages, CA flag and remaining validity match the request. Otherwise it is re-issued and
    RV(reasons) says why.
  - On re-issue the existing private key is kept when it still matches O(key), so adding a SAN does not rotate the key;
    O(regenerate_key=true) forces a new key.
  - Files are written atomically (a temporary file in the same directory, then a rename). The key is mode V(0600) and is
    never readable by anyone else, not even during the write; the certificate is mode V(0644); missing directories are
    created mode V(0700). Existing files with other modes are corrected, and so is the directory of each file (set to
    V(0700), as the role's PKI directories are).
  - Certificates get a critical basicConstraints and keyUsage, a subject and an authority key identifier, a random
    159-bit serial number, and a notBefore five minutes in the past to absorb clock skew.
  - Meant to run on the controller (C(delegate_to=localhost)); CA keys never need to leave it.
  - O(certs) makes several certificates in one call (one module execution instead of one per loop item), in order.
author:
  - airgap.k8s contributors (!UNKNOWN)
requirements:
  - cryptography
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff is a summary of the certificate (subject, issuer, SANs, usages, validity, fingerprint); never key data.
      - With O(certs), one diff per certificate that changed.
  platform:
    platforms: posix
options:
  path:
    description:
      - Where the certificate is written (PEM).
      - Required, unless the certificates are listed in O(certs) (then each element has its own, and this option is
        not allowed).
    type: path
  privatekey_path:
    description:
      - Where the private key is written (PEM, PKCS#1 for RSA and SEC1 for ECDSA, unencrypted, mode V(0600)).
      - An existing key is reused when it matches O(key).
      - Required, unless the certificates are listed in O(certs) (then each element has its own, and this option is
        not allowed).
    type: path
  cn:
    description:
      - The subject's common name (cfssl C(CN)). Required unless O(csr_json) is used.
    type: str
  hosts:
    description:
      - IP addresses and DNS names for the subjectAltName extension (cfssl C(hosts)).
      - IP addresses are validated and written in canonical form; DNS names must be valid RFC 1123 names and are written
        in lower case. Wildcards are refused unless O(allow_wildcards=true).
      - Order and duplicates do not matter for idempotency.
    type: list
    elements: str
  key:
    description:
      - The private key type (cfssl C(key)).
      - Defaults to RSA 2048.
    type: dict
    suboptions: &key_suboptions
      algo:
        description:
          - Key algorithm.
        type: str
        choices: [rsa, ecdsa]
        default: rsa
      size:
        description:
          - Key size. V(2048), V(3072) or V(4096) for RSA; V(256) (P-256) or V(384) (P-384) for ECDSA.
          - Defaults to V(2048) for RSA and V(256) for ECDSA.
        type: int
  names:
    description:
      - Subject name entries (cfssl C(names)). Each entry may set any of C(C), C(ST), C(L), C(O), C(OU).
      - A field may repeat across entries, for example two C(O) entries for two Kubernetes groups.
      - The subject is written in cfssl order, all C(C), then C(ST), C(L), C(O), C(OU), then C(CN).
    type: list
    elements: dict
    suboptions: &names_suboptions
      C:
        description: Country, two letters.
        type: str
      ST:
        description: State or province.
        type: str
      L:
        description: Locality.
        type: str
      O:
        description: Organization. Kubernetes reads these as the user's groups.
        type: str
      OU:
        description: Organizational unit.
        type: str
  is_ca:
    description:
      - Create a CA certificate (basicConstraints C(CA:TRUE)).
      - Without O(ca_cert) the CA is self-signed; with O(ca_cert) it is an intermediate CA.
    type: bool
    default: false
  ca_cert:
    description:
      - The signing CA's certificate. Required unless O(is_ca=true).
    type: path
  ca_key:
    description:
      - The signing CA's private key (unencrypted PEM). It must match O(ca_cert).
    type: path
  profile:
    description:
      - The signing profile (a cfssl ca-config.json profile, inline).
    type: dict
    suboptions: &profile_suboptions
      expiry:
        description:
          - Lifetime of a newly issued certificate, as a cfssl duration (V(8760h), V(90m), V(1h30m)) or a number of days
            (V(365) or V(365d)).
          - Defaults to V(87600h) (10 years) for a CA and V(8760h) (1 year) otherwise.
          - A shorter expiry re-issues certificates that are valid for longer than it allows; a longer one takes effect
            at the next renewal.
        type: str
      usages:
        description:
          - cfssl usage names. Key usages V(signing) (same as V(digital signature)), V(digital signature),
            V(content commitment), V(key encipherment), V(key agreement), V(data encipherment), V(cert sign),
            V(crl sign), V(encipher only), V(decipher only); extended key usages V(server auth), V(client auth),
            V(code signing), V(email protection), V(s/mime), V(ipsec end system), V(ipsec tunnel), V(ipsec user),
            V(timestamping), V(ocsp signing), V(any), V(microsoft sgc), V(netscape sgc).
          - Defaults to V([cert sign, crl sign]) for a CA (which must have V(cert sign)), and to
            V([digital signature, key encipherment, server auth, client auth]) otherwise.
        type: list
        elements: str
  csr_json:
    description:
      - A cfssl CSR JSON file with C(CN), C(hosts), C(key), C(names) and, for a CA, C(ca.expiry) (used when no profile
        sets an expiry). Other fields are refused rather than silently ignored.
      - Mutually exclusive with O(cn), O(hosts), O(key) and O(names).
    type: path
  ca_config_json:
    description:
      - A cfssl ca-config.json; the profile O(profile_name) (or C(signing.default) without it) supplies C(expiry) and
        C(usages), fields missing in the profile come from C(signing.default). C(ca_constraint.is_ca) must agree with
        O(is_ca). Other profile fields are ignored with a warning.
      - Mutually exclusive with O(profile). Missing values take the module's defaults (not cfssl's 168h).
    type: path
  profile_name:
    description:
      - The profile to use from O(ca_config_json) (C(signing.profiles.<profile_name>)).
    type: str
  renew_before:
    description:
      - Re-issue the certificate when it expires within this duration (same forms as O(profile.expiry)).
      - Defaults to V(720h) (30 days) for certificates, or to a third of the expiry when that is shorter, and for a CA
        to 10% of the existing CA certificate's lifetime (one year for the default 10-year CA).
      - Must be shorter than the expiry.
    type: str
  regenerate_key:
    description:
      - Generate a new private key even when the existing one matches O(key); the certificate is re-issued.
    type: bool
    default: false
  force:
    description:
      - Re-issue the certificate even when it matches the request. The key is kept unless O(regenerate_key=true).
    type: bool
    default: false
  allow_wildcards:
    description:
      - Allow wildcard DNS names such as V(*.apps.example.com) in O(hosts).
    type: bool
    default: false
  certs:
    description:
      - Several certificates, made in one call in list order. Each element takes the module's other options; the
        top-level options are the defaults of every element. An option an element leaves out (or sets to V(null))
        takes the top-level value; one it sets replaces the top-level value whole (a O(key) or O(profile) is not
        merged with the top-level one).
      - Each element needs O(certs[].path) and O(certs[].privatekey_path); O(path) and O(privatekey_path) are not
        allowed at the top level with O(certs).
      - Each element, with the top-level defaults filled in, is checked with the rules of a single call (for example
        O(csr_json) excludes O(cn), and O(ca_cert) and O(ca_key) are required unless O(is_ca=true)). Every request is
        checked before any file is written; an error names the element (its index and path).
      - A CA made by an element signs later elements that name it in O(certs[].ca_cert), in the same call; in check
        mode a CA that would be created is assumed for them. Each CA is loaded and checked once per call.
      - The module then returns RV(results) instead of the single certificate's values.
    type: list
    elements: dict
    suboptions:
      path:
        description: Where the certificate is written, as O(path). Required in each element.
        type: path
      privatekey_path:
        description: Where the private key is written, as O(privatekey_path). Required in each element.
        type: path
      cn:
        description: As O(cn).
        type: str
      hosts:
        description: As O(hosts).
        type: list
        elements: str
      key:
        description: As O(key); replaces the top-level O(key) whole.
        type: dict
        suboptions: *key_suboptions
      names:
        description: As O(names).
        type: list
        elements: dict
        suboptions: *names_suboptions
      is_ca:
        description: As O(is_ca).
        type: bool
      ca_cert:
        description: As O(ca_cert).
        type: path
      ca_key:
        description: As O(ca_key).
        type: path
      profile:
        description: As O(profile); replaces the top-level O(profile) whole.
        type: dict
        suboptions: *profile_suboptions
      csr_json:
        description: As O(csr_json).
        type: path
      ca_config_json:
        description: As O(ca_config_json).
        type: path
      profile_name:
        description: As O(profile_name).
        type: str
      renew_before:
        description: As O(renew_before).
        type: str
      regenerate_key:
        description: As O(regenerate_key).
        type: bool
      force:
        description: As O(force).
        type: bool
      allow_wildcards:
        description: As O(allow_wildcards).
        type: bool
  key_pairs:
    description:
      - Key pairs without a certificate (the service-account signing key), made in the same call after the
        certificates of O(certs). Only with O(certs).
      - A missing private key is made with O(key_pairs[].key) and written mode V(0600). An existing key that loads is
        kept whatever its type, never replaced (every token signed with a service-account key stops verifying when it
        changes); one that does not load fails the call before any file of it is written.
      - The public key (PEM C(PUBLIC KEY), as C(openssl pkey -pubout) writes it) is written mode V(0644) when it is
        missing, does not load, or is not the private key's.
      - Modes and directories are kept as for the certificates. The module returns RV(key_pairs).
    type: list
    elements: dict
    suboptions:
      privatekey_path:
        description: Where the private key is.
        type: path
        required: true
      public_path:
        description: Where its public key is written.
        type: path
        required: true
      key:
        description: The type of a new key, as O(key); defaults to the top-level O(key).
        type: dict
        suboptions: *key_suboptions
notes:
  - A CA re-issued with the same key and subject keeps the certificates it signed valid; they are not re-issued.
  - Changing a CA's key re-issues every certificate signed by it on their next run, because their signature no
    longer verifies.
  - A certificate may outlive its CA certificate; the module warns, since it stops verifying when the CA expires unless
    the CA is renewed with the same key.
seealso:
  - module: airgap.k8s.kubeconfig
  - name: cfssl configuration
    description: The cfssl CSR and ca-config.json formats this module reads.
    link: https://github.com/cloudflare/cfssl/blob/master/doc/cmd/cfssl.txt
"""

EXAMPLES = r"""
- name: Cluster CA (self-signed, 10 years, RSA 2048)
  airgap.k8s.pki_cert:
    path: "{{ airgap_cluster_dir }}/pki/ca.crt"
    privatekey_path: "{{ airgap_cluster_dir }}/pki/ca.key"
    cn: kubernetes
    is_ca: true
  delegate_to: localhost

- name: API server serving certificate
  airgap.k8s.pki_cert:
    path: "{{ airgap_cluster_dir }}/pki/apiserver.crt"
    privatekey_path: "{{ airgap_cluster_dir }}/pki/apiserver.key"
    ca_cert: "{{ airgap_cluster_dir }}/pki/ca.crt"
    ca_key: "{{ airgap_cluster_dir }}/pki/ca.key"
    cn: kube-apiserver
    hosts:
      - kubernetes
      - kubernetes.default
      - kubernetes.default.svc
      - "kubernetes.default.svc.{{ cluster_domain }}"
      - 10.96.0.1
      - "{{ ip }}"
    profile:
      usages: [digital signature, key encipherment, server auth]
  delegate_to: localhost

- name: Cluster admin client certificate (group system:masters), ECDSA
  airgap.k8s.pki_cert:
    path: "{{ airgap_cluster_dir }}/pki/admin.crt"
    privatekey_path: "{{ airgap_cluster_dir }}/pki/admin.key"
    ca_cert: "{{ airgap_cluster_dir }}/pki/ca.crt"
    ca_key: "{{ airgap_cluster_dir }}/pki/ca.key"
    cn: kubernetes-admin
    names:
      - O: system:masters
    key:
      algo: ecdsa
      size: 256
    profile:
      expiry: 8760h
      usages: [digital signature, client auth]
  delegate_to: localhost

- name: etcd peer certificate from cfssl JSON files
  airgap.k8s.pki_cert:
    path: "{{ airgap_cluster_dir }}/pki/etcd/peer-{{ inventory_hostname }}.crt"
    privatekey_path: "{{ airgap_cluster_dir }}/pki/etcd/peer-{{ inventory_hostname }}.key"
    ca_cert: "{{ airgap_cluster_dir }}/pki/etcd/ca.crt"
    ca_key: "{{ airgap_cluster_dir }}/pki/etcd/ca.key"
    csr_json: files/etcd-peer-csr.json
    ca_config_json: files/ca-config.json
    profile_name: peer
  delegate_to: localhost

- name: This node's kubelet client and serving certificates, in one call
  airgap.k8s.pki_cert:
    # Defaults for every element.
    ca_cert: "{{ airgap_cluster_dir }}/pki/ca.crt"
    ca_key: "{{ airgap_cluster_dir }}/pki/ca.key"
    cn: "system:node:{{ inventory_hostname }}"
    names:
      - O: system:nodes
    renew_before: 720h
    certs:
      - path: "{{ airgap_cluster_dir }}/pki/kubelet/{{ inventory_hostname }}-client.crt"
        privatekey_path: "{{ airgap_cluster_dir }}/pki/kubelet/{{ inventory_hostname }}-client.key"
        profile:
          usages: [digital signature, key encipherment, client auth]
      - path: "{{ airgap_cluster_dir }}/pki/kubelet/{{ inventory_hostname }}-serving.crt"
        privatekey_path: "{{ airgap_cluster_dir }}/pki/kubelet/{{ inventory_hostname }}-serving.key"
        hosts: ["{{ inventory_hostname }}", "{{ ip }}"]
        profile:
          usages: [digital signature, key encipherment, server auth]
  delegate_to: localhost
  register: kubelet_certs

- name: A CA and a certificate it signs, in one call (the CA is made first)
  airgap.k8s.pki_cert:
    key:
      algo: ecdsa
    certs:
      - path: /srv/pki/front-proxy-ca.crt
        privatekey_path: /srv/pki/front-proxy-ca.key
        cn: front-proxy-ca
        is_ca: true
      - path: /srv/pki/front-proxy-client.crt
        privatekey_path: /srv/pki/front-proxy-client.key
        cn: front-proxy-client
        ca_cert: /srv/pki/front-proxy-ca.crt
        ca_key: /srv/pki/front-proxy-ca.key
        profile:
          usages: [digital signature, key encipherment, client auth]
  delegate_to: localhost
"""

RETURN = r"""
reasons:
  description:
    - Why the module changed something; empty when nothing changed.
    - In check mode, why it would.
    - These values are for a single certificate; with O(certs) they are in RV(results) instead.
  returned: when O(certs) is not used
  type: list
  elements: str
  sample: ["SANs differ: add 10.0.0.12", "expires in 696h (at 2027-11-22T08:00:00Z), less than renew_before 720h"]
subject:
  description: The certificate's subject (RFC 4514, most significant attribute last).
  returned: success, when O(certs) is not used
  type: str
  sample: CN=kubernetes-admin,O=system:masters
issuer:
  description: The certificate's issuer (RFC 4514).
  returned: success, when O(certs) is not used
  type: str
  sample: CN=kubernetes
sans:
  description: The subjectAltName entries, DNS names and IP addresses as in O(hosts).
  returned: success, when O(certs) is not used
  type: list
  elements: str
  sample: [kubernetes, 10.96.0.1]
not_before:
  description: Start of validity (UTC, ISO 8601).
  returned: success, when O(certs) is not used
  type: str
  sample: "2026-11-22T07:55:00Z"
not_after:
  description: End of validity (UTC, ISO 8601).
  returned: success, when O(certs) is not used
  type: str
  sample: "2027-11-22T08:00:00Z"
serial:
  description:
    - Serial number in hex, as C(openssl x509 -noout -serial) prints it.
    - V(null) in check mode when a new certificate would be issued.
  returned: success, when O(certs) is not used
  type: str
  sample: 3F0A9C52D1E47B8861A0E3C4F59B2D7E61C0A1B2
sha256_fingerprint:
  description:
    - SHA-256 fingerprint, as C(openssl x509 -noout -fingerprint -sha256) prints it.
    - V(null) in check mode when a new certificate would be issued.
  returned: success, when O(certs) is not used
  type: str
  sample: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
key_pairs:
  description:
    - With O(key_pairs), one entry per key pair, in the order of O(key_pairs).
  returned: when O(key_pairs) is used
  type: list
  elements: dict
  contains:
    privatekey_path:
      description: As O(key_pairs[].privatekey_path).
      type: str
      sample: /srv/pki/sa.key
    public_path:
      description: As O(key_pairs[].public_path).
      type: str
      sample: /srv/pki/sa.pub
    changed:
      description: Whether a file of this pair, its mode or its directory's mode changed.
      type: bool
      sample: false
    reasons:
      description: Why, as RV(reasons).
      type: list
      elements: str
      sample: ["public key /srv/pki/sa.pub is missing or empty"]
results:
  description:
    - With O(certs), one entry per certificate, in the order of O(certs).
    - Each has the certificate's RV(results[].path), whether it RV(results[].changed), and the values the single form
      returns at the top level (RV(reasons), RV(subject), RV(issuer), RV(sans), RV(not_before), RV(not_after),
      RV(serial), RV(sha256_fingerprint)).
    - When the call fails at an element, the entries of the elements before it, which were done.
  returned: when O(certs) is used
  type: list
  elements: dict
  contains:
    path:
      description: The certificate, as in O(certs[].path).
      type: str
      sample: /srv/pki/kubelet/node1-client.crt
    changed:
      description: Whether this certificate or its key was (in check mode, would be) changed.
      type: bool
      sample: false
    reasons:
      description: As RV(reasons), for this certificate.
      type: list
      elements: str
      sample: []
    subject:
      description: As RV(subject).
      type: str
      sample: CN=system:node:node1,O=system:nodes
    issuer:
      description: As RV(issuer).
      type: str
      sample: CN=kubernetes-ca,O=airgap.k8s,OU=airgap
    sans:
      description: As RV(sans).
      type: list
      elements: str
      sample: [node1, 10.0.0.21]
    not_before:
      description: As RV(not_before).
      type: str
      sample: "2026-11-22T07:55:00Z"
    not_after:
      description: As RV(not_after).
      type: str
      sample: "2027-11-22T08:00:00Z"
    serial:
      description: As RV(serial).
      type: str
      sample: 3F0A9C52D1E47B8861A0E3C4F59B2D7E61C0A1B2
    sha256_fingerprint:
      description: As RV(sha256_fingerprint).
      type: str
      sample: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.airgap.k8s.plugins.module_utils import _batch
from ansible_collections.airgap.k8s.plugins.module_utils._pki import (
    CERT_MODE,
    CRYPTOGRAPHY_IMP_ERR,
    HAS_CRYPTOGRAPHY,
    KEY_MODE,
    CertRequest,
    Issuers,
    KeySpec,
    PkiError,
    build_request,
    check_certificate,
    describe_certificate,
    describe_request,
    generate_private_key,
    has_content,
    iso,
    issue_certificate,
    key_spec_of,
    load_certificate,
    load_private_key,
    mode_reasons,
    parse_key_spec,
    parse_public_key,
    private_directory_reasons,
    read_bytes,
    same_public_key,
    serialize_certificate,
    serialize_private_key,
    serialize_public_key,
    summary,
    utcnow,
    write_file_atomic,
)

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.airgap.k8s.plugins.module_utils._pki import PrivateKey

# The options of one certificate: the module's top level, and each element of `certs`.
CERT_OPTIONS = {
    "path": {"type": "path"},
    "privatekey_path": {"type": "path", "no_log": False},
    "cn": {"type": "str"},
    "hosts": {"type": "list", "elements": "str"},
    "key": {
        "type": "dict",
        "no_log": False,
        "options": {
            "algo": {"type": "str", "choices": ["rsa", "ecdsa"], "default": "rsa"},
            "size": {"type": "int"},
        },
    },
    "names": {
        "type": "list",
        "elements": "dict",
        "options": {field: {"type": "str"} for field in ("C", "ST", "L", "O", "OU")},
    },
    "is_ca": {"type": "bool", "default": False},
    "ca_cert": {"type": "path"},
    "ca_key": {"type": "path", "no_log": False},
    "profile": {
        "type": "dict",
        "options": {
            "expiry": {"type": "str"},
            "usages": {"type": "list", "elements": "str"},
        },
    },
    "csr_json": {"type": "path"},
    "ca_config_json": {"type": "path"},
    "profile_name": {"type": "str"},
    "renew_before": {"type": "str"},
    "regenerate_key": {"type": "bool", "default": False, "no_log": False},
    "force": {"type": "bool", "default": False},
    "allow_wildcards": {"type": "bool", "default": False},
}

# A key pair without a certificate (the service-account signing key).
KEY_PAIR_OPTIONS = {
    "privatekey_path": {"type": "path", "required": True, "no_log": False},
    "public_path": {"type": "path", "required": True},
    "key": _batch.element_spec({"key": CERT_OPTIONS["key"]})["key"],
}

ARGUMENT_SPEC = {
    **CERT_OPTIONS,
    "certs": {"type": "list", "elements": "dict", "options": _batch.element_spec(CERT_OPTIONS)},
    "key_pairs": {"type": "list", "elements": "dict", "no_log": False, "options": KEY_PAIR_OPTIONS},
}

# What a single call's options must satisfy; each element of `certs` too, with the top-level defaults.
CERT_RULES = _batch.Rules(
    required=("path", "privatekey_path"),
    mutually_exclusive=(
        ("csr_json", "cn"),
        ("csr_json", "hosts"),
        ("csr_json", "key"),
        ("csr_json", "names"),
        ("ca_config_json", "profile"),
    ),
    required_together=(("ca_cert", "ca_key"),),
    required_if=(("is_ca", False, ("ca_cert", "ca_key")),),
    required_by={"profile_name": "ca_config_json"},
)


RETURNED = ("subject", "issuer", "sans", "not_before", "not_after", "serial", "sha256_fingerprint")


def prepare_request(module: AnsibleModule, params: dict) -> CertRequest:
    """The validated request of one certificate; touches no file but the cfssl JSON it reads."""
    request, warnings = build_request(params)
    for warning in warnings:
        module.warn(warning)
    return request


def ensure_certificate(module: AnsibleModule, params: dict, request: CertRequest, issuers: Issuers) -> dict:
    """Bring one certificate and key on disk in line with the request; the single form's result."""
    now = utcnow()
    cert_path, key_path = params["path"], params["privatekey_path"]

    reasons: list[str] = []
    issuer_cert = issuer_key = None
    issuer_name = None  # check mode: the subject of a CA this call would create before this certificate
    if params["ca_cert"]:
        issuer_name = issuers.planned(params["ca_cert"]) if module.check_mode else None
        if issuer_name is not None and not os.path.exists(params["ca_cert"]):
            reasons.append(f"its CA {params['ca_cert']} does not exist yet; it is created earlier in this call")
        else:
            issuer_name = None
            issuer_cert, issuer_key = issuers.load(params["ca_cert"], params["ca_key"])

    key = None
    if not has_content(key_path):
        reasons.append(f"private key {key_path} is missing or empty")
    elif params["regenerate_key"]:
        reasons.append("regenerate_key: a new private key was requested")
    else:
        try:
            key = load_private_key(key_path)
        except PkiError as exc:
            raise PkiError(f"{exc}; remove the file or set regenerate_key: true to replace it") from None
        if key_spec_of(key) != request.key:
            reasons.append(f"private key is {key_spec_of(key)}, want {request.key}")
            key = None

    cert = None
    if not has_content(cert_path):
        reasons.append(f"certificate {cert_path} is missing or empty")
    else:
        try:
            cert = load_certificate(cert_path)
        except PkiError:
            reasons.append(f"{cert_path} is not a PEM certificate")
    if params["force"]:
        reasons.append("force: re-issue requested")
    if cert is not None and issuer_name is None:
        reasons.extend(check_certificate(cert, request, now=now, key=key, issuer_cert=issuer_cert))

    before = describe_certificate(cert) if cert is not None else None
    reissue = bool(reasons)
    new_key = key is None
    if reissue and module.check_mode:
        info = describe_request(request, now=now, issuer_cert=issuer_cert, issuer_name=issuer_name)
        issuers.plan(cert_path, info["subject"])
    elif reissue:
        if new_key:
            key = generate_private_key(request.key)
        cert = issue_certificate(request, key, now=now, issuer_cert=issuer_cert, issuer_key=issuer_key)
        if new_key:
            write_file_atomic(module, key_path, serialize_private_key(key), KEY_MODE)
        write_file_atomic(module, cert_path, serialize_certificate(cert), CERT_MODE)
        issuers.written(cert_path, key_path)
        info = describe_certificate(cert)
    else:
        info = before

    # Modes of files that were not (re)written.
    files = ((key_path, KEY_MODE, reissue and new_key), (cert_path, CERT_MODE, reissue))
    reasons.extend(mode_reasons(files, module.check_mode))
    reasons.extend(private_directory_reasons((key_path, cert_path), module.check_mode))

    ca_not_after = iso(issuer_cert.not_valid_after_utc) if issuer_cert is not None else None
    # Said when issuing, not on every run: renewing the CA with its key fixes it.
    if reissue and ca_not_after is not None and info["not_after"] > ca_not_after:  # same ISO format
        module.warn(
            f"{cert_path} is valid until {info['not_after']}, after its CA {params['ca_cert']} expires "
            f"({ca_not_after}); renew the CA (same key) before then"
        )

    result = {
        "changed": bool(reasons),
        "reasons": reasons,
        **{name: info[name] for name in RETURNED},
    }
    if module._diff:
        result["diff"] = {
            "before_header": cert_path,
            "after_header": cert_path,
            "before": summary(before),
            "after": summary(info),
        }
    return result


def prepare_key_pair(params: dict, top_key: dict | None) -> tuple[KeySpec, PrivateKey | None]:
    """The key type a new pair gets, and the existing private key (loaded, so a bad one fails before any write)."""
    spec = parse_key_spec(params["key"] or top_key, "key_pairs[].key")
    path = params["privatekey_path"]
    key = load_private_key(path, "privatekey_path") if has_content(path) else None
    return spec, key


def ensure_key_pair(module: AnsibleModule, params: dict, spec: KeySpec, key: PrivateKey | None) -> dict:
    """A private key made once (an existing one is kept whatever its type) and its public key beside it."""
    key_path, public_path = params["privatekey_path"], params["public_path"]
    reasons: list[str] = []
    new_key = key is None
    if new_key:
        reasons.append(f"private key {key_path} is missing or empty")
    if not has_content(public_path):
        reasons.append(f"public key {public_path} is missing or empty")
    else:
        try:
            public = parse_public_key(read_bytes(public_path, "public_path"), public_path)
        except PkiError as exc:
            reasons.append(str(exc))
        else:
            if key is not None and not same_public_key(key, public):
                reasons.append(f"{public_path} is not the public key of {key_path}")
    rewrite = bool(reasons)
    if rewrite and not module.check_mode:
        if key is None:
            key = generate_private_key(spec)
            write_file_atomic(module, key_path, serialize_private_key(key), KEY_MODE)
        write_file_atomic(module, public_path, serialize_public_key(key), CERT_MODE)
    reasons.extend(mode_reasons(((key_path, KEY_MODE, new_key), (public_path, CERT_MODE, rewrite)), module.check_mode))
    reasons.extend(private_directory_reasons((key_path, public_path), module.check_mode))
    return {"privatekey_path": key_path, "public_path": public_path, "changed": bool(reasons), "reasons": reasons}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("certs", "path"), ("certs", "privatekey_path")],
        required_by={"key_pairs": ("certs",)},
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMP_ERR)
    try:
        certs = _batch.elements(module.params, "certs", CERT_OPTIONS, CERT_RULES)
    except _batch.BatchError as exc:
        module.fail_json(msg=str(exc))
    # Every key pair is checked before anything is written, certificates included.
    pairs = []
    for index, params in enumerate(module.params["key_pairs"] or []):
        where = f"key_pairs[{index}] ({params['privatekey_path']})"
        try:
            pairs.append((where, params, *prepare_key_pair(params, module.params["key"])))
        except PkiError as exc:
            module.fail_json(msg=f"{where}: {exc}; remove the file to make a new key pair")
    issuers = Issuers()
    result = _batch.run(
        module,
        "certs",
        certs,
        prepare=lambda params: prepare_request(module, params),
        apply=lambda params, request: ensure_certificate(module, params, request, issuers),
        errors=PkiError,
    )
    if module.params["key_pairs"] is not None:
        done: list[dict] = []
        for where, params, spec, key in pairs:
            try:
                done.append(ensure_key_pair(module, params, spec, key))
            except PkiError as exc:
                changed = result["changed"] or any(r["changed"] for r in done)
                module.fail_json(msg=f"{where}: {exc}", changed=changed, results=result["results"], key_pairs=done)
        result["key_pairs"] = done
        result["changed"] = result["changed"] or any(r["changed"] for r in done)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
