# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The render lookup gives what ansible.builtin.template's lookup gives, without its deep copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]

# Jinja features the roles' templates use: ansible_managed, a variable of a
# nested dict, a loop with trim, an include from the same directory, a
# backslash that must stay one, the template's own path, a trailing newline.
TEMPLATE = r"""# {{ ansible_managed }}
name={{ table.a.b }}
{% for x in items %}
item={{ x }}
{% endfor %}
{% include 'part.j2' %}
regex="^\d+\n$"
path={{ template_path }}
"""

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    table: {a: {b: "value"}}
    items: [1, 2]
  tasks:
    - name: Render with both lookups
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ {'builtin': lookup('ansible.builtin.template', 't.j2'),
                      'render': lookup('airgap.k8s.render', 't.j2')} | to_json }}"
        mode: "0600"
    - name: A missing template is an error
      ansible.builtin.debug:
        msg: "{{ lookup('airgap.k8s.render', 'missing.j2') }}"
      register: missing
      ignore_errors: true
    - name: Report the error
      ansible.builtin.copy:
        dest: "{{ out }}.err"
        content: "{{ missing.msg }}"
        mode: "0600"
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    d = tmp_path_factory.mktemp("render")
    (d / "templates").mkdir()
    (d / "templates" / "t.j2").write_text(TEMPLATE)
    (d / "templates" / "part.j2").write_text("included={{ items | length }}\n")
    (d / "play.yml").write_text(PLAYBOOK)
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(d / "play.yml"), "-e", f"out={d / 'out.json'}",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((d / "out.json").read_text()), (d / "out.json.err").read_text()


def test_same_text_as_the_builtin_lookup(rendered: tuple[dict[str, str], str]) -> None:
    out, _ = rendered
    assert out["render"] == out["builtin"]
    # and the features were really exercised, not both empty (Jinja drops the
    # included file's trailing newline)
    assert out["render"] == '# Ansible managed\nname=value\nitem=1\nitem=2\nincluded=2regex="^\\d+\\n$"\npath=t.j2\n'


def test_a_missing_template_is_named(rendered: tuple[dict[str, str], str]) -> None:
    _, err = rendered
    assert "the template file missing.j2 could not be found" in err
