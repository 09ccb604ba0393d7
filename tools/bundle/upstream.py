#!/usr/bin/env python3
# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Build an airgap.k8s bundle from the official upstream release artifacts.

Runs on a CONNECTED machine (or one that reaches a mirror). From an
inventory's choices it computes exactly the files the install needs
(plugins/module_utils/_bundle.py: required_artifacts), downloads each one
from the URL in the versions table, refuses anything whose sha256 (or image
digest) is not pinned in the table or does not match it, unpacks archives
into the bundle layout, copies images with skopeo, downloads the host
packages with apt, writes manifest.json (builder "upstream") and packs
airgap-k8s-bundle-<kube_version>-<arches>.tar.gz.

See docs/bundle.md for the usage and the offline transfer.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TABLE = REPO / "roles" / "cluster_defaults" / "defaults" / "main" / "artifacts.yml"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "airgap-k8s" / "upstream"
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# Debian's archive as served by deb.debian.org; {base} is https://deb.debian.org
# or MIRROR/deb.debian.org.
DEBIAN_SOURCES = (
    "{base}/debian {release} main",
    "{base}/debian {release}-updates main",
    "{base}/debian-security {release}-security main",
)
USER_AGENT = "airgap.k8s-upstream-bundler/1"
CHUNK = 1024 * 1024


def _load_bundle_lib() -> ModuleType:
    """plugins/module_utils/_bundle.py, imported by path: the tool needs no Ansible."""
    path = REPO / "plugins" / "module_utils" / "_bundle.py"
    spec = importlib.util.spec_from_file_location("airgap_k8s_bundle", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


B = _load_bundle_lib()


class BundlerError(Exception):
    """A failure the user can act on; the message says what to do."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Choices


def read_group_vars(inventory: Path) -> dict[str, Any]:
    """Literal values of an inventory's group_vars/all(.yml|/*.yml); templated values are skipped."""
    import yaml  # noqa: PLC0415 - only needed with --inventory

    candidates = [inventory / "group_vars" / "all.yml", inventory / "group_vars" / "all.yaml"]
    all_dir = inventory / "group_vars" / "all"
    if all_dir.is_dir():
        candidates += sorted(all_dir.glob("*.yml")) + sorted(all_dir.glob("*.yaml"))
    found = [p for p in candidates if p.is_file()]
    if not found:
        raise BundlerError(f"{inventory}: no group_vars/all.yml (give the inventory directory, or use the flags)")
    values: dict[str, Any] = {}
    for path in found:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise BundlerError(f"{path} is not a mapping")
        for key, value in data.items():
            if isinstance(value, str) and "{{" in value:
                log(f"note: {path.name}: {key} is a template; using the table default or a flag instead")
                continue
            values[key] = value
    return values


def build_choices(args: argparse.Namespace, table: dict) -> tuple[dict[str, Any], list[str]]:
    """The choices and arches, from the inventory (if any) overridden by flags."""
    choices: dict[str, Any] = read_group_vars(Path(args.inventory)) if args.inventory else {}
    if args.kube_version:
        choices["kube_version"] = args.kube_version
    if args.container_runtime:
        choices["container_runtime"] = args.container_runtime
    if args.network_plugin:
        choices["kube_network_plugin"] = args.network_plugin
    if args.kube_proxy_mode:
        choices["kube_proxy_mode"] = args.kube_proxy_mode
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise BundlerError(f"--version {item!r}: use COMPONENT=VERSION, e.g. --version etcd=3.6.16")
        choices[B.version_var(key) if not key.endswith("_version") else key] = value
    if args.extra:
        choices["extra_components"] = list(dict.fromkeys([*choices.get("extra_components", []), *args.extra]))
    # Hosts' OS and architecture are facts, not inventory variables: flags,
    # defaulting to every OS the table knows and amd64.
    choices["os"] = list(args.os or sorted((table.get(B.OS_PACKAGES) or {}).get("distros") or {}))
    return choices, sorted(set(args.arch or ["amd64"]))


# --------------------------------------------------------------------------
# The plan: what to fetch from where


@dataclass
class FileJob:
    """One bundle file taken from an upstream download (directly or from an archive)."""

    req: Any  # _bundle.Required
    member: str | None


@dataclass
class Download:
    component: str
    version: str
    arch: str
    url: str
    sha256: str | None
    pin_key: str
    files: list[FileJob] = field(default_factory=list)

    @property
    def basename(self) -> str:
        return urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1]


