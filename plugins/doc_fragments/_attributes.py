# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)

# Private to the collection (the leading underscore): the attributes of the
# modules that support check mode fully, show no diff, and run on POSIX.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""
