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

`upstream.py pin [--write]` fills the table's null checksums from the
checksum files the projects publish next to their releases (and image
digests from the registries), the way kubespray's checksum updater does.

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


# --------------------------------------------------------------------------
# `pin`: fill the table's null checksums from the projects' published ones
#
# Like kubespray's checksum updater (scripts/component_hash_update), this
# trusts the checksum file each project publishes next to its release
# (fetched over TLS, or through --mirror), and the registry's manifest for
# images. It only ever fills `null` slots; an existing pin that disagrees with
# the published value is an error and nothing is written.

PIN_ARCHES = B.ARCHES
MAX_CHECKSUM_FILE = 1024 * 1024
YAML_NULLS = ("", "~", "null", "Null", "NULL")
YAMLLINT_LINE_LENGTH = 160


class NotPublishedError(Exception):
    """No published checksum for this file (HTTP 404, or the checksum file does not list it)."""


@dataclass
class Slot:
    """One checksum slot of the table: versions[version][arch][key]."""

    component: str
    version: str
    arch: str
    key: str
    current: str | None
    kind: str  # "download" or "image"
    url: str | None = None  # the upstream download (kind download)
    checksum_url: str | None = None  # where the project publishes its sha256 (None: it publishes none)
    image: str | None = None  # the image reference (kind image)
    problem: str | None = None  # why this slot cannot be resolved at all

    @property
    def path(self) -> tuple[str, str, str, str]:
        return (self.component, self.version, self.arch, self.key)

    def label(self) -> str:
        return f"{self.component} {self.version} {self.arch} {self.key}"


@dataclass
class PinResult:
    slot: Slot
    status: str  # new | same | kept | missing | conflict | error
    value: str | None = None
    source: str = ""
    detail: str = ""


def _version_urls(per_version: dict, entry: dict) -> tuple[str | None, str | None]:
    """(url template, checksum_url template) of one version.

    A version that overrides `url` downloads from elsewhere, so the
    component's `checksum_url` does not apply to it unless the version names
    its own.
    """
    url = per_version.get("url") or entry.get("url")
    if "url" in per_version or "checksum_url" in per_version:
        checksum_url = per_version.get("checksum_url")
    else:
        checksum_url = entry.get("checksum_url")
    return (str(url) if url else None), (str(checksum_url) if checksum_url else None)


def table_slots(table: dict) -> list[Slot]:
    """Every checksum slot of the table, in table order, with where its published checksum is."""
    slots: list[Slot] = []
    for component, entry in table.items():
        if component == B.OS_PACKAGES or not isinstance(entry, dict):
            continue
        files = entry.get("files") or []
        images = {f["name"]: f.get("image") for f in files if f.get("kind") == "image"}
        for raw_version, raw_per_version in (entry.get("versions") or {}).items():
            version = str(raw_version)
            per_version = raw_per_version or {}
            url_t, checksum_t = _version_urls(per_version, entry)
            for arch in PIN_ARCHES:
                pins = per_version.get(arch)
                if not isinstance(pins, dict):
                    continue
                downloads: dict[str, tuple[str, str]] = {}  # basename -> (url, file name)
                if url_t:
                    for f in files:
                        if f.get("kind") == "image":
                            continue
                        url = B.render(url_t, B.template_values(entry, version, arch, f["name"]))
                        downloads.setdefault(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1], (url, f["name"]))
                for raw_key, value in pins.items():
                    key = str(raw_key)
                    current = None if value is None else str(value).strip()
                    slot = Slot(component, version, arch, key, current, "download")
                    if key in images:
                        slot.kind = "image"
                        ref = images[key]
                        slot.image = B.render(str(ref), B.template_values(entry, version, arch, key)) if ref else None
                        if not slot.image:
                            slot.problem = f"airgap_artifacts['{component}'].files['{key}'] has no image reference"
                    elif key in downloads:
                        slot.url, name = downloads[key]
                        if checksum_t:
                            values = dict(B.template_values(entry, version, arch, name), url=slot.url, file=key)
                            slot.checksum_url = B.render(checksum_t, values)
                    else:
                        slot.problem = (
                            f"{key} is neither an image of {component} nor the file name of a download of "
                            f"{component} {version} {arch} (fix the key in the versions table)"
                        )
                    slots.append(slot)
    return slots


