#!/usr/bin/env python3
"""Build the offline bundle from source: Go modules, a C file, Debian packages.

Reads the versions table (roles/cluster_defaults/defaults/main/artifacts.yml),
builds every component from its pinned Go module with the component's own
version stamping, builds the container images as docker-archive tarballs
(accepted by ``docker load`` and ``ctr -n k8s.io images import``), downloads the
host .debs with their dependencies, and writes the bundle in the normalized
layout of docs/design.md with manifest.json (``builder: from-source``).

Every artifact is cached under ``--cache`` keyed by component, version, arch
and a hash of its recipe (table entry, Go version, this script's recipe
format), so a warm run only copies files. Usage: docs/bundle.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "roles/cluster_defaults/defaults/main/artifacts.yml"
CONTAINERS_CONF = REPO / "tools/sandbox/containers.conf"
# Bump when the way a recipe turns into files changes: invalidates the cache.
RECIPE_FORMAT = 1
# Components in build order; os-packages last.
ORDER = (
    "kubernetes",
    "etcd",
    "containerd",
    "runc",
    "cni-plugins",
    "crictl",
    "cri-dockerd",
    "flannel",
    "flannel-cni-plugin",
    "coredns",
    "pause",
    "agnhost",
    "docker",
    "calico",
    "os-packages",
)
OS_PACKAGES = "os-packages"
PROFILES = ("full", "test")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _load_bundle_lib() -> ModuleType:
    """plugins/module_utils/_bundle.py, loaded by path (no Ansible needed)."""
    path = REPO / "plugins/module_utils/_bundle.py"
    spec = importlib.util.spec_from_file_location("airgap_bundle", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bundle = _load_bundle_lib()


class BuildError(RuntimeError):
    """A component cannot be built; the message says why and what to do."""


def log(msg: str) -> None:
    print(f"[build] {msg}", file=sys.stderr, flush=True)


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    capture: bool = False,
    stdin: Any = None,
) -> str:
    """Run a command; on failure raise BuildError with its output tail."""
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, stdin=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout if capture else ""


# --------------------------------------------------------------------------
# Recipes


@dataclasses.dataclass
class Output:
    """One built file, before it goes into the bundle."""

    name: str
    kind: str  # binary | image | os-package
    file: str  # file name inside the cache entry
    source: str
    image: str | None = None
    pkg_version: str | None = None  # os-packages: the Debian version


def version_values(version: str) -> dict[str, str]:
    core = version.split("-", 1)[0].split("+", 1)[0]
    parts = ([*core.split("."), "0", "0", "0"])[:3]
    return {"version": version, "major": parts[0], "minor": parts[1], "patch": parts[2]}


def render(template: str, values: dict[str, str]) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise BuildError(f"bad template {template!r} in the versions table: {exc}") from None


def recipe_for(table: dict, component: str, version: str) -> dict:
    """The component's `build`, with a per-version `build` merged over it."""
    entry = table[component]
    recipe = dict(entry.get("build") or {})
    per_version = (entry.get("versions") or {}).get(version) or {}
    recipe.update(per_version.get("build") or {})
    if not recipe:
        raise BuildError(f"airgap_artifacts.{component} has no build recipe")
    return recipe


def default_version(table: dict, component: str, profile: str) -> str:
    entry = table[component]
    if profile == "test" and entry.get("debian"):
        return ""  # decided by the Debian package
    versions = entry.get("versions") or {}
    default = str(entry.get("default", ""))
    if default and recipe_for(table, component, default).get("method") == "none" and entry.get("default_from_source"):
        fallback = str(entry["default_from_source"])
        if fallback not in versions:
            raise BuildError(f"airgap_artifacts.{component}.default_from_source {fallback} is not in versions")
        return fallback
    return default


def test_versions(table: dict, component: str) -> list[str]:
    """The older versions the test bundle also holds (the table's ``test_versions``, every set)."""
    sets = table[component].get("test_versions") or {}
    if not isinstance(sets, dict):
        raise BuildError(f"airgap_artifacts.{component}.test_versions must map a set name to a version")
    return list(dict.fromkeys(str(v) for v in sets.values()))


def versions_to_build(table: dict, component: str, chosen: str, profile: str, with_tests: bool) -> list[str]:
    """The chosen (or default) version, then, with ``with_tests``, the component's test versions."""
    first = chosen or default_version(table, component, profile)
    if not with_tests or (profile == "test" and table[component].get("debian")):
        return [first]
    return list(dict.fromkeys([first, *test_versions(table, component)]))


