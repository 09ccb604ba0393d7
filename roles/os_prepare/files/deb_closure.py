#!/usr/bin/python3
"""Pick the .deb files that install PACKAGES with every dependency the host lacks.

    deb_closure.py DIR PACKAGE...

Reads the control fields of every DIR/*.deb (dpkg-deb) and the host's dpkg
status (dpkg-query), and prints JSON: {"install": [paths], "wanted_missing":
[names]}. "install" is empty when every wanted package is installed. Exits 2
with a message naming the package and DIR when a dependency is neither
installed nor in DIR. Reads only; the caller installs with apt-get.
"""

import glob
import json
import os
import re
import subprocess
import sys


def control(path):
    out = subprocess.run(
        ["dpkg-deb", "-f", path, "Package", "Version", "Depends", "Pre-Depends", "Provides"],
        check=True, capture_output=True, text=True,
    ).stdout
    fields, key = {}, None
    for line in out.splitlines():
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def installed():
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Status}\t${Provides}\n"],
        check=True, capture_output=True, text=True,
    ).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1] == "installed":
            names.add(parts[0])
            for prov in (parts[2] if len(parts) > 2 else "").split(","):
                if prov.strip():
                    names.add(strip(prov))
    return names


def strip(dep):
    """'libc6:any (>= 2.34)' -> 'libc6'."""
    return re.split(r"[\s(:\[]", dep.strip(), maxsplit=1)[0]


def relations(fields):
    deps = []
    for key in ("Pre-Depends", "Depends"):
        for group in filter(None, (g.strip() for g in fields.get(key, "").split(","))):
            deps.append([strip(alt) for alt in group.split("|")])
    return deps


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    directory, wanted = sys.argv[1], sys.argv[2:]
    debs = sorted(glob.glob(os.path.join(directory, "*.deb")))
    provides = {}
    for path in debs:
        fields = control(path)
        fields["path"] = path
        provides.setdefault(fields["Package"], fields)
        for prov in filter(None, (p.strip() for p in fields.get("Provides", "").split(","))):
            provides.setdefault(strip(prov), fields)
    have = installed()
    chosen, queue = {}, [(name, "wanted") for name in wanted]
    wanted_missing = [name for name in wanted if name not in have]
    while queue:
        name, needed_by = queue.pop(0)
        if name in have or name in chosen:
            continue
        deb = provides.get(name)
        if deb is None:
            sys.stderr.write(
                f"package {name} (needed by {needed_by}) is neither installed nor in {directory}: "
                "rebuild the bundle with it, or install it on the host\n"
            )
            sys.exit(2)
        chosen[name] = deb
        chosen[deb["Package"]] = deb
        for alternatives in relations(deb):
            if any(alt in have or alt in chosen for alt in alternatives):
                continue
            pick = next((alt for alt in alternatives if alt in provides), alternatives[0])
            queue.append((pick, deb["Package"]))
    paths = sorted({deb["path"] for deb in chosen.values()})
    json.dump({"install": paths, "wanted_missing": wanted_missing}, sys.stdout)


if __name__ == "__main__":
    main()