@dataclass
class ImageJob:
    req: Any
    digest: str | None
    pin_key: str


@dataclass
class Plan:
    downloads: list[Download]
    images: list[ImageJob]
    os_packages: dict[tuple[str, str], list[str]]  # (distro, arch) -> package names
    unpinned: list[str]


def _pin(table: dict, component: str, version: str, arch: str, key: str) -> str | None:
    per_version = (table[component].get("versions") or {}).get(version) or {}
    value = (per_version.get(arch) or {}).get(key)
    return str(value).strip() if value else None


def make_plan(table: dict, required: list) -> Plan:
    downloads: dict[str, Download] = {}
    images: list[ImageJob] = []
    os_packages: dict[tuple[str, str], list[str]] = {}
    unpinned: list[str] = []
    for req in required:
        if req.kind == "os-package":
            os_packages.setdefault((req.version, req.arch), []).append(req.name)
            continue
        entry = table[req.component]
        per_version = (entry.get("versions") or {}).get(req.version)
        where = f"airgap_artifacts['{req.component}'].versions['{req.version}'].{req.arch}"
        if per_version is None:
            unpinned.append(f"{req.component} {req.version}: the table has no versions['{req.version}'] entry")
            per_version = {}
        if req.kind == "image":
            digest = _pin(table, req.component, req.version, req.arch, req.name)
            if digest and not digest.startswith("sha256:"):
                digest = "sha256:" + digest
            if not digest:
                unpinned.append(f"{req.image} ({req.arch}): no image digest at {where}['{req.name}']")
            images.append(ImageJob(req, digest, f"{where}['{req.name}']"))
            continue
        url_template = per_version.get("url") or entry.get("url")
        if not url_template:
            raise BundlerError(f"airgap_artifacts['{req.component}'] has no url: it cannot be downloaded")
        members = per_version.get("archive_members") or entry.get("archive_members") or {}
        values = B.template_values(entry, req.version, req.arch, req.name)
        url = B.render(str(url_template), values)
        member = B.render(str(members[req.name]), values) if req.name in members else None
        download = downloads.get(url)
        if download is None:
            basename = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
            sha = _pin(table, req.component, req.version, req.arch, basename)
            download = Download(req.component, req.version, req.arch, url, sha, f"{where}['{basename}']")
            downloads[url] = download
            if not sha:
                unpinned.append(f"{basename} ({url}): no sha256 at {download.pin_key}")
        download.files.append(FileJob(req, member))
    return Plan(list(downloads.values()), images, os_packages, unpinned)


# --------------------------------------------------------------------------
# Downloads


def mirror_url(url: str, mirror: str | None) -> str:
    """https://HOST/PATH -> MIRROR/HOST/PATH (a mirror laid out like the upstream sites)."""
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


def cache_path(cache_dir: Path, url: str) -> Path:
    parts = urllib.parse.urlsplit(url)
    return cache_dir / parts.netloc / parts.path.lstrip("/")