def cache_key(component: str, version: str, arch: str, recipe: dict, extra: dict) -> str:
    blob = json.dumps(
        {
            "format": RECIPE_FORMAT,
            "component": component,
            "version": version,
            "arch": arch,
            "recipe": recipe,
            "extra": extra,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------
# Go


class Go:
    """The Go toolchain, with the default build and module caches (kept warm)."""

    def __init__(self, jobs: int) -> None:
        go = shutil.which("go") or "/usr/local/go/bin/go"
        if not Path(go).exists():
            raise BuildError("Go is not installed: install Go >= 1.26 (the table's modules need it)")
        self.go = go
        self.jobs = jobs
        self.version = run([go, "env", "GOVERSION"], capture=True).strip()

    def env(self, arch: str, cgo: bool) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            GOOS="linux",
            GOARCH=arch,
            CGO_ENABLED="1" if cgo else "0",
            GOFLAGS="-mod=mod",
            GOTOOLCHAIN="local",
            GOMAXPROCS=str(self.jobs),
        )
        env.setdefault("PATH", DEFAULT_PATH)
        return env

    def download(self, module: str, version: str) -> dict:
        out = run(
            [self.go, "mod", "download", "-json", f"{module}@{version}"], capture=True, env=self.env("amd64", False)
        )
        info = json.loads(out)
        if info.get("Error"):
            raise BuildError(f"{module}@{version}: {info['Error']}")
        return info

    def mod_time(self, info: dict) -> str:
        with open(info["Info"], encoding="utf-8") as handle:
            return str(json.load(handle).get("Time", ""))

    def replaces(self, gomod: str) -> list[dict]:
        out = run([self.go, "mod", "edit", "-json", gomod], capture=True)
        return json.loads(out).get("Replace") or []


def go_wrapper(go: Go, workdir: Path, component: str, recipe: dict, values: dict[str, str]) -> str:
    """Create the wrapper module that builds the recipe's packages; return the tag date."""
    modules = {m: render(str(v), values) for m, v in (recipe.get("modules") or {}).items()}
    if not modules:
        raise BuildError(f"airgap_artifacts.{component}.build.modules is empty")
    replace_local = recipe.get("replace_local")
    date = ""
    replaces: dict[str, str] = {}
    for module, version in modules.items():
        info = go.download(module, version)
        date = date or go.mod_time(info)
        for rep in go.replaces(info["GoMod"]):
            old, new = rep["Old"]["Path"], rep["New"]
            if new.get("Version"):
                target = f"{new['Path']}@{new['Version']}"
            elif replace_local:
                # A path inside the upstream repository: the same module at
                # the release's version (unused ones are ignored by go).
                local_version = render(str(replace_local), values)
                if not version_fits_path(old, local_version):
                    continue  # a guard such as `go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY`
                target = f"{old}@{local_version}"
            else:
                raise BuildError(
                    f"{module}@{version} replaces {old} with the local path {new['Path']}; "
                    f"set airgap_artifacts.{component}.build.replace_local"
                )
            if replaces.setdefault(old, target) != target:
                raise BuildError(f"{component}: conflicting replace directives for {old}")
    workdir.mkdir(parents=True, exist_ok=True)
    if recipe.get("drop_imports"):
        module = next(iter(modules))
        replaces[module] = "./" + patched_source(go, workdir, module, modules[module], recipe["drop_imports"])
    name = re.sub(r"[^a-z0-9]+", "-", component.lower())
    (workdir / "go.mod").write_text(f"module airgap.local/bundle/{name}\n\ngo 1.22\n", encoding="utf-8")
    edits = [f"-require={m}@{v}" for m, v in modules.items()]
    edits += [f"-require={m}@{v}" for m, v in (recipe.get("requires") or {}).items()]
    edits += [f"-replace={old}={new}" for old, new in sorted(replaces.items())]
    run([go.go, "mod", "edit", *edits], cwd=workdir, env=go.env("amd64", False))
    imports = sorted({pkg_of(spec) for spec in (recipe.get("packages") or {}).values()})
    body = "\n".join(f'\t_ "{pkg}"' for pkg in imports)
    (workdir / "tools.go").write_text(
        f"//go:build tools\n\n// Generated by build_from_source.py.\npackage {name.replace('-', '')}\n\n"
        f"import (\n{body}\n)\n",
        encoding="utf-8",
    )
    # -e: an unreachable module needed only by some dependency's tests (or by
    # a file left out with drop_imports) must not stop the build; a module the
    # binaries really need still fails `go build` below.
    run([go.go, "mod", "tidy", "-e"], cwd=workdir, env=go.env("amd64", False))
    return date


def patched_source(go: Go, workdir: Path, module: str, version: str, drops: dict) -> str:
    """Copy of the module with the blank imports in `drop_imports` removed.

    For a dependency that is not on the module proxy: the wrapper replaces the
    module with this copy (Go refuses overlays of the module cache).
    """
    src = Path(go.download(module, version)["Dir"])
    rel_dir = "src"
    dst = workdir / rel_dir
    if dst.exists():
        for path in dst.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    for path in [dst, *dst.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for rel, imports in drops.items():
        target = dst / str(rel)
        text = target.read_text(encoding="utf-8")
        for imp in imports:
            line = re.compile(rf'^\s*_\s+"{re.escape(str(imp))}"\s*\n', re.M)
            if not line.search(text):
                raise BuildError(f"drop_imports: {rel} in {module}@{version} does not import {imp} (anymore?)")
            text = line.sub("", text)
        target.write_text(text, encoding="utf-8")
    return rel_dir


def version_fits_path(path: str, version: str) -> bool:
    """Go's major-version rule: vN (N >= 2) only for a module path ending in /vN."""
    major = int(version.lstrip("v").split(".")[0] or 0)
    suffix = re.search(r"/v(\d+)$", path)
    return (int(suffix.group(1)) == major) if suffix else major < 2


def pkg_of(spec: object) -> str:
    return str(spec["package"]) if isinstance(spec, dict) else str(spec)


def ldflags_for(templates: Iterable[str], values: dict[str, str]) -> list[str]:
    """Render -X flags; a flag whose placeholder has no value is left out."""
    out = []
    for template in templates:
        placeholders = re.findall(r"{(\w+)}", template)
        if any(not values.get(p) for p in placeholders):
            continue
        out.append(render(template, values))
    return out


def build_go(go: Go, ctx: BuildContext, recipe: dict, values: dict[str, str], dest: Path) -> list[Output]:
    workdir = ctx.work / f"{ctx.component}-{values['version']}"
    date = go_wrapper(go, workdir, ctx.component, recipe, values)
    values = {**values, "date": date, "commit": values.get("commit", "")}
    version_file = recipe.get("version_file")
    if version_file:
        module, modver = next(iter((recipe.get("modules") or {}).items()))
        src = Path(go.download(module, render(str(modver), values))["Dir"]) / str(version_file)
        found = src.read_text(encoding="utf-8").strip()
        if found != values["version"]:
            raise BuildError(
                f"{ctx.component}: {version_file} in {module}@{modver} says {found}, "
                f"the table says {values['version']}; fix the table"
            )
    cgo = bool(recipe.get("cgo"))
    if cgo and ctx.arch != host_arch():
        raise BuildError(f"{ctx.component} needs cgo; cross-building it for {ctx.arch} is not supported here")
    outputs = []
    module_desc = ",".join(f"{m}@{render(str(v), values)}" for m, v in (recipe.get("modules") or {}).items())
    for rel, imports in (recipe.get("drop_imports") or {}).items():
        module_desc += f" (without {', '.join(str(i) for i in imports)} in {rel})"
    for name, spec in (recipe.get("packages") or {}).items():
        pkg = pkg_of(spec)
        extra = spec if isinstance(spec, dict) else {}
        tags = [*(recipe.get("tags") or []), *(extra.get("tags") or [])]
        flags = ["-s", "-w", *ldflags_for(recipe.get("ldflags") or [], values)]
        if recipe.get("static"):
            flags += ["-linkmode", "external", "-extldflags", "-static"]
        cmd = [go.go, "build", "-trimpath", "-p", str(go.jobs), "-o", str(dest / name)]
        cmd += ["-ldflags", " ".join(flags)]
        if tags:
            cmd += ["-tags", ",".join(tags)]
        cmd.append(pkg)
        started = time.monotonic()
        run(cmd, cwd=workdir, env=go.env(ctx.arch, cgo))
        ctx.timing(f"{name}", time.monotonic() - started, dest / name)
        outputs.append(Output(name, "binary", name, f"go:{module_desc}"))
    return outputs


# --------------------------------------------------------------------------
# C (pause)


def build_c(go: Go, ctx: BuildContext, recipe: dict, values: dict[str, str], dest: Path) -> list[Output]:
    if ctx.arch != host_arch():
        raise BuildError(f"{ctx.component}: cross-compiling C for {ctx.arch} is not supported here")
    module, modver = next(iter((recipe.get("modules") or {}).items()))
    modver = render(str(modver), values)
    moddir = Path(go.download(module, modver)["Dir"])
    outputs = []
    for name, rel in (recipe.get("sources") or {}).items():
        src = moddir / str(rel)
        makefile = src.parent.parent / "Makefile"
        if makefile.exists():
            match = re.search(r"^TAG \?= (\S+)", makefile.read_text(encoding="utf-8"), re.M)
            if match and match.group(1) != values["version"]:
                raise BuildError(
                    f"{ctx.component}: {module}@{modver} builds {name} {match.group(1)}, "
                    f"the table says {values['version']}"
                )
        cflags = [render(str(f), values) for f in recipe.get("cflags") or []]
        started = time.monotonic()
        run(["gcc", *cflags, "-o", str(dest / name), str(src)])
        run(["strip", str(dest / name)])
        ctx.timing(name, time.monotonic() - started, dest / name)
        outputs.append(Output(name, "binary", name, f"c:{module}@{modver}/{rel}"))
    return outputs


# --------------------------------------------------------------------------
# Images


class Podman:
    """podman with its own storage under the cache, so no user state is touched."""

    def __init__(self, cache: Path) -> None:
        if not shutil.which("podman"):
            raise BuildError("podman is needed to build images: apt-get install podman runc")
        self.base = ["podman", "--root", str(cache / "podman/root"), "--runroot", str(cache / "podman/run")]
        self.env = dict(os.environ)
        self.env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)

    def image_from_rootfs(self, rootfs: Path, ref: str, arch: str, conf: dict, out: Path) -> None:
        changes = []
        if conf.get("entrypoint"):
            changes += ["--change", "ENTRYPOINT " + json.dumps(conf["entrypoint"])]
        if conf.get("cmd"):
            changes += ["--change", "CMD " + json.dumps(conf["cmd"])]
        if conf.get("user"):
            changes += ["--change", f"USER {conf['user']}"]
        for port in conf.get("ports") or []:
            changes += ["--change", f"EXPOSE {port}"]
        changes += ["--change", f"ENV PATH={DEFAULT_PATH}"]
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            run([*self.base, "import", "--arch", arch, *changes, "-", ref], env=self.env, stdin=tar.stdout)
        finally:
            if tar.stdout:
                tar.stdout.close()
            tar.wait()
        if tar.returncode:
            raise BuildError(f"tar of {rootfs} failed")
        out.unlink(missing_ok=True)
        # docker-archive: `docker load` (any version) and `ctr images import` read it.
        run([*self.base, "save", "--format", "docker-archive", "-o", str(out), ref], env=self.env)
        run([*self.base, "rmi", "-f", ref], env=self.env)


def debian_rootfs(ctx: BuildContext, packages: list[str], release: str) -> Path:
    """A debootstrap minbase rootfs with `packages`, cached as a tarball."""
    if ctx.arch != host_arch():
        raise BuildError(f"a Debian {ctx.arch} rootfs needs qemu; build images for {host_arch()} only here")
    key = hashlib.sha256(json.dumps([release, ctx.arch, sorted(packages)]).encode()).hexdigest()[:16]
    cached = ctx.cache / "rootfs" / f"debian-{release}-{ctx.arch}-{key}.tar"
    if not cached.exists():
        if not shutil.which("debootstrap"):
            raise BuildError("debootstrap is needed for Debian-based images: apt-get install debootstrap")
        tmp = Path(tempfile.mkdtemp(prefix="rootfs-", dir=ctx.work))
        started = time.monotonic()
        try:
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--arch={ctx.arch}",
                    f"--include={','.join(packages)}",
                    release,
                    str(tmp),
                    debian_mirror(),
                ]
            )
            for junk in (
                "var/cache/apt/archives",
                "var/lib/apt/lists",
                "usr/share/doc",
                "usr/share/man",
                "usr/share/locale",
                "usr/share/info",
            ):
                path = tmp / junk
                if path.is_dir():
                    shutil.rmtree(path)
                    path.mkdir()
            cached.parent.mkdir(parents=True, exist_ok=True)
            run(["tar", "--numeric-owner", "-C", str(tmp), "-cf", str(cached) + ".tmp", "."])
            os.replace(str(cached) + ".tmp", cached)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        ctx.timing(f"debian rootfs ({','.join(packages)})", time.monotonic() - started, cached)
    return cached


