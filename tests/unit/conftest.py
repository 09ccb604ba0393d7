"""pytest setup for the unit tests: import the checkout as ``ansible_collections.airgap.k8s``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".collections"
LINK = COLLECTIONS / "ansible_collections" / "airgap" / "k8s"

# `make venv` creates the same link; a bare checkout gets it here.
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.symlink("../../..", LINK, target_is_directory=True)
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


@dataclass
class ModuleRun:
    """One module invocation: its exit code, its JSON result and the raw output."""

    rc: int
    result: dict[str, Any]
    output: str

    @property
    def failed(self) -> bool:
        return self.rc != 0 or bool(self.result.get("failed"))

    @property
    def warnings(self) -> list[str]:
        """Warning texts; ansible-core 2.19 reports them as structured summaries."""
        texts = []
        for warning in self.result.get("warnings", []):
            texts.append(warning if isinstance(warning, str) else warning.get("event", {}).get("msg", str(warning)))
        return texts


def _run_module(main, args: dict[str, Any], *, check_mode: bool = False, diff: bool = False) -> ModuleRun:
    from unittest import mock

    from ansible.module_utils import _internal
    from ansible.module_utils.common import warnings
    from ansible.module_utils.testing import patch_module_args

    args = {**args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
    out = io.StringIO()
    with (
        patch_module_args(args),
        # A module runs in its own process, never as the controller; once any test has
        # imported controller code, warnings would otherwise go to the display, not the result.
        mock.patch.object(_internal, "is_controller", False),
        # Each run starts with no warnings, as a fresh module process would.
        mock.patch.dict(warnings._global_warnings, clear=True),
        mock.patch.dict(warnings._global_deprecations, clear=True),
        contextlib.redirect_stdout(out),
        pytest.raises(SystemExit) as exc_info,
    ):
        main()
    return ModuleRun(int(exc_info.value.code or 0), json.loads(out.getvalue()), out.getvalue())


@pytest.fixture(scope="session")
def run_module():
    """Run a module's ``main()`` with the given arguments, as Ansible would.

    Uses ansible-core's own ``patch_module_args``; ``check_mode`` and ``diff``
    become the ``_ansible_*`` internal arguments. Session-scoped, so module-scoped
    fixtures can use it to build shared state (CAs, ...).
    """
    return _run_module


def _spec_from_docs(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = {}
    for name, doc in options.items():
        entry = {
            "type": doc.get("type", "str"),
            "required": bool(doc.get("required", False)),
            "default": doc.get("default"),
            "choices": doc.get("choices"),
            "elements": doc.get("elements"),
        }
        if "suboptions" in doc:
            entry["options"] = _spec_from_docs(doc["suboptions"])
        spec[name] = entry
    return spec


def _normalise_spec(argument_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = {}
    for name, arg in argument_spec.items():
        entry = {
            "type": arg.get("type", "str"),
            "required": bool(arg.get("required", False)),
            "default": arg.get("default"),
            "choices": arg.get("choices"),
            "elements": arg.get("elements"),
        }
        if "options" in arg:
            entry["options"] = _normalise_spec(arg["options"])
        spec[name] = entry
    return spec


class _DocFragments:
    """ansible-core's fragment loader, plus this collection's fragments (the checkout is not an installed collection)."""

    def get(self, name: str):
        import importlib

        from ansible.plugins.loader import fragment_loader

        parts = name.split(".")
        if parts[:2] == ["ansible", "builtin"]:
            # Without the collection loader only the short names of ansible-core's own fragments resolve.
            return fragment_loader.get(".".join(parts[2:]))
        if parts[:2] != ["airgap", "k8s"]:
            return None
        if len(parts) != 3:
            return None  # add_fragments then retries with the last part as the fragment's variable
        fragment = importlib.import_module(f"ansible_collections.airgap.k8s.plugins.doc_fragments.{parts[2]}")
        cls = fragment.ModuleDocFragment
        cls.ansible_name = name
        return cls


@pytest.fixture(scope="session")
def documented_spec():
    """(options from DOCUMENTATION and its doc fragments, argument_spec), normalised so they compare equal
    when they agree.

    The fragments are merged by ansible-core's own ``add_fragments``, as ansible-doc and validate-modules do.
    """
    import yaml
    from ansible.utils.plugin_docs import add_fragments

    def get(module) -> tuple[dict[str, Any], dict[str, Any]]:
        docs = yaml.safe_load(module.DOCUMENTATION)
        add_fragments(docs, module.__file__, _DocFragments(), is_module=True)
        return _spec_from_docs(docs["options"]), _normalise_spec(module.ARGUMENT_SPEC)

    return get