def select_slots(slots: list[Slot], components: list[str], versions: list[str], arches: list[str]) -> list[Slot]:
    """The slots the filters keep; a filter naming nothing in the table is an error."""
    known = {s.component for s in slots}
    unknown = [c for c in components if c not in known]
    if unknown:
        raise BundlerError(
            f"--component {', '.join(unknown)}: not in the versions table (known: {', '.join(sorted(known))})"
        )
    wanted: list[tuple[str | None, str]] = []
    for item in versions:
        component, sep, version = item.rpartition("=")
        wanted.append((component if sep else None, version.lstrip("v")))
    chosen = []
    for slot in slots:
        if components and slot.component not in components:
            continue
        if arches and slot.arch not in arches:
            continue
        if wanted and not any((c is None or c == slot.component) and v == slot.version for c, v in wanted):
            continue
        chosen.append(slot)
    for component, version in wanted:
        if not any(s.version == version and (component is None or s.component == component) for s in chosen):
            what = f"{component}={version}" if component else version
            raise BundlerError(f"--version {what}: no such version in the versions table (with the other filters)")
    return chosen


def fetch_text(url: str, *, timeout: float, retries: int = 2) -> str:
    """A small text file (a published checksum); NotPublishedError on HTTP 404/410."""
    attempt = 0
    while True:
        attempt += 1
        try:
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data = response.read(MAX_CHECKSUM_FILE + 1)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                raise NotPublishedError(f"{url} answers HTTP {exc.code}") from None
            if attempt <= retries and exc.code >= 500:
                time.sleep(min(2**attempt, 10))
                continue
            raise BundlerError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            if attempt <= retries:
                time.sleep(min(2**attempt, 10))
                continue
            raise BundlerError(f"{url}: {exc}") from None
        if len(data) > MAX_CHECKSUM_FILE:
            raise BundlerError(f"{url}: more than {MAX_CHECKSUM_FILE} bytes, not a checksum file")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BundlerError(f"{url}: not a text file, not a checksum file") from None