def fetch(url: str, dest: Path, expected: str | None, label: str, *, timeout: float, retries: int = 2) -> str:
    """Stream ``url`` to ``dest`` (via dest.part) and return its sha256.

    A checksum mismatch deletes the partial file and fails; so does any
    interruption. Network errors are retried ``retries`` times.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        attempt += 1
        digest = hashlib.sha256()
        done = False
        try:
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            done = True
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            if attempt <= retries and not (isinstance(exc, urllib.error.HTTPError) and exc.code < 500):
                log(f"  retry {attempt}/{retries} after: {exc}")
                time.sleep(min(2**attempt, 10))
                continue
            raise BundlerError(f"{label}: download of {url} failed: {exc}") from None
        finally:
            if not done:
                part.unlink(missing_ok=True)
        got = digest.hexdigest()
        if expected and got != expected:
            part.unlink(missing_ok=True)
            raise BundlerError(
                f"{label}: checksum mismatch for {url}: got sha256 {got}, the versions table pins {expected}. "
                "The download was deleted. If the mirror is right and the table is wrong, fix the table; "
                "otherwise the file was tampered with or truncated: do not use it."
            )
        os.replace(part, dest)
        return got


def extract_member(archive: Path, member: str, dest: Path, label: str) -> None:
    """Copy one regular file out of a tar archive (never a path from the archive itself)."""
    wanted = os.path.normpath(member)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                if os.path.normpath(info.name) != wanted:
                    continue
                if not info.isfile():
                    raise BundlerError(f"{label}: {member} in {archive.name} is not a regular file")
                source = tar.extractfile(info)
                assert source is not None
                part = dest.with_name(dest.name + ".part")
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with source, open(part, "wb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
                    os.chmod(part, 0o755)
                    os.replace(part, dest)
                finally:
                    part.unlink(missing_ok=True)
                return
    except (tarfile.TarError, OSError) as exc:
        raise BundlerError(f"{label}: cannot read {archive}: {exc}") from None
    raise BundlerError(
        f"{label}: {archive.name} has no member {member}: fix archive_members for this component in the versions table"
    )


# --------------------------------------------------------------------------
# Images


def _run(cmd: list[str], label: str, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, check=False, text=True, capture_output=True, timeout=3600, cwd=cwd)
    except FileNotFoundError:
        raise BundlerError(f"{label}: {cmd[0]} is not installed (apt-get install {cmd[0]})") from None
    except subprocess.TimeoutExpired:
        raise BundlerError(f"{label}: {' '.join(cmd[:3])} ... timed out") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
        raise BundlerError(f"{label}: {' '.join(cmd)} failed (exit {proc.returncode}): {' | '.join(detail)}")
    return proc.stdout or ""


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_ref(ref: str) -> tuple[str, str]:
    """registry.k8s.io/pause:3.10 -> (registry.k8s.io/pause, 3.10)."""
    name, _, tag = ref.rpartition(":")
    if "/" in tag or not name:
        return ref, "latest"
    return name, tag


@dataclass
class ImageCopier:
    registry_mirror: str | None
    insecure: bool
    workdir: Path

    def _policy(self) -> Path:
        # Integrity comes from the pinned digest, checked below; registries
        # publish no signatures skopeo could check here.
        path = self.workdir / "policy.json"
        if not path.exists():
            path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        return path

    def source(self, ref: str) -> str:
        repo, _ = split_ref(ref)
        return f"{self.registry_mirror.rstrip('/')}/{repo}" if self.registry_mirror else repo

    def copy(self, job: ImageJob, dest: Path) -> str:
        """Copy one platform image to a docker-archive; return the source reference used."""
        req = job.req
        ref = req.image
        repo = self.source(ref)
        _, tag = split_ref(ref)
        src = f"docker://{repo}@{job.digest}" if job.digest else f"docker://{repo}:{tag}"
        tls = ["--src-tls-verify=false"] if self.insecure else []
        base = ["skopeo", "--policy", str(self._policy()), "--override-os", "linux", "--override-arch", req.arch]
        label = f"{ref} ({req.arch})"
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            staged = Path(tmp) / "image"
            _run([*base, "copy", "--quiet", *tls, src, f"dir:{staged}"], label)
            if job.digest:
                self._check_digest(base, tls, src, staged, job=job, label=label)
            part = dest.with_name(dest.name + ".part")
            dest.parent.mkdir(parents=True, exist_ok=True)
            part.unlink(missing_ok=True)
            try:
                _run([*base, "copy", "--quiet", f"dir:{staged}", f"docker-archive:{part}:{ref}"], label)
                os.replace(part, dest)
            finally:
                part.unlink(missing_ok=True)
        return src

    @staticmethod
    def _check_digest(base: list[str], tls: list[str], src: str, staged: Path, *, job: ImageJob, label: str) -> None:
        """The staged manifest must be the pinned one, or the pinned list's entry for this platform."""
        platform = "sha256:" + hashlib.sha256((staged / "manifest.json").read_bytes()).hexdigest()
        if platform == job.digest:
            return
        raw = _run([*base, "inspect", "--raw", *tls, src], label)
        if "sha256:" + hashlib.sha256(raw.encode()).hexdigest() != job.digest:
            raise BundlerError(f"{label}: the registry's manifest does not match the pinned digest {job.digest}")
        try:
            entries = json.loads(raw).get("manifests") or []
        except ValueError:
            entries = []
        wanted = [
            m.get("digest")
            for m in entries
            if (m.get("platform") or {}).get("architecture") == job.req.arch
            and (m.get("platform") or {}).get("os") == "linux"
        ]
        if platform not in wanted:
            raise BundlerError(
                f"{label}: the copied image {platform} is not the {job.req.arch} entry of the pinned list {job.digest}"
            )


