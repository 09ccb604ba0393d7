# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Which of the bundle's .deb files a host needs (controller side of deb_install).

``read_control`` reads a .deb's control fields with the standard library (ar
archive, control.tar.{xz,gz}; dpkg-deb for other compressions);
``closure`` picks the files that install the wanted packages with every
dependency the host lacks, given what the host has installed.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_CONTROL = re.compile(r"^control\.tar(\.(xz|gz|bz2))?$")


class DebError(Exception):
    """A package problem with a message that says what to do."""


@dataclass
class Deb:
    path: str
    fields: dict[str, str]
    depends: list[list[str]] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.fields["Package"]

    @property
    def provides(self) -> list[str]:
        return [strip(p) for p in self.fields.get("Provides", "").split(",") if p.strip()]


def strip(dep: str) -> str:
    """'libc6:any (>= 2.34)' -> 'libc6'."""
    return re.split(r"[\s(:\[]", dep.strip(), maxsplit=1)[0]


def parse_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def _ar_members(data: bytes) -> Iterable[tuple[str, bytes]]:
    if not data.startswith(b"!<arch>\n"):
        raise DebError("not an ar archive")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        yield name, data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size % 2)


def read_control(path: str) -> dict[str, str]:
    """The control fields of the .deb at PATH."""
    with open(path, "rb") as handle:
        data = handle.read()
    for name, member in _ar_members(data):
        if _CONTROL.match(name):
            with tarfile.open(fileobj=io.BytesIO(member)) as tar:
                for candidate in ("./control", "control"):
                    try:
                        extracted = tar.extractfile(candidate)
                    except KeyError:
                        continue
                    if extracted is not None:
                        return parse_fields(extracted.read().decode("utf-8"))
            raise DebError(f"{path}: its control archive has no control file")
        if name.startswith("control.tar"):
            if not shutil.which("dpkg-deb"):
                raise DebError(f"{path}: {name} needs dpkg-deb on the controller to read")
            out = subprocess.run(["dpkg-deb", "-f", path], capture_output=True, text=True, check=True).stdout
            return parse_fields(out)
    raise DebError(f"{path} has no control archive")


def relations(fields: dict[str, str]) -> list[list[str]]:
    deps = []
    for key in ("Pre-Depends", "Depends"):
        for group in filter(None, (g.strip() for g in fields.get(key, "").split(","))):
            deps.append([strip(alt) for alt in group.split("|")])
    return deps


def load_dir(directory: str) -> list[Deb]:
    paths = sorted(str(p) for p in Path(directory).glob("*.deb"))
    if not paths:
        raise DebError(f"no .deb files in {directory}: build the bundle for this distribution and architecture")
    debs = []
    for path in paths:
        fields = read_control(path)
        debs.append(Deb(path, fields, relations(fields)))
    return debs


def installed_names(dpkg_query: str) -> set[str]:
    """Installed package names and what they provide, from
    ``dpkg-query -W -f '${Package}\\t${db:Status-Status}\\t${Provides}\\n'``."""
    names = set()
    for line in dpkg_query.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1] == "installed":
            names.add(parts[0])
            names.update(strip(p) for p in (parts[2] if len(parts) > 2 else "").split(",") if p.strip())
    return names


def closure(debs: list[Deb], wanted: list[str], have: set[str], directory: str) -> list[Deb]:
    """The .debs that install WANTED with every dependency not in HAVE (empty when all are installed)."""
    provides: dict[str, Deb] = {}
    for deb in debs:
        provides.setdefault(deb.package, deb)
        for name in deb.provides:
            provides.setdefault(name, deb)
    chosen: dict[str, Deb] = {}
    queue = [(name, "wanted") for name in wanted]
    while queue:
        name, needed_by = queue.pop(0)
        if name in have or name in chosen:
            continue
        deb = provides.get(name)
        if deb is None:
            raise DebError(
                f"package {name} (needed by {needed_by}) is neither installed nor in {directory}: "
                "rebuild the bundle with it, or install it on the host"
            )
        chosen[name] = chosen[deb.package] = deb
        for alternatives in deb.depends:
            if any(alt in have or alt in chosen for alt in alternatives):
                continue
            pick = next((alt for alt in alternatives if alt in provides), alternatives[0])
            queue.append((pick, deb.package))
    unique = {os.path.basename(d.path): d for d in chosen.values()}
    return [unique[name] for name in sorted(unique)]
