#!/usr/bin/python
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pki_cert_report
short_description: Report every certificate of a cluster by expiry, and fail when one expires soon
version_added: 0.1.0
description:
  - Parses the certificates M(airgap.k8s.pki_cert_info) collected on each host (and on the controller) and returns one
    row per installed certificate, with subject, issuing CA, host, location, notAfter and the days left, soonest
    expiry first, plus the same as a text table.
  - With O(fail_within_days), fails when any certificate expires within that many days (or has expired), naming each
    one, after returning the whole report; for monitoring jobs.
  - Runs on the controller (C(delegate_to=localhost)); only reads.
requirements:
  - cryptography
options:
  certificates:
    description:
      - Host name to the RV(airgap.k8s.pki_cert_info#module:certificates) list collected there.
    type: dict
    required: true
  errors:
    description:
      - Host name to the RV(airgap.k8s.pki_cert_info#module:errors) list collected there; shown in the report.
    type: dict
    default: {}
  fail_within_days:
    description:
      - Fail when a certificate expires within this many days. Not checked when omitted.
    type: int
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.k8s._attributes
seealso:
  - module: airgap.k8s.pki_cert_info
author:
  - airgap.k8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Report, and fail when a certificate expires within 30 days
  airgap.k8s.pki_cert_report:
    certificates: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'node_certs')
                      | map(attribute='certificates'))) }}"
    fail_within_days: 30
  delegate_to: localhost
  run_once: true
  register: report

- name: Show it
  ansible.builtin.debug:
    msg: "{{ report.lines }}"
"""

RETURN = r"""
rows:
  description: One entry per certificate, soonest expiry first.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: Where it is installed (C(localhost) for the controller).
      type: str
    location:
      description: File, kubeconfig field or endpoint (see M(airgap.k8s.pki_cert_info)); C([n]) after the n-th of a chain.
      type: str
    kind:
      description: C(file), C(kubeconfig) or C(endpoint).
      type: str
    subject:
      description: The subject's common name (or the whole subject without one).
      type: str
    issuer:
      description: The issuing CA's common name.
      type: str
    not_after:
      description: End of validity, UTC, ISO 8601.
      type: str
    days_left:
      description: Whole days until then, rounded down; negative once expired.
      type: int
    seconds_left:
      description: Seconds until then.
      type: int
    serial:
      description: Serial number, hex, as C(openssl x509 -serial) prints it.
      type: str
    sha256_fingerprint:
      description: SHA-256 fingerprint, as C(openssl x509 -fingerprint -sha256) prints it.
      type: str
    is_ca:
      description: Whether it is a CA certificate.
      type: bool
lines:
  description: The report as a text table, then one line per unreadable file.
  returned: always
  type: list
  elements: str
expiring:
  description: The rows that expire within O(fail_within_days) (empty without it).
  returned: always
  type: list
  elements: dict
errors:
  description: Files, endpoints or certificates that could not be read, as C(host), C(path) and C(error).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.airgap.k8s.plugins.module_utils._certreport import build_report, describe
from ansible_collections.airgap.k8s.plugins.module_utils._pki import CRYPTOGRAPHY_IMP_ERR, HAS_CRYPTOGRAPHY, utcnow

ARGUMENT_SPEC = {
    "certificates": {"type": "dict", "required": True},
    "errors": {"type": "dict", "default": {}},
    "fail_within_days": {"type": "int"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMP_ERR)
    days = module.params["fail_within_days"]
    if days is not None and days < 0:
        module.fail_json(msg=f"fail_within_days: {days} is negative; give a number of days, 0 or more")
    for host, entries in module.params["certificates"].items():
        if not isinstance(entries, list):
            module.fail_json(msg=f"certificates.{host}: expected the list pki_cert_info returns, got {entries!r:.80}")
    report = build_report(module.params["certificates"], utcnow(), days, module.params["errors"])
    result = {
        "changed": False,
        "rows": [r.as_dict() for r in report.rows],
        "lines": report.lines,
        "expiring": [r.as_dict() for r in report.expiring],
        "errors": report.errors,
    }
    if report.expiring:
        how = ["Renew the leaves: ansible-playbook playbooks/certs.yml -e certs_renew=true (docs/operations.md)."]
        if any(r.is_ca for r in report.expiring):
            how.append("A CA is among them: renewal does not cover CAs, see docs/operations.md, 'CA rotation'.")
        module.fail_json(
            msg=f"{len(report.expiring)} certificate(s) expire within {days} days: {describe(report.expiring)}. "
            + " ".join(how),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