# --------------------------------------------------------------------------
# Host packages (apt, in a private apt root: the controller's apt is untouched)


@dataclass
class AptFetcher:
    mirror: str | None
    trusted: bool
    keyring: Path
    workdir: Path
    timeout: float

    def _root(self, distro: str, release: str, arch: str, table_os: dict) -> tuple[Path, list[str]]:
        root = self.workdir / f"apt-{distro}-{arch}"
        for sub in ("lists/partial", "archives/partial", "etc/sources.list.d", "etc/preferences.d", "trusted.d"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "status").touch()
        sources = (table_os.get("distros") or {}).get(distro, {}).get("apt_sources")
        if not sources:
            if not distro.startswith("debian-"):
                raise BundlerError(
                    f"{distro}: no apt sources known; add airgap_artifacts['os-packages'].distros['{distro}']"
                    ".apt_sources (lines like '{base}/ubuntu noble main')"
                )
            sources = DEBIAN_SOURCES
        base = mirror_url("https://deb.debian.org", self.mirror) if self.mirror else "https://deb.debian.org"
        option = "[trusted=yes]" if self.trusted else f"[signed-by={self.keyring}]"
        if not self.trusted and not self.keyring.is_file():
            raise BundlerError(
                f"{self.keyring} not found: install debian-archive-keyring or pass --apt-keyring (the Debian "
                "archive signature is what makes these packages trustworthy)"
            )
        lines = [f"deb {option} {B.render(s, {'base': base, 'release': release})}" for s in sources]
        (root / "etc" / "sources.list").write_text("\n".join(lines) + "\n")
        opts = [
            f"Dir::State={root}",
            f"Dir::State::lists={root}/lists",
            f"Dir::State::status={root}/status",
            f"Dir::Cache={root}",
            f"Dir::Cache::archives={root}/archives",
            f"Dir::Etc::SourceList={root}/etc/sources.list",
            f"Dir::Etc::SourceParts={root}/etc/sources.list.d",
            f"Dir::Etc::Preferences={root}/etc/preferences",
            f"Dir::Etc::PreferencesParts={root}/etc/preferences.d",
            f"Dir::Etc::TrustedParts={root}/trusted.d",
            f"APT::Architecture={arch}",
            f"APT::Architectures={arch}",
            "APT::Install-Recommends=false",
            "APT::Sandbox::User=root",
            "Acquire::Languages=none",
            f"Acquire::http::Timeout={int(self.timeout)}",
            "Debug::NoLocking=true",
        ]
        return root, [arg for opt in opts for arg in ("-o", opt)]

    def fetch(
        self, distro: str, arch: str, names: list[str], table_os: dict, out_dir: Path
    ) -> list[tuple[str, str, Path]]:
        """Download ``names`` and every dependency a minbase system lacks; return (package, version, file)."""
        release = ((table_os.get("distros") or {}).get(distro) or {}).get("release")
        if not release:
            raise BundlerError(f"airgap_artifacts['os-packages'].distros['{distro}'] has no release (e.g. bookworm)")
        label = f"host packages {distro} {arch}"
        root, opts = self._root(distro, release, arch, table_os)
        _run(["apt-get", *opts, "-q", "update"], label)
        # A minbase system already has every Priority: required package (and
        # Essential ones); mark those installed so apt resolves only what is missing.
        available = _run(["apt-cache", *opts, "dumpavail"], label)
        (root / "status").write_text(_minbase_status(available))
        archives = root / "archives"
        for old in archives.glob("*.deb"):
            old.unlink()
        _run(["apt-get", *opts, "-q", "-y", "--download-only", "install", *names], label)
        debs = sorted(archives.glob("*.deb"))
        have = {_deb_fields(p)[0] for p in debs}
        missing = [n for n in names if n not in have]
        if missing:  # named packages minbase already has: ship them anyway
            workdir = root / "named"
            workdir.mkdir(exist_ok=True)
            _run(["apt-get", *opts, "-q", "download", *missing], label, cwd=workdir)
            debs += sorted(workdir.glob("*.deb"))
        out_dir.mkdir(parents=True, exist_ok=True)
        result = []
        for deb in debs:
            package, version = _deb_fields(deb)
            target = out_dir / deb.name.replace("%3a", "%3A")
            shutil.copy2(deb, target)
            result.append((package, version, target))
        return result


