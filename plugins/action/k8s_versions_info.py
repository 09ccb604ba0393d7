# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Controller side of airgap.k8s.k8s_versions_info: on the controller, the module runs in a fork (plugin_utils._in_process)."""

from __future__ import annotations

from ansible_collections.airgap.k8s.plugins.plugin_utils._in_process import InProcessAction


class ActionModule(InProcessAction):
    pass