def build_images(
    ctx: BuildContext, recipe: dict, values: dict[str, str], dest: Path, binaries: list[Output]
) -> list[Output]:
    images = recipe.get("images") or {}
    if not images:
        return []
    podman = Podman(ctx.cache)
    files = {f["name"]: f for f in ctx.table[ctx.component]["files"]}
    by_name = {o.name: o for o in binaries}
    outputs = []
    for name, conf in images.items():
        if name not in files or files[name].get("kind") != "image":
            raise BuildError(f"airgap_artifacts.{ctx.component}.build.images.{name} is not an image in files")
        ref = render(str(files[name]["image"]), values)
        started = time.monotonic()
        rootfs = Path(tempfile.mkdtemp(prefix=f"img-{name}-", dir=ctx.work))
        try:
            if conf.get("base", "scratch") == "debian":
                release = ctx.table[OS_PACKAGES]["distros"]["debian-12"]["release"]
                tarball = debian_rootfs(ctx, [str(p) for p in conf.get("debian_packages") or []], release)
                run(["tar", "--numeric-owner", "-C", str(rootfs), "-xf", str(tarball)])
            for target, binary in (conf.get("copy") or {}).items():
                if binary not in by_name:
                    raise BuildError(f"{ctx.component} image {name}: {binary} was not built")
                path = rootfs / str(target).lstrip("/")
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(dest / by_name[binary].file, path)
                path.chmod(0o755)
            tarname = f"{name}.tar"
            podman.image_from_rootfs(rootfs, ref, ctx.arch, conf, dest / tarname)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
        ctx.timing(f"image {ref}", time.monotonic() - started, dest / tarname)
        sources = ", ".join(sorted({by_name[b].source for b in (conf.get("copy") or {}).values()}))
        base = (
            "debian-minbase+" + "+".join(conf.get("debian_packages") or [])
            if conf.get("base") == "debian"
            else "scratch"
        )
        outputs.append(Output(name, "image", tarname, f"image:{base}; {sources}", image=ref))
    return outputs