def published_sha256(text: str, filename: str, where: str) -> str:
    """The sha256 of ``filename`` in a published checksum file.

    Understands the formats the projects publish: a bare digest (dl.k8s.io's
    ``kubelet.sha256``, crictl's ``.tar.gz.sha256``), ``sha256sum`` output
    (``<hex>  <file>``, also with ``*<file>`` or a path: etcd's SHA256SUMS,
    containerd's ``.sha256sum``, runc's ``runc.sha256sum``, the CNI plugins'
    ``.tgz.sha256``) and BSD ``SHA256 (<file>) = <hex>``.
    """
    bare: list[str] = []
    named: dict[str, set[str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("SHA256 (") and ") = " in line:
            name, _, digest = line[len("SHA256 (") :].rpartition(") = ")
        else:
            digest, _, name = line.partition(" ")
        digest, name = digest.strip().lower(), name.strip().lstrip("*").strip()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise BundlerError(f"{where} line {number} is not a sha256 line: {raw[:100]!r}")
        if name:
            named.setdefault(name.rsplit("/", 1)[-1], set()).add(digest)
        else:
            bare.append(digest)
    if filename in named:
        values = named[filename]
        if len(values) > 1:
            raise BundlerError(f"{where} lists {filename} with {len(values)} different sha256 values")
        return next(iter(values))
    if len(bare) == 1 and not named:
        return bare[0]
    if not bare and not named:
        raise BundlerError(f"{where} is empty")
    if named:
        raise NotPublishedError(f"{where} does not list {filename} (it lists {', '.join(sorted(named)[:6])})")
    raise BundlerError(f"{where} holds {len(bare)} digests without file names")


def _run_bytes(cmd: list[str], label: str, timeout: float) -> bytes:
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise BundlerError(
            f"{label}: {cmd[0]} is not installed (apt-get install {cmd[0]}, or pass --no-images)"
        ) from None
    except subprocess.TimeoutExpired:
        raise BundlerError(f"{label}: {' '.join(cmd[:3])} ... timed out") from None
    if proc.returncode != 0:
        detail = " | ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-3:])
        for reason in ("manifest unknown", "name unknown", "not found"):
            if reason in detail.lower():
                raise NotPublishedError(f"the registry has no {cmd[-1].removeprefix('docker://')} ({reason})")
        raise BundlerError(f"{label}: {' '.join(cmd)} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


@dataclass
class DigestResolver:
    """The platform manifest digest of an image, as the registry (or --registry-mirror) serves it."""

    registry_mirror: str | None
    insecure: bool
    timeout: float

    def resolve(self, ref: str, arch: str) -> tuple[str, str | None, str]:
        """(platform manifest digest, list digest or None, source reference)."""
        repo = ImageCopier(self.registry_mirror, self.insecure, Path()).source(ref)
        _, tag = split_ref(ref)
        tls = ["--tls-verify=false"] if self.insecure else []
        label = f"{ref} ({arch})"
        src = f"docker://{repo}:{tag}"
        raw = _run_bytes(["skopeo", "inspect", "--raw", *tls, src], label, self.timeout)
        top = "sha256:" + hashlib.sha256(raw).hexdigest()
        try:
            manifest = json.loads(raw)
        except ValueError:
            raise BundlerError(f"{label}: the registry's manifest for {src} is not JSON") from None
        if isinstance(manifest, dict) and isinstance(manifest.get("manifests"), list):
            wanted = [
                m
                for m in manifest["manifests"]
                if (m.get("platform") or {}).get("os") == "linux"
                and (m.get("platform") or {}).get("architecture") == arch
            ]
            # arm64 images are v8; prefer an entry without a variant or with v8.
            wanted.sort(key=lambda m: (m.get("platform") or {}).get("variant") not in (None, "v8"))
            if not wanted or not str(wanted[0].get("digest", "")).startswith("sha256:"):
                raise NotPublishedError(f"the image list {src} ({top}) has no linux/{arch} image")
            return str(wanted[0]["digest"]), top, f"docker://{ref}"
        # A single-platform manifest: make sure it is this architecture.
        config = _run_bytes(
            ["skopeo", "inspect", "--config", "--raw", *tls, f"docker://{repo}@{top}"], label, self.timeout
        )
        try:
            image_arch = json.loads(config).get("architecture")
        except (ValueError, AttributeError):
            image_arch = None
        if image_arch != arch:
            raise NotPublishedError(
                f"{src} is a single-platform image for {image_arch or 'an unknown architecture'}, not {arch}"
            )
        return top, None, f"docker://{ref}"


def resolve_slots(slots: list[Slot], args: argparse.Namespace) -> list[PinResult]:
    """Fetch the published checksum (or registry digest) of every slot and compare it with the table."""
    files: dict[str, str | NotPublishedError | BundlerError] = {}
    resolver = DigestResolver(args.registry_mirror, _insecure(args), args.timeout)
    results = []
    for slot in slots:
        if slot.problem:
            results.append(PinResult(slot, "error", detail=slot.problem))
            continue
        if slot.kind == "image":
            if args.no_images:
                continue
            assert slot.image is not None
            try:
                value, list_digest, source = resolver.resolve(slot.image, slot.arch)
            except NotPublishedError as exc:
                results.append(_unpublished(slot, f"docker://{slot.image}", str(exc)))
                continue
            except BundlerError as exc:
                results.append(PinResult(slot, "error", source=f"docker://{slot.image}", detail=str(exc)))
                continue
            accepted = {value, list_digest} - {None}
            current = slot.current
            if current and not current.startswith("sha256:"):
                current = "sha256:" + current
            results.append(_compare(slot, value, source, current in accepted if current else None))
            continue
        if not slot.checksum_url:
            results.append(
                _unpublished(
                    slot,
                    "",
                    f"airgap_artifacts['{slot.component}'] names no checksum_url for {slot.version}: the project "
                    'publishes no checksum file next to this download (docs/bundle.md, "Pinned checksums")',
                )
            )
            continue
        url = slot.checksum_url
        if url not in files:
            fetch_from = mirror_url(url, args.mirror)
            try:
                files[url] = fetch_text(fetch_from, timeout=args.timeout)
            except (NotPublishedError, BundlerError) as exc:
                files[url] = exc
        got = files[url]
        try:
            if isinstance(got, Exception):
                raise got
            value = published_sha256(got, slot.key, url)
        except NotPublishedError as exc:
            results.append(_unpublished(slot, url, str(exc)))
            continue
        except BundlerError as exc:
            results.append(PinResult(slot, "error", source=url, detail=str(exc)))
            continue
        results.append(_compare(slot, value, url, slot.current.lower() == value if slot.current else None))
    return results


def _unpublished(slot: Slot, source: str, why: str) -> PinResult:
    if slot.current:
        return PinResult(
            slot, "kept", slot.current, source, f"kept the table's pin; nothing published to compare it with: {why}"
        )
    return PinResult(slot, "missing", None, source, f"left null: {why}")


def _compare(slot: Slot, value: str, source: str, matches: bool | None) -> PinResult:
    if matches is None:
        return PinResult(slot, "new", value, source)
    if matches:
        return PinResult(slot, "same", slot.current, source)
    return PinResult(
        slot,
        "conflict",
        value,
        source,
        f"the table pins {slot.current}, but {source} publishes {value}. Nothing was written. Find out which is "
        "right (a re-released file, a wrong pin, or a tampered download) before changing the table by hand.",
    )


# --- Editing the table text: only the null scalars change -------------------


class TableEditError(BundlerError):
    """The table's text cannot be edited as asked; nothing was written."""


@dataclass(eq=False)
class _YNode:
    kind: str  # scalar | map | seq | alias
    start: int
    end: int
    anchor: str | None = None
    flow: bool = False
    value: str = ""
    plain: bool = False
    pairs: list[tuple[_YNode, _YNode]] = field(default_factory=list)
    items: list[_YNode] = field(default_factory=list)
    target: _YNode | None = None  # what an alias points at

    @property
    def is_null(self) -> bool:
        return self.kind == "scalar" and self.plain and self.value in YAML_NULLS

    def get(self, key: str) -> tuple[_YNode, _YNode] | None:
        return next(((k, v) for k, v in self.pairs if k.kind == "scalar" and k.value == key), None)


def _compose_with_positions(text: str) -> _YNode:
    """The first YAML document as a tree that keeps every node's position and every alias."""
    import yaml  # noqa: PLC0415 - PyYAML is only needed to read the table

    events = iter(yaml.parse(text, Loader=yaml.SafeLoader))
    anchors: dict[str, _YNode] = {}

    def build(event: Any) -> _YNode:
        start, end = event.start_mark.index, event.end_mark.index
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise TableEditError(f"alias *{event.anchor} has no anchor")
            return _YNode("alias", start, end, value=event.anchor, target=anchors[event.anchor])
        if isinstance(event, yaml.ScalarEvent):
            node = _YNode("scalar", start, end, event.anchor, value=event.value)
            node.plain = event.style is None and bool(event.implicit[0])
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            is_map = isinstance(event, yaml.MappingStartEvent)
            node = _YNode("map" if is_map else "seq", start, end, event.anchor, flow=bool(event.flow_style))
            closing = yaml.MappingEndEvent if is_map else yaml.SequenceEndEvent
            while not isinstance(nxt := next(events), closing):
                if is_map:
                    node.pairs.append((build(nxt), build(next(events))))
                else:
                    node.items.append(build(nxt))
            node.end = nxt.end_mark.index
        else:
            raise TableEditError(f"unexpected YAML event {type(event).__name__}")
        if node.anchor:
            anchors[node.anchor] = node
        return node

    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            return build(next(events))
    raise TableEditError("the table holds no YAML document")


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def fill_table_text(text: str, fills: dict[tuple[str, str, str, str], str]) -> str:
    """Return ``text`` with each null slot (component, version, arch, key) set to its value.

    Only the null scalars change (``null`` -> ``"<value>"``), so comments,
    quoting and layout stay as they are. One exception: a slot reached through
    a YAML alias (``arm64: *k8s_unpinned``) cannot get its own value while the
    alias stands, so that alias becomes an explicit copy of the anchored
    mapping (same keys, its own values), and an anchor left without aliases
    is dropped. A slot that is not null is never touched: TableEditError.
    """
    root = _compose_with_positions(text)
    top = root.get("airgap_artifacts") if root.kind == "map" else None
    if top is None or top[1].kind != "map":
        raise TableEditError("the table does not define the airgap_artifacts mapping")
    # Where each (component, version, arch) mapping is, and every alias site.
    arch_sites: dict[tuple[str, str, str], tuple[_YNode, _YNode, _YNode]] = {}  # -> (key, value, parent)
    for comp_key, comp in top[1].pairs:
        versions = comp.get("versions") if comp.kind == "map" else None
        if not versions or versions[1].kind != "map":
            continue
        for ver_key, per_version in versions[1].pairs:
            if per_version.kind != "map":
                continue
            for arch_key, arch_value in per_version.pairs:
                if arch_key.value in PIN_ARCHES:
                    arch_sites[(comp_key.value, ver_key.value, arch_key.value)] = (arch_key, arch_value, per_version)
    # Every alias, by the node it points at: the arch site it stands for, or None elsewhere.
    site_of = {id(value): path for path, (_k, value, _p) in arch_sites.items()}
    aliases_of: dict[int, list[tuple[str, str, str] | None]] = {}

    def collect_aliases(node: _YNode) -> None:
        if node.kind == "alias" and node.target is not None:
            aliases_of.setdefault(id(node.target), []).append(site_of.get(id(node)))
        for k, v in node.pairs:
            collect_aliases(k)
            collect_aliases(v)
        for item in node.items:
            collect_aliases(item)

    collect_aliases(root)

    by_site: dict[tuple[str, str, str], dict[str, str]] = {}
    for (component, version, arch, key), value in fills.items():
        by_site.setdefault((component, version, arch), {})[key] = value
    edits: list[tuple[int, int, str]] = []
    materialize: set[tuple[str, str, str]] = set()
    for site, keys in by_site.items():
        if site not in arch_sites:
            raise TableEditError(
                f"no airgap_artifacts['{site[0]}'].versions['{site[1]}'].{site[2]} mapping in the table"
            )
        _k, value, _p = arch_sites[site]
        mapping = value.target if value.kind == "alias" else value
        if mapping is None or mapping.kind != "map":
            raise TableEditError(f"airgap_artifacts['{site[0]}'].versions['{site[1]}'].{site[2]} is not a mapping")
        for key in keys:
            pair = mapping.get(key)
            where = f"airgap_artifacts['{site[0]}'].versions['{site[1]}'].{site[2]}['{key}']"
            if pair is None:
                raise TableEditError(f"{where} is not in the table")
            if not pair[1].is_null:
                raise TableEditError(f"{where} is already pinned; pins are never overwritten")
        if value.kind == "alias":
            materialize.add(site)
        elif mapping.anchor and aliases_of.get(id(mapping)):
            # The anchored values are about to change: every alias of them becomes a copy first.
            if None in aliases_of[id(mapping)]:
                raise TableEditError(
                    f"&{mapping.anchor} is also used outside the versions' arch mappings: edit that part by hand"
                )
            materialize.update(p for p in aliases_of[id(mapping)] if p is not None)
    for site, keys in by_site.items():
        _k, value, _p = arch_sites[site]
        if value.kind == "alias":
            continue
        for key, new in keys.items():
            scalar = value.get(key)[1]  # type: ignore[index]
            if scalar.start == scalar.end:  # an empty value: "key:" -> "key: <value>"
                edits.append((scalar.start, scalar.end, f' "{new}"'))
            else:
                edits.append((scalar.start, scalar.end, f'"{new}"'))
    for site in sorted(materialize):
        key_node, alias, parent = arch_sites[site]
        mapping = alias.target
        assert mapping is not None
        keys = by_site.get(site, {})
        entries = []
        for k, v in mapping.pairs:
            if v.kind != "scalar":
                raise TableEditError(
                    f"cannot copy the anchored mapping *{alias.value}: it holds more than plain values"
                )
            new = keys.get(k.value)
            entries.append((text[k.start : k.end], f'"{new}"' if new is not None else text[v.start : v.end]))
        if mapping.flow or parent.flow:
            edits.append((alias.start, alias.end, "{" + ", ".join(f"{k}: {v}" for k, v in entries) + "}"))
        else:
            colon = alias.start
            while colon > 0 and text[colon - 1] in " \t":
                colon -= 1
            indent = " " * (key_node.start - _line_start(text, key_node.start) + 2)
            edits.append((colon, alias.end, "".join(f"\n{indent}{k}: {v}" for k, v in entries)))
    # An anchor whose every alias became a copy is no longer used: drop it.
    for path_list in aliases_of.values():
        if not path_list or not all(p in materialize for p in path_list):
            continue
        mapping = arch_sites[path_list[0]][1].target
        assert mapping is not None and mapping.anchor
        mark = "&" + mapping.anchor
        if text.startswith(mark, mapping.start):
            begin = mapping.start
            while begin > 0 and text[begin - 1] in " \t":
                begin -= 1
            edits.append((begin, mapping.start + len(mark), ""))
    out = text
    last = len(text) + 1
    for start, end, new in sorted(edits, reverse=True):
        if end > last:
            raise TableEditError("overlapping edits of the table (a bug: please report it)")
        out = out[:start] + new + out[end:]
        last = start
    return out


def write_pins(table_path: Path, fills: dict[tuple[str, str, str, str], str]) -> list[str]:
    """Fill the null slots in the table file; return warnings. Checks the result before replacing the file."""
    text = table_path.read_text(encoding="utf-8")
    before = B.load_table(table_path)
    new_text = fill_table_text(text, fills)
    import yaml  # noqa: PLC0415

    try:
        after = (yaml.safe_load(new_text) or {}).get("airgap_artifacts")
    except yaml.YAMLError as exc:
        raise TableEditError(f"the edited table would not be valid YAML ({exc}); nothing was written") from None
    expected = json.loads(json.dumps(before))
    for (component, version, arch, key), value in fills.items():
        expected[component]["versions"][version][arch][key] = value
    if json.loads(json.dumps(after)) != expected:
        raise TableEditError("the edited table would not load as the old one plus the new pins; nothing was written")
    part = table_path.with_name(table_path.name + ".part")
    part.write_text(new_text, encoding="utf-8")
    os.chmod(part, table_path.stat().st_mode & 0o7777)
    os.replace(part, table_path)
    return [
        f"{table_path}:{number}: {len(line)} characters (yamllint allows {YAMLLINT_LINE_LENGTH}): "
        "write that mapping in block style"
        for number, line in enumerate(new_text.splitlines(), start=1)
        if len(line) > YAMLLINT_LINE_LENGTH and line not in text.splitlines()
    ]


def pin(args: argparse.Namespace) -> int:
    table_path = Path(args.table)
    table = B.load_table(table_path)
    components = [c.strip() for item in args.component or [] for c in item.split(",") if c.strip()]
    slots = select_slots(table_slots(table), components, args.set or [], args.arch or [])
    if args.mirror:
        log(f"note: checksum files come through the mirror {args.mirror}")
    results = resolve_slots(slots, args)
    errors = [r for r in results if r.status in ("conflict", "error")]
    conflicts = any(r.status == "conflict" for r in errors)
    new = {r.slot.path: r.value for r in results if r.status == "new" and r.value}
    warnings: list[str] = []
    written = False
    if args.write and new and not conflicts:
        warnings = write_pins(table_path, new)
        written = True
    verbs = {"new": "pinned" if written else "would pin", "same": "ok", "kept": "kept", "missing": "left null"}
    for r in results:
        s = r.slot
        if r.status in ("new", "same"):
            print(f"{verbs[r.status]:<9}  {s.component} {s.version} {s.arch} {s.key} {r.value} {r.source}")
        elif r.status in ("kept", "missing"):
            print(f"{verbs[r.status]:<9}  {s.component} {s.version} {s.arch} {s.key}: {r.detail}")
    for r in errors:
        log(f"error: {r.slot.label()}: {r.detail}")
    for warning in warnings:
        log(f"warning: {warning}")
    counts = {k: sum(r.status == k for r in results) for k in ("new", "same", "kept", "missing")}
    summary = (
        f"{counts['new']} new, {counts['same']} already pinned and matching, {counts['kept']} kept without a "
        f"published value, {counts['missing']} left null, {len(errors)} error(s)"
    )
    if conflicts:
        log(f"{summary}. Nothing was written: a published checksum disagrees with a pin.")
    elif written:
        log(f"{summary}. Wrote {len(new)} pin(s) to {table_path}: review the diff (git diff) before committing.")
    elif new:
        log(f"{summary}. Dry run: add --write to fill these {len(new)} null pin(s) in {table_path}.")
    else:
        log(f"{summary}. Nothing to write.")
    return 1 if errors else 0


def parse_pin_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="upstream.py pin",
        description=(
            "Fill the versions table's null checksums from the checksum files the projects publish next to their "
            "releases (and image digests from the registries). Prints what it would pin; --write edits the table."
        ),
        epilog="Example: tools/bundle/upstream.py pin --component etcd --version 3.6.16 --write",
    )
    parser.add_argument("--table", default=str(DEFAULT_TABLE), help="versions table (default: the collection's)")
    parser.add_argument("--component", action="append", metavar="C1,C2", help="only these components (repeatable)")
    parser.add_argument(
        "--version", dest="set", action="append", metavar="[COMPONENT=]VERSION", help="only this version (repeatable)"
    )
    parser.add_argument("--arch", action="append", choices=PIN_ARCHES, help="only this architecture (repeatable)")
    parser.add_argument("--no-images", action="store_true", help="leave image digests alone (no skopeo needed)")
    parser.add_argument("--write", action="store_true", help="fill the null pins in the table file")
    parser.add_argument("--mirror", metavar="BASE", help="fetch https://HOST/PATH from BASE/HOST/PATH instead")
    parser.add_argument("--registry-mirror", metavar="HOST:PORT", help="ask HOST:PORT/REGISTRY/REPO for image digests")
    parser.add_argument("--registry-insecure", action="store_true", help="no TLS check on the registry mirror")
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    return parser.parse_args(argv)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build an airgap.k8s bundle from upstream release artifacts (on a connected machine).",
        epilog="Example: tools/bundle/upstream.py --inventory inventory/prod --arch amd64 --out files/bundle. "
        "To fill the table's null checksums first: tools/bundle/upstream.py pin --help",
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
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pin"]:
        args = parse_pin_args(argv[1:])
        try:
            return pin(args)
        except (BundlerError, B.BundleError) as exc:
            log(f"error: {exc}")
            return 1
        except KeyboardInterrupt:
            log("interrupted")
            return 130
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