def _minbase_status(dumpavail: str) -> str:
    stanzas = []
    for stanza in dumpavail.split("\n\n"):
        fields = dict(_stanza_fields(stanza))
        if fields.get("Priority") == "required" or fields.get("Essential") == "yes":
            keep = [f"{k}: {v}" for k, v in _stanza_fields(stanza) if k not in ("Status",)]
            stanzas.append("\n".join(["Status: install ok installed", *keep]))
    return "\n\n".join(stanzas) + "\n"


def _stanza_fields(stanza: str) -> Iterator[tuple[str, str]]:
    key = None
    value: list[str] = []
    for line in stanza.splitlines():
        if line[:1] in (" ", "\t") and key:
            value.append(line)
            continue
        if key:
            yield key, "\n".join(value)
        key, _, first = line.partition(":")
        value = [first.strip()]
    if key:
        yield key, "\n".join(value)


def _deb_fields(path: Path) -> tuple[str, str]:
    """package and version from a Debian file name (name_version_arch.deb)."""
    parts = path.name[: -len(".deb")].split("_")
    if len(parts) != 3:
        raise BundlerError(f"unexpected package file name {path.name}")
    return parts[0], urllib.parse.unquote(parts[1])


# --------------------------------------------------------------------------
# The bundle


def tarball_name(kube_version: str, arches: list[str]) -> str:
    return f"airgap-k8s-bundle-{kube_version}-{'-'.join(sorted(arches))}.tar.gz"