# --------------------------------------------------------------------------
# Debian


def debian_mirror() -> str:
    """The first Debian mirror the host's apt uses (deb.debian.org otherwise)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file() or not re.search(r"\.(list|sources)$", path.name):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s", text, re.M
        )
        if match:
            return match.group(1)
    return "http://deb.debian.org/debian"


def host_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def deb_field(deb: Path, field: str) -> str:
    return run(["dpkg-deb", "-f", str(deb), field], capture=True).strip()


def apt_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DEBIAN_FRONTEND"] = "noninteractive"
    env.setdefault("PATH", DEFAULT_PATH)
    return env


def ensure_apt_lists(packages: Iterable[str]) -> None:
    """`apt-get update` once if apt does not know a package we need."""
    for name in packages:
        policy = run(["apt-cache", "policy", name], capture=True, env=apt_env())
        if "Candidate:" not in policy or "Candidate: (none)" in policy:
            log("apt lists lack some packages; running apt-get update")
            run(["apt-get", "update", "-qq"], env=apt_env())
            return


def apt_download_closure(ctx: BuildContext, packages: list[str], release: str, dest: Path) -> None:
    """Download `packages` plus every dependency a Debian minbase lacks into dest.

    A scratch dpkg status that lists exactly the minbase set (debootstrap
    --print-debs) makes apt's own resolver pick the rest, alternatives and
    virtual packages included.
    """
    if ctx.arch != host_arch():
        raise BuildError(
            f"Debian packages for {ctx.arch} need `dpkg --add-architecture {ctx.arch}`; "
            f"only {host_arch()} is supported here"
        )
    ensure_apt_lists(packages)
    probe = Path(tempfile.mkdtemp(prefix="minbase-", dir=ctx.work))
    try:
        out = run(
            [
                "debootstrap",
                "--print-debs",
                "--variant=minbase",
                f"--arch={ctx.arch}",
                release,
                str(probe),
                debian_mirror(),
            ],
            capture=True,
        )
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    minbase = sorted(set(out.split()))
    if len(minbase) < 50:
        raise BuildError(f"debootstrap --print-debs gave an implausible minbase list: {minbase}")
    shown = run(["apt-cache", "show", "--no-all-versions", *minbase], capture=True, env=apt_env())
    stanzas = [s for s in shown.split("\n\n") if s.strip()]
    status = ctx.work / "minbase.status"
    with status.open("w", encoding="utf-8") as handle:
        for stanza in stanzas:
            lines = stanza.strip().splitlines()
            handle.write(lines[0] + "\nStatus: install ok installed\n" + "\n".join(lines[1:]) + "\n\n")
    archives = ctx.work / "apt-archives"
    shutil.rmtree(archives, ignore_errors=True)
    (archives / "partial").mkdir(parents=True)
    run(
        [
            "apt-get",
            "install",
            "--download-only",
            "--no-install-recommends",
            "-y",
            "-qq",
            "-o",
            f"Dir::State::status={status}",
            "-o",
            f"Dir::Cache::archives={archives}",
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Get::AllowUnauthenticated=false",
            *packages,
        ],
        env=apt_env(),
    )
    for deb in sorted(archives.glob("*.deb")):
        shutil.move(str(deb), dest / deb.name)
    shutil.rmtree(archives, ignore_errors=True)


def build_os_packages(ctx: BuildContext, dest: Path) -> list[Output]:
    section = ctx.table[OS_PACKAGES]
    distro = ctx.version
    conf = (section.get("distros") or {}).get(distro)
    if conf is None:
        raise BuildError(f"airgap_artifacts.{OS_PACKAGES}.distros has no {distro}")
    names = [str(f["name"]) for f in [*(section.get("files") or []), *(conf.get("files") or [])]]
    started = time.monotonic()
    apt_download_closure(ctx, names, str(conf["release"]), dest)
    outputs = []
    for deb in sorted(dest.glob("*.deb")):
        pkg, ver = deb_field(deb, "Package"), deb_field(deb, "Version")
        outputs.append(Output(pkg, "os-package", deb.name, f"debian:{pkg}={ver}", pkg_version=ver))
    missing = set(names) - {o.name for o in outputs}
    if missing:
        raise BuildError(f"apt did not download {', '.join(sorted(missing))} (already in minbase?)")
    ctx.timing(f"{len(outputs)} debs for {distro}", time.monotonic() - started, dest)
    return outputs


def debian_upstream_version(debver: str) -> str:
    """20.10.24 of 20.10.24+dfsg1-1+deb12u1+b6 (epoch, revision and repack suffixes dropped)."""
    return re.sub(r"^\d+:", "", debver).split("-")[0].split("+")[0].split("~")[0]


def extract_debs(ctx: BuildContext, debs: dict, dest: Path) -> tuple[dict[str, str], list[Output]]:
    """Copy files out of Debian packages: ``{package: {file name: path in the .deb}}``.

    The packages come from the host's apt sources (the candidate version);
    returns each package's Debian version and the outputs, whose source is
    ``debian:<package>=<version>``.
    """
    if ctx.arch != host_arch():
        raise BuildError(f"Debian packages for {ctx.arch} need an {ctx.arch} machine; this one is {host_arch()}")
    ensure_apt_lists([str(p) for p in debs])
    tmp = Path(tempfile.mkdtemp(prefix="deb-", dir=ctx.work))
    versions: dict[str, str] = {}
    outputs: list[Output] = []
    try:
        for package, files in debs.items():
            pkgdir = tmp / str(package)
            pkgdir.mkdir()
            run(["apt-get", "download", "-qq", str(package)], cwd=pkgdir, env=apt_env())
            deb = next(pkgdir.glob("*.deb"))
            debver = deb_field(deb, "Version")
            versions[str(package)] = debver
            run(["dpkg-deb", "-x", str(deb), str(pkgdir / "root")])
            for name, path in (files or {}).items():
                src = pkgdir / "root" / str(path).lstrip("/")
                if src.is_symlink() or not src.is_file():
                    raise BuildError(
                        f"Debian's {package} {debver} has no regular file {path} (for {name}); "
                        f"see `dpkg-deb -c {deb.name}` and fix airgap_artifacts.{ctx.component}"
                    )
                shutil.copy2(src, dest / str(name))
                outputs.append(Output(str(name), "binary", str(name), f"debian:{package}={debver}"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return versions, outputs


def build_from_debian(ctx: BuildContext, conf: dict, dest: Path) -> tuple[str, list[Output]]:
    """Binaries extracted from Debian's own build of a component (profile test)."""
    package = str(conf["package"])
    versions, outputs = extract_debs(ctx, {package: conf.get("files") or {}}, dest)
    return debian_upstream_version(versions[package]), outputs


