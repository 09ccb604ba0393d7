"""Every role entry point that a playbook or role calls is validated against its argument spec.

Ansible picks the spec by the `tasks_from:` value as written: `tasks_from:
remove.yml` runs tasks/remove.yml without looking up the `remove` spec, so
the contract of docs/design.md ("Lifecycle contract") would go unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INCLUDES = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")


def specs(role: str) -> dict[str, Any]:
    path = ROOT / "roles" / role / "meta" / "argument_specs.yml"
    return (yaml.safe_load(path.read_text()) or {}).get("argument_specs", {}) if path.exists() else {}


def calls(node: Any) -> Iterator[tuple[str, str]]:
    """(role, tasks_from) of every include_role/import_role below NODE."""
    if isinstance(node, dict):
        for key in INCLUDES:
            args = node.get(key)
            if isinstance(args, dict) and args.get("tasks_from"):
                yield str(args["name"]).rsplit(".", 1)[-1], str(args["tasks_from"])
        for value in node.values():
            yield from calls(value)
    elif isinstance(node, list):
        for value in node:
            yield from calls(value)


FILES = sorted(
    [*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/handlers/*.yml")]
)
CALLS = sorted({(str(f.relative_to(ROOT)), *c) for f in FILES for c in calls(yaml.safe_load(f.read_text()))})


def test_the_calls_are_found():
    assert len(CALLS) > 40, CALLS


@pytest.mark.parametrize(("path", "role", "entry"), CALLS, ids=[f"{p}:{r}:{e}" for p, r, e in CALLS])
def test_tasks_from_names_an_entry_point(path: str, role: str, entry: str):
    assert not entry.endswith((".yml", ".yaml")), (
        f"{path}: tasks_from: {entry} skips the argument spec of {role}; write tasks_from: {Path(entry).stem}"
    )
    if "{{" not in role:  # a role picked by a loop (roles/day2/tasks/remove_host.yml): checked below
        assert (ROOT / "roles" / role / "tasks" / f"{entry}.yml").exists(), f"{path}: {role} has no tasks/{entry}.yml"


@pytest.mark.parametrize("role", sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml")))
def test_every_entry_point_of_a_spec_has_its_tasks(role: str):
    for entry, spec in specs(role).items():
        if entry == "main" and spec.get("short_description", "").startswith("Internal - nothing"):
            continue  # an internal role called only through its other entry points (day2)
        assert (ROOT / "roles" / role / "tasks" / f"{entry}.yml").exists(), f"{role}: spec {entry} has no tasks file"