def pack(bundle_dir: Path, dest: Path) -> str:
    """Tar the bundle (manifest.json first, sorted, root-owned) and write DEST.sha256."""
    part = dest.with_name(dest.name + ".part")

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    names = sorted(
        str(p.relative_to(bundle_dir))
        for p in bundle_dir.rglob("*")
        if p.is_file() and p.name != B.CACHE_NAME and not p.name.endswith(".part")
    )
    names.remove(B.MANIFEST_NAME)
    try:
        with tarfile.open(part, "w:gz", compresslevel=6) as tar:
            for name in [B.MANIFEST_NAME, *names]:
                tar.add(bundle_dir / name, arcname=name, recursive=False, filter=clean)
        digest = B.sha256_file(part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {dest.name}\n")
    return digest


@contextlib.contextmanager
def workspace(base: Path) -> Iterator[Path]:
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="work-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def build(args: argparse.Namespace) -> Path:
    table = B.load_table(args.table)
    choices, arches = build_choices(args, table)
    required = B.required_artifacts(table, choices, arches)
    only = {c.strip() for item in args.only or [] for c in item.split(",") if c.strip()}
    if only:
        unknown = only - {r.component for r in required}
        if unknown:
            raise BundlerError(f"--only {', '.join(sorted(unknown))}: not a component this inventory needs")
    todo = [r for r in required if not only or r.component in only]
    plan = make_plan(table, todo)
    if plan.unpinned and not args.allow_unpinned:
        raise BundlerError(
            "refusing to download files whose checksum the versions table does not pin "
            f"({args.table}):\n  - "
            + "\n  - ".join(plan.unpinned)
            + "\nAdd the published sha256 (images: the platform manifest digest) to the table, "
            "or pass --allow-unpinned to trust whatever the server sends (not recommended)."
        )
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    old = B.load_manifest(out) if (out / B.MANIFEST_NAME).exists() else None
    if old is None and any(out.iterdir()):
        raise BundlerError(f"{out} is not empty and holds no manifest.json: give --out an empty or new directory")
    if only and old is None:
        raise BundlerError(f"--only needs an existing bundle in {out} (run once without --only first)")
    keep = [a for a in (old.artifacts if old and only else []) if a.component not in only]
    artifacts: list[Any] = []
    cache_dir = Path(args.cache_dir).resolve()

    with workspace(cache_dir) as work:
        for download in plan.downloads:
            label = f"{download.component} {download.version} {download.arch}"
            cached = cache_path(cache_dir, download.url)
            source_url = mirror_url(download.url, args.mirror)
            if download.sha256 and cached.is_file() and B.sha256_file(cached) == download.sha256:
                log(f"cached   {download.basename}")
            else:
                log(f"download {source_url}")
                fetch(source_url, cached, download.sha256, f"{label}: {download.basename}", timeout=args.timeout)
            for job in download.files:
                dest = out / job.req.path
                if job.member is None:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(cached, dest)
                    os.chmod(dest, 0o755 if job.req.kind == "binary" else 0o644)
                else:
                    extract_member(cached, job.member, dest, label)
                source = download.url + (f"#{job.member}" if job.member else "")
                artifacts.append(_artifact(job.req, out, source))
        copier = ImageCopier(args.registry_mirror, _insecure(args), work)
        for image in plan.images:
            log(f"image    {image.req.image} ({image.req.arch})")
            copier.copy(image, out / image.req.path)
            source = f"docker://{image.req.image}" + (f"@{image.digest}" if image.digest else "")
            artifacts.append(_artifact(image.req, out, source))
        if plan.os_packages:
            apt = AptFetcher(args.mirror, args.apt_trusted, Path(args.apt_keyring), work, args.timeout)
            for (distro, arch), names in sorted(plan.os_packages.items()):
                log(f"packages {distro} {arch}: {' '.join(names)} (+ dependencies)")
                pkg_dir = out / B.os_package_dir(distro, arch)
                if pkg_dir.exists():
                    shutil.rmtree(pkg_dir)
                for package, version, path in apt.fetch(distro, arch, names, table[B.OS_PACKAGES], pkg_dir):
                    rel = str(path.relative_to(out))
                    artifacts.append(
                        B.Artifact(
                            B.OS_PACKAGES,
                            package,
                            distro,
                            arch,
                            "os-package",
                            rel,
                            B.sha256_file(path),
                            f"debian:{package}={version}",
                        )
                    )

    manifest = B.Manifest(builder="upstream", artifacts=keep + artifacts)
    B.write_manifest(out, manifest)
    _remove_strays(out, manifest)
    result = B.verify_bundle(out, required, checksum="full", write_cache=False)
    if not result.ok:
        raise BundlerError(B.format_problems(str(out), result))
    log(f"bundle   {out}: {len(manifest.artifacts)} files, verified")
    if args.no_tarball:
        return out
    tar_dir = Path(args.tarball_dir).resolve() if args.tarball_dir else out.parent
    tar_dir.mkdir(parents=True, exist_ok=True)
    kube_version = next(r.version for r in required if r.component == "kubernetes")
    tarball = tar_dir / tarball_name(kube_version, arches)
    digest = pack(out, tarball)
    log(f"tarball  {tarball} (sha256 {digest})")
    return tarball


def _artifact(req: Any, out: Path, source: str) -> Any:
    return B.Artifact(
        req.component,
        req.name,
        req.version,
        req.arch,
        req.kind,
        req.path,
        B.sha256_file(out / req.path),
        source,
        req.image,
    )


def _remove_strays(out: Path, manifest: Any) -> None:
    """Files from an earlier run that the manifest no longer lists would only confuse a reader."""
    listed = {a.path for a in manifest.artifacts} | {B.MANIFEST_NAME, B.CACHE_NAME}
    roots = {a.path.split("/", 1)[0] for a in manifest.artifacts}
    for path in sorted(out.rglob("*"), reverse=True):
        if path.relative_to(out).parts[0] not in roots:
            continue
        rel = str(path.relative_to(out))
        if path.is_file() and rel not in listed:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _insecure(args: argparse.Namespace) -> bool:
    return bool(args.registry_insecure or (args.registry_mirror and _is_loopback(args.registry_mirror.split("/")[0])))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build an airgap.k8s bundle from upstream release artifacts (on a connected machine).",
        epilog="Example: tools/bundle/upstream.py --inventory inventory/prod --arch amd64 --out files/bundle",
    )
    parser.add_argument("--table", default=str(DEFAULT_TABLE), help="versions table (default: the collection's)")
    parser.add_argument("--inventory", help="inventory directory: choices are read from its group_vars/all.yml")
    parser.add_argument("--kube-version", help="Kubernetes version X.Y.Z (default: inventory, then table)")
    parser.add_argument("--container-runtime", choices=B.RUNTIMES)
    parser.add_argument("--network-plugin", choices=B.NETWORK_PLUGINS, help="kube_network_plugin")
    parser.add_argument("--kube-proxy-mode", help="kube_proxy_mode (ipvs adds ipvsadm)")
    parser.add_argument(
        "--version", "--set", dest="set", action="append", metavar="COMPONENT=VERSION", help="a version, repeatable"
    )
    parser.add_argument("--arch", action="append", choices=B.ARCHES, help="architecture present, repeatable")
    parser.add_argument("--os", action="append", help="OS present as distro-release (debian-12), repeatable")
    parser.add_argument("--extra", action="append", metavar="COMPONENT", help="also bundle COMPONENT (agnhost)")
    parser.add_argument("--only", action="append", metavar="C1,C2", help="refresh only these components in --out")
    parser.add_argument("--out", "--output", dest="output", default=str(REPO / "files" / "bundle"), help="bundle dir")
    parser.add_argument("--tarball-dir", help="where the tarball goes (default: the parent of --out)")
    parser.add_argument("--no-tarball", action="store_true", help="leave the bundle unpacked only")
    parser.add_argument(
        "--cache", "--cache-dir", dest="cache_dir", default=str(DEFAULT_CACHE), help="download cache (verified files)"
    )
    parser.add_argument("--mirror", metavar="BASE", help="fetch https://HOST/PATH from BASE/HOST/PATH instead")
    parser.add_argument(
        "--registry-mirror", metavar="HOST:PORT", help="pull REGISTRY/REPO from HOST:PORT/REGISTRY/REPO"
    )
    parser.add_argument("--registry-insecure", action="store_true", help="no TLS check on the registry mirror")
    parser.add_argument("--apt-keyring", default=str(DEBIAN_KEYRING), help="keyring that signs the Debian archive")
    parser.add_argument("--apt-trusted", action="store_true", help="accept an unsigned apt mirror (tests only)")
    parser.add_argument("--allow-unpinned", action="store_true", help="download files the table pins no checksum for")
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        build(args)
    except (BundlerError, B.BundleError) as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