def build_debian(ctx: BuildContext, recipe: dict, dest: Path) -> list[Output]:
    """`method: debian`: a table version made of Debian's packaged builds.

    ``debs`` maps each package to the files taken from it; the upstream
    version of ``version_package`` must be the table's version, so the bundle
    never calls Debian's build something it is not.
    """
    debs = recipe.get("debs") or {}
    main = str(recipe.get("version_package") or "")
    if main not in debs:
        raise BuildError(
            f"airgap_artifacts.{ctx.component}.versions.{ctx.version}.build: version_package must be one of debs"
        )
    started = time.monotonic()
    versions, outputs = extract_debs(ctx, debs, dest)
    upstream = debian_upstream_version(versions[main])
    if upstream != ctx.version:
        raise BuildError(
            f"Debian's {main} is {versions[main]} (upstream {upstream}), not {ctx.version}: "
            f"give airgap_artifacts.{ctx.component} a version {upstream} with this recipe"
        )
    ctx.timing("debian " + ", ".join(f"{p}={v}" for p, v in versions.items()), time.monotonic() - started, dest)
    return outputs


# --------------------------------------------------------------------------
# Driver


@dataclasses.dataclass
class BuildContext:
    table: dict
    component: str
    version: str
    arch: str
    cache: Path
    work: Path
    timings: list[tuple[str, str, float, int]]

    def timing(self, what: str, seconds: float, path: Path) -> None:
        size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        self.timings.append((self.component, what, seconds, size))
        log(f"{self.component}: {what}: {seconds:.1f} s, {size / 1e6:.1f} MB")


