# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

# Private to the collection (the leading underscore): the options every health
# check module shares, as plugins/module_utils/_health.py implements them.

from __future__ import annotations


class ModuleDocFragment:
    # Every health module: read-only, the client key and the polling options.
    DOCUMENTATION = r"""
options:
  client_key:
    description:
      - PEM private key of O(client_cert). Its path is kept out of logs and results.
    type: path
  wait_timeout:
    description:
      - Seconds to keep polling until the check passes. V(0) looks once.
    type: int
    default: 120
  wait_sleep:
    description:
      - Seconds between polls.
    type: int
    default: 2
attributes:
  check_mode:
    description: Runs normally in check mode; it only reads.
    support: full
  diff_mode:
    description: Has no diff; it changes nothing.
    support: none
"""

    # Modules that ask the Kubernetes API; a module may document url again to say more.
    APISERVER = r"""
options:
  url:
    description:
      - Base URL of the apiserver, for example C(https://127.0.0.1:6443).
    type: str
    required: true
  ca_cert:
    description:
      - PEM file of the cluster CA that signed the apiserver's serving certificate (C(ca.crt)).
    type: path
    required: true
"""
