# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Controller side of airgap.k8s.install_files (see the module's documentation).

One read of the host (sha256, mode, owner of every file, state of every
directory, the codecs it can decode: module_utils/_hostread.py run as a
plain script, the module's read stage where that cannot run); then, only if something differs, one
archive of exactly the files whose content differs, one transfer, and one
install call that verifies and renames them into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.airgap.k8s.plugins.modules.install_files import ARGUMENT_SPEC
from ansible_collections.airgap.k8s.plugins.plugin_utils._transfer import (
    TransferAction,
    build_archive,
    compressed_copy,
    pick_codec,
    send_archive,
    sha256_file,
)

MODE = re.compile(r"^0?[0-7]{3}$")


class Bundle:
    """The unpacked bundle: paths inside it and the sha256 its manifest lists for each."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        manifest = os.path.join(directory, "manifest.json")
        try:
            with open(manifest, encoding="utf-8") as handle:
                artifacts = json.load(handle)["artifacts"]
        except (OSError, ValueError, KeyError) as exc:
            raise AnsibleActionFail(f"bundle_dir: cannot read {manifest} ({exc}); set airgap_bundle_dir") from exc
        self.checksums = {a["path"]: a["sha256"] for a in artifacts}

    def path(self, relative: str) -> str:
        return os.path.join(self.directory, relative)

    def sha256(self, relative: str, dest: str) -> str:
        try:
            return self.checksums[relative]
        except KeyError:
            raise AnsibleActionFail(
                f"files: {dest}: {relative} is not in {self.directory}/manifest.json; rebuild the bundle or fix the path"
            ) from None


class Wanted:
    """One wanted file: where its content comes from and what the host must end up with."""

    def __init__(self, spec: dict[str, Any], find: Any, bundle: Bundle | None) -> None:
        self.dest: str = spec["dest"]
        self.mode = spec["mode"]
        if not MODE.match(self.mode):
            raise AnsibleActionFail(f"files: {self.dest}: mode {self.mode!r} is not an octal string such as '0644'")
        self.mode = self.mode.zfill(4)
        self.owner: str = spec["owner"]
        self.group: str = spec["group"]
        self.validate: str | None = spec["validate"]
        self.data: bytes | None = None
        self.src: str | None = None
        if (spec["src"] is None) == (spec["content"] is None):
            raise AnsibleActionFail(f"files: {self.dest}: give exactly one of src and content")
        if spec["content"] is not None:
            self.data = spec["content"].encode("utf-8")
            self.sha256 = hashlib.sha256(self.data).hexdigest()
            self.size = len(self.data)
            self.diff = bool(spec["diff"])
        else:
            known = spec["sha256"]
            if os.path.isabs(spec["src"]):
                src = spec["src"]
            elif bundle is not None:
                src, known = bundle.path(spec["src"]), known or bundle.sha256(spec["src"], self.dest)
            else:
                src = find(spec["src"])
            if not os.path.isfile(src):
                raise AnsibleActionFail(f"files: {self.dest}: the source {src} does not exist on the controller")
            self.src = src
            self.sha256 = known or sha256_file(src)
            self.size = os.path.getsize(src)
            self.diff = False

    def stale(self, have: dict[str, Any]) -> tuple[bool, bool]:
        """(content differs, attributes differ) against the host's digest."""
        if not have.get("exists"):
            return True, True
        attrs = (have.get("mode"), have.get("owner"), have.get("group")) != (self.mode, self.owner, self.group)
        return have.get("sha256") != self.sha256, attrs


def _dir_differs(want: dict[str, Any], have: dict[str, Any]) -> bool:
    if not have.get("exists"):
        return True
    return (have["mode"], have["owner"], have["group"]) != (want["mode"], want["owner"], want["group"])


class ActionModule(TransferAction):
    MODULE = "airgap.k8s.install_files"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    INTERNAL = ("stage", "archive", "read_content")

    def converge(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        bundle = Bundle(args["bundle_dir"]) if args["bundle_dir"] else None
        wanted = [Wanted(f, lambda p: self._find_needle("files", p), bundle) for f in args["files"]]
        dirs = [dict(d, mode=d["mode"].zfill(4)) for d in args["directories"]]
        return self._converge(wanted, dirs, args, task_vars)

    def _converge(
        self, wanted: list[Wanted], dirs: list[dict[str, Any]], args: dict[str, Any], task_vars: dict[str, Any]
    ) -> dict[str, Any]:
        diffable = [w.dest for w in wanted if w.diff] if self._task.diff else []
        request = {
            "files": [w.dest for w in wanted] + list(args["absent"]) + list(args["require"]),
            "directories": [d["path"] for d in dirs],
            "read_content": diffable,
        }
        read = self.read_host(request, task_vars, args["cache_dir"]) or self.module(
            {
                "stage": "read",
                "files": [{"dest": w.dest} for w in wanted],
                "absent": args["absent"],
                "require": args["require"],
                "directories": [{"path": d["path"]} for d in dirs],
                "read_content": diffable,
            },
            task_vars,
        )
        missing = [p for p in args["require"] if not read["files"][p].get("exists")]
        if missing and not self._task.check_mode:
            raise AnsibleActionFail(f"{args['require_msg']} Missing: {', '.join(missing)}.")
        fix_dirs = [d for d in dirs if _dir_differs(d, read["directories"][d["path"]])]
        content, attrs_only = [], []
        for w in wanted:
            differs, attrs = w.stale(read["files"][w.dest])
            if differs:
                content.append(w)
            elif attrs:
                attrs_only.append(w)
        changed_files = [w.dest for w in content + attrs_only]
        remove = [p for p in args["absent"] if read["files"][p].get("exists")]
        out: dict[str, Any] = {
            "changed": bool(fix_dirs or changed_files or remove),
            "changed_files": changed_files,
            "removed_files": remove,
            "changed_directories": [d["path"] for d in fix_dirs],
            "sent_bytes": 0,
        }
        if self._task.diff and content:
            out["diff"] = [
                {
                    "before_header": w.dest,
                    "after_header": w.dest,
                    "before": read.get("content", {}).get(w.dest) or "",
                    "after": w.data.decode("utf-8", "replace") if w.data is not None else "",
                }
                for w in content
                if w.diff
            ]
        if not out["changed"] or self._task.check_mode:
            return out

        plan, members = [], []
        workdir = tempfile.mkdtemp(prefix="airgap-install-")
        try:
            for index, w in enumerate(content):
                codec = pick_codec(args["compress"], w.size, read["codecs"])
                member = f"{index}"
                if w.data is not None:
                    members.append((member, w.data))
                elif codec == "none":
                    members.append((member, Path(w.src or "")))
                else:
                    members.append(
                        (
                            member,
                            compressed_copy(w.src or "", w.sha256, codec, args["cache_dir"], args["compress_level"]),
                        )
                    )
                plan.append(self._entry(w, member, codec))
            plan += [self._entry(w, None, None) for w in attrs_only]
            archive = None
            if members:
                local = build_archive(members, workdir)
                out["sent_bytes"] = local.stat().st_size
                archive = send_archive(self, local)
            res = self.module(
                {"stage": "install", "archive": archive, "files": plan, "directories": fix_dirs, "absent": remove},
                task_vars,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        out["changed_files"] = res.get("changed_files", changed_files)
        out["changed_directories"] = res.get("changed_directories", out["changed_directories"])
        out["removed_files"] = res.get("removed_files", remove)
        return out

    @staticmethod
    def _entry(w: Wanted, member: str | None, codec: str | None) -> dict[str, Any]:
        entry = {"dest": w.dest, "sha256": w.sha256, "mode": w.mode, "owner": w.owner, "group": w.group}
        extra = {"validate": w.validate, "member": member, "codec": codec}
        return entry | {k: v for k, v in extra.items() if v is not None}