def ensure_build_deps(packages: Iterable[str], install: bool) -> None:
    """Debian packages a recipe compiles against (gcc, libseccomp-dev, ...)."""
    missing = []
    for name in packages:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if "install ok installed" not in proc.stdout:
            missing.append(name)
    if not missing:
        return
    if not install:
        raise BuildError(
            f"missing build dependencies: apt-get install {' '.join(missing)} (or pass --install-build-deps)"
        )
    log(f"installing build dependencies: {' '.join(missing)}")
    ensure_apt_lists(missing)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=apt_env())


def build_component(
    ctx: BuildContext, go: Go | None, profile: str, rebuild: bool, install_deps: bool = False
) -> tuple[str, Path, list[Output], bool]:
    """Build (or take from the cache) one component; return (version, dir, outputs, from_cache)."""
    entry = ctx.table[ctx.component]
    arch = ctx.arch
    if ctx.component == OS_PACKAGES:
        recipe: dict = {"packages": entry}
        key_extra: dict = {"mirror": debian_mirror()}
    elif profile == "test" and entry.get("debian"):
        recipe = {"debian": entry["debian"]}
        key_extra = {}
    else:
        recipe = recipe_for(ctx.table, ctx.component, ctx.version)
        if recipe.get("method") == "none":
            raise BuildError(
                f"{ctx.component} {ctx.version} cannot be built from source here: "
                + " ".join(str(recipe.get("reason", "")).split())
            )
        if recipe.get("method") == "debian":
            key_extra = {"mirror": debian_mirror()}
        else:
            key_extra = {"go": go.version if go else ""}
    key = cache_key(ctx.component, ctx.version or "debian", arch, recipe, key_extra)
    entry_dir = ctx.cache / "artifacts" / ctx.component / (ctx.version or "debian") / arch / key
    meta_path = entry_dir / "meta.json"
    if meta_path.exists() and not rebuild:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return meta["version"], entry_dir, [Output(**o) for o in meta["outputs"]], True
    shutil.rmtree(entry_dir, ignore_errors=True)
    tmp = entry_dir.with_name(key + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    version = ctx.version
    if ctx.component == OS_PACKAGES:
        outputs = build_os_packages(ctx, tmp)
    elif "debian" in recipe:
        version, outputs = build_from_debian(ctx, recipe["debian"], tmp)
    elif recipe.get("method") == "debian":
        outputs = build_debian(ctx, recipe, tmp)
    else:
        assert go is not None
        ensure_build_deps([str(p) for p in recipe.get("apt_build_deps") or []], install_deps)
        values = {
            **version_values(ctx.version),
            "arch": arch,
            "commit": str(((entry.get("versions") or {}).get(ctx.version) or {}).get("commit") or ""),
        }
        method = recipe.get("method")
        if method == "go":
            outputs = build_go(go, ctx, recipe, values, tmp)
        elif method == "c":
            outputs = build_c(go, ctx, recipe, values, tmp)
        else:
            raise BuildError(f"airgap_artifacts.{ctx.component}.build.method {method!r} is unknown")
        outputs += build_images(ctx, recipe, values, tmp, outputs)
    meta = {"version": version, "outputs": [dataclasses.asdict(o) for o in outputs]}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, entry_dir)
    return version, entry_dir, outputs, False


