#!/usr/bin/python3
"""image_load.py RUNTIME TOOL ARCH [--check] ARCHIVE REF [ARCHIVE REF ...]

Load each image archive ARCHIVE (OCI layout or `docker save` format) into the
runtime unless an image named REF with the same content is there already:
every image of a host in one call. RUNTIME is containerd (TOOL: the ctr
binary; namespace k8s.io) or docker (TOOL: the docker CLI). Prints JSON
{"changed", "images": [{"changed", "ref", "digest", "before"}, ...]}.
With --check nothing is imported; "changed" says whether it would be.

"Same content": the runtime's digest for REF is the archive's manifest or
config digest, or it is the digest recorded in ARCHIVE.imported right after
this archive was last imported (runtimes that convert a docker archive give
the image a new manifest digest).
"""

import json
import os
import subprocess
import sys
import tarfile


def fail(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(1)


def read_json(tar, name):
    for candidate in (name, "./" + name):
        try:
            member = tar.extractfile(candidate)
        except KeyError:
            continue
        if member:
            return json.load(member)
    return None


def archive_digests(path, ref, arch):
    """Digests that identify the archive's image: (target digest, config digest)."""
    with tarfile.open(path) as tar:
        index = read_json(tar, "index.json")
        if index is not None:
            manifests = index.get("manifests") or []
            pick = None
            for desc in manifests:
                names = {
                    (desc.get("annotations") or {}).get("io.containerd.image.name"),
                    (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name"),
                }
                if ref in names or ref.rsplit(":", 1)[-1] in names:
                    pick = desc
                    break
            pick = pick or (manifests[0] if manifests else None)
            if pick is None:
                fail(f"{path}: index.json lists no image")
            target = pick["digest"]
            blob = read_json(tar, "blobs/" + target.replace(":", "/"))
            if blob and blob.get("manifests"):  # an index: this architecture's manifest
                for desc in blob["manifests"]:
                    if (desc.get("platform") or {}).get("architecture") == arch:
                        blob = read_json(tar, "blobs/" + desc["digest"].replace(":", "/"))
                        break
            config = (blob or {}).get("config", {}).get("digest")
            return target, config
        manifest = read_json(tar, "manifest.json")
        if manifest:
            config = "sha256:" + manifest[0]["Config"].rsplit("/", 1)[-1].removesuffix(".json")
            return config, config
    fail(f"{path} is neither an OCI archive (index.json) nor a docker archive (manifest.json)")


def run(cmd, check=True):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        fail(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def present(runtime, tool, ref):
    """Digests the runtime knows for REF (empty when absent)."""
    if runtime == "containerd":
        out = run([tool, "-n", "k8s.io", "images", "ls", "name==" + ref]).stdout.splitlines()
        for line in out[1:]:
            cols = line.split()
            if cols and cols[0] == ref:
                return {cols[2]}
        return set()
    proc = run([tool, "image", "inspect", "--format", "{{.Id}} {{range .RepoDigests}}{{.}} {{end}}", ref], check=False)
    if proc.returncode != 0:
        return set()
    return {word.rsplit("@", 1)[-1] for word in proc.stdout.split()}


def load(runtime, tool, path, ref, target):
    if runtime == "containerd":
        out = run([tool, "-n", "k8s.io", "images", "import", path]).stdout
        if not present(runtime, tool, ref):
            # OCI archives named by tag only: name the image after its digest's import.
            for line in run([tool, "-n", "k8s.io", "images", "ls"]).stdout.splitlines()[1:]:
                cols = line.split()
                if len(cols) > 2 and cols[2] == target and cols[0] != ref:
                    run([tool, "-n", "k8s.io", "images", "tag", "--force", cols[0], ref])
                    break
        return out
    out = run([tool, "load", "--input", path]).stdout
    if not present(runtime, tool, ref):
        loaded = [line.split(": ", 1)[1] for line in out.splitlines() if ": " in line]
        if loaded:
            run([tool, "tag", loaded[-1].strip(), ref])
    return out


def converge(runtime, tool, path, ref, arch, check):
    target, config = archive_digests(path, ref, arch)
    before = present(runtime, tool, ref)
    wanted = {target, config} - {None}
    stamp_path = path + ".imported"
    try:
        with open(stamp_path) as fh:
            stamp = json.load(fh)
    except (OSError, ValueError):
        stamp = {}
    if stamp.get("archive") == target and stamp.get("runtime") == runtime:
        wanted |= set(stamp.get("digests") or [])
    result = {"ref": ref, "digest": target, "before": sorted(before), "changed": not (before & wanted)}
    if result["changed"] and not check:
        load(runtime, tool, path, ref, target)
        after = present(runtime, tool, ref)
        if not after:
            fail(f"imported {path} but the runtime has no image {ref}")
        with open(stamp_path + ".tmp", "w") as fh:
            json.dump({"archive": target, "runtime": runtime, "digests": sorted(after)}, fh)
        os.replace(stamp_path + ".tmp", stamp_path)
    return result


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    check = "--check" in sys.argv
    if len(args) < 3 or len(args) % 2 == 0:
        fail(__doc__)
    runtime, tool, arch = args[:3]
    pairs = list(zip(args[3::2], args[4::2]))
    images = [converge(runtime, tool, path, ref, arch, check) for path, ref in pairs]
    print(json.dumps({"changed": any(i["changed"] for i in images), "images": images}))


if __name__ == "__main__":
    main()