def place(src: Path, dst: Path) -> None:
    """Hard-link from the cache when possible (same file system), else copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and os.path.samefile(src, dst):
        return  # rename() onto a hard link of itself would do nothing
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def bundle_path(component: str, version: str, arch: str, out: Output) -> str:
    if out.kind == "image":
        assert out.image is not None
        return bundle.image_path(arch, out.name, bundle.image_tag(out.image))
    if out.kind == "os-package":
        return f"{bundle.os_package_dir(version, arch)}/{out.file}"
    return bundle.artifact_path(component, version, arch, out.name)


def existing_manifest(out_dir: Path) -> list:
    if not (out_dir / bundle.MANIFEST_NAME).exists():
        return []
    try:
        manifest = bundle.load_manifest(out_dir)
    except bundle.BundleError as exc:
        log(f"ignoring the old manifest: {exc}")
        return []
    return list(manifest.artifacts) if manifest.builder == "from-source" else []


def remove_stale_files(out_dir: Path, previous: list, current: list) -> None:
    """Delete what the previous manifest listed and the new one does not."""
    keep = {a.path for a in current}
    for art in previous:
        if art.path in keep:
            continue
        path = out_dir / art.path
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != out_dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def shipped(table: dict, component: str, out: Output) -> bool:
    """Only files the table lists go into the bundle (not e.g. the binary inside an image)."""
    if out.kind == "os-package":
        return True
    return any(f["name"] == out.name and f["kind"] == out.kind for f in table[component].get("files") or [])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "files/bundle", help="bundle directory (default: %(default)s)"
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(xdg) / "airgap-k8s/build", help="build cache (default: %(default)s)"
    )
    parser.add_argument("--only", default="", help="comma-separated components to (re)build; others stay as they are")
    parser.add_argument("--skip", default="", help="comma-separated components to leave out")
    parser.add_argument("--kube-version", default="", help="Kubernetes version (default: the table's default)")
    parser.add_argument(
        "--version",
        action="append",
        default=[],
        metavar="COMPONENT=VERSION",
        help="another component's version (repeatable)",
    )
    parser.add_argument("--arch", default=host_arch(), choices=["amd64", "arm64"])
    parser.add_argument(
        "--profile",
        default="full",
        choices=PROFILES,
        help="test: take Debian's packaged builds where they work with the default Kubernetes",
    )
    parser.add_argument(
        "--test-versions",
        action="store_true",
        help="also build each component's test_versions (the older versions the upgrade tests start from)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="go build -p and GOMAXPROCS (default: %(default)s)")
    parser.add_argument("--rebuild", action="store_true", help="ignore cached artifacts of the selected components")
    parser.add_argument(
        "--install-build-deps", action="store_true", help="apt-get install missing compilers and -dev packages"
    )
    parser.add_argument("--table", type=Path, default=TABLE, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    table = bundle.load_table(args.table)
    only = [c for c in args.only.split(",") if c]
    skip = {c for c in args.skip.split(",") if c}
    for name in [*only, *skip]:
        if name not in table:
            log(f"unknown component {name!r}; the table has: {', '.join(sorted(table))}")
            return 2
    versions: dict[str, str] = {}
    for item in args.version:
        comp, _, ver = item.partition("=")
        if comp not in table or not ver:
            log(f"--version {item!r}: expected COMPONENT=VERSION with a component of the table")
            return 2
        versions[comp] = ver.lstrip("v")
    if args.kube_version:
        versions["kubernetes"] = args.kube_version.lstrip("v")
    selected = [c for c in ORDER if c in table and (not only or c in only) and c not in skip]
    selected += [c for c in table if c not in ORDER and (not only or c in only) and c not in skip]

    out_dir = args.out.resolve()
    cache = args.cache.resolve()
    work = cache / "work"
    for path in (out_dir, cache, work):
        path.mkdir(parents=True, exist_ok=True)
    previous = existing_manifest(out_dir)
    go: Go | None = None
    timings: list[tuple[str, str, float, int]] = []
    # Kept from an earlier run: other architectures, and with --only the
    # components not selected.
    artifacts = [a for a in previous if a.arch != args.arch or (only and a.component not in selected)]
    failed: list[tuple[str, str, str]] = []
    total = time.monotonic()
    for component in selected:
        version = ""
        try:
            if component == OS_PACKAGES:
                distros = list((table[OS_PACKAGES].get("distros") or {}).keys())
                version_list = distros
            else:
                version_list = versions_to_build(
                    table, component, versions.get(component, ""), args.profile, args.test_versions
                )
            for version in version_list:
                recipe_method = ""
                if component != OS_PACKAGES and not (args.profile == "test" and table[component].get("debian")):
                    recipe_method = str(recipe_for(table, component, version).get("method"))
                    if version not in (table[component].get("versions") or {}):
                        raise BuildError(f"{component} {version} is not in the versions table; add it first")
                if recipe_method in ("go", "c") and go is None:
                    go = Go(args.jobs)
                ctx = BuildContext(table, component, version, args.arch, cache, work, timings)
                started = time.monotonic()
                built_version, entry_dir, outputs, cached = build_component(
                    ctx, go, args.profile, args.rebuild, args.install_build_deps
                )
                for out in outputs:
                    if not shipped(table, component, out):
                        continue
                    rel = bundle_path(component, built_version, args.arch, out)
                    place(entry_dir / out.file, out_dir / rel)
                    kind = out.kind
                    artifacts.append(
                        bundle.Artifact(
                            component=component,
                            name=out.name,
                            version=built_version,
                            arch=args.arch,
                            kind=kind,
                            path=rel,
                            sha256=bundle.sha256_file(out_dir / rel),
                            source=out.source,
                            image=out.image,
                        )
                    )
                how = "cached" if cached else "built"
                log(f"{component} {built_version} {args.arch}: {how} in {time.monotonic() - started:.1f} s")
        except BuildError as exc:
            log(f"{component}: NOT BUILT: {exc}")
            failed.append((component, version, str(exc).splitlines()[0]))
            # A failed rebuild keeps what the bundle had.
            have = {a.path for a in artifacts}
            artifacts += [
                a for a in previous if a.component == component and a.arch == args.arch and a.path not in have
            ]
    manifest = bundle.Manifest(builder="from-source", artifacts=artifacts)
    bundle.write_manifest(out_dir, manifest)
    remove_stale_files(out_dir, previous, artifacts)
    log(f"wrote {out_dir / bundle.MANIFEST_NAME}: {len(artifacts)} artifacts in {time.monotonic() - total:.1f} s")
    if timings:
        log("build times:")
        for component, what, seconds, size in timings:
            log(f"  {component:20} {what:50} {seconds:8.1f} s {size / 1e6:8.1f} MB")
    if failed:
        log("not built:")
        for component, _version, why in failed:
            log(f"  {component}: {why}")
    hard = [c for c, v, _ in failed if not _unbuildable(table, c, v)]
    return 1 if hard else 0


def _unbuildable(table: dict, component: str, version: str = "") -> bool:
    """Versions the table itself marks as not buildable here (calico, docker 29.9.3)."""
    try:
        recipe = recipe_for(table, component, version) if version else table.get(component, {}).get("build") or {}
    except BuildError:
        return False
    return recipe.get("method") == "none"


if __name__ == "__main__":
    sys.exit(main())
