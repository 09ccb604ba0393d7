# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The offline bundle: manifest.json, the versions table, checksums.

Private helper shared by ``airgap.k8s.bundle_verify`` and the bundle
builders under ``tools/bundle/``. Standard library only (plus PyYAML, optional,
for :func:`load_table`), so the tools can import it without Ansible.

Contract: docs/design.md ("The versions table", "The bundle").
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field

try:
    import yaml
except ImportError as exc:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None
    YAML_IMPORT_ERROR: str | None = str(exc)
else:
    YAML_IMPORT_ERROR = None

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
BUILDERS = ("from-source", "upstream")
KINDS = ("binary", "archive", "image", "os-package")
ARCHES = ("amd64", "arm64")

_CHUNK = 1024 * 1024


class BundleError(ValueError):
    """A bundle, manifest or table is unusable; the message says why and what to do."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        # readinto a reused buffer: no per-chunk allocation on GB-sized bundles.
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        while True:
            count = handle.readinto(buf)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


def utc_now() -> str:
    """ISO 8601 UTC timestamp with a ``Z`` suffix, second precision."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Artifact:
    """One file of the bundle, as listed in manifest.json.

    ``path`` is relative to the bundle directory (normalized layout,
    see :func:`artifact_path`); ``image`` is the image reference for
    ``kind == "image"`` and ``None`` otherwise.
    """

    component: str
    name: str
    version: str
    arch: str
    kind: str
    path: str
    sha256: str
    source: str
    image: str | None = None

    def sort_key(self) -> tuple[str, str, str, str, str]:
        return (self.component, self.version, self.arch, self.name, self.path)

    def to_dict(self) -> dict[str, str]:
        data = asdict(self)
        if data["image"] is None:
            del data["image"]
        return data


@dataclass
class Manifest:
    """manifest.json at the top of a bundle (format 1).

    Every field has a default so the dataclass keeps the documented field
    order (``format, created, builder, artifacts``) and can still be built
    with keywords only; :func:`write_manifest` refuses an empty ``builder``.
    """

    format: int = MANIFEST_FORMAT
    created: str = field(default_factory=utc_now)
    builder: str = ""
    artifacts: list[Artifact] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "created": self.created,
            "builder": self.builder,
            "artifacts": [a.to_dict() for a in sorted(self.artifacts, key=Artifact.sort_key)],
        }

    def find(self, component: str, name: str, version: str | None = None, arch: str | None = None) -> list[Artifact]:
        """Entries matching component and name (and version/arch when given)."""
        return [
            a
            for a in self.artifacts
            if a.component == component
            and a.name == name
            and (version is None or a.version == version)
            and (arch is None or a.arch == arch)
        ]


# --------------------------------------------------------------------------
# Layout (docs/design.md "The bundle")


def artifact_path(component: str, version: str, arch: str, name: str) -> str:
    """``<component>/<version>/<arch>/<file>`` for binaries and archives."""
    return "/".join((component, version, arch, name))


def image_path(arch: str, name: str, tag: str) -> str:
    """``images/<arch>/<name>_<tag>.tar``."""
    return f"images/{arch}/{name}_{tag}.tar"


def os_package_dir(distro: str, arch: str) -> str:
    """``os-packages/<distro>-<release>/<arch>``; ``distro`` is e.g. ``debian-12``."""
    return f"os-packages/{distro}/{arch}"


# --------------------------------------------------------------------------
# manifest.json


def _manifest_json(manifest: Manifest) -> str:
    return json.dumps(manifest.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def validate_manifest(manifest: Manifest, where: str = MANIFEST_NAME) -> None:
    """Raise :class:`BundleError` listing every schema problem of ``manifest``."""
    errors = _manifest_errors(manifest.to_dict())
    if errors:
        raise BundleError(_format_errors(where, errors))


def write_manifest(bundle_dir: str | os.PathLike[str], manifest: Manifest) -> str:
    """Write ``bundle_dir/manifest.json`` atomically; return its path.

    Output is stable: artifacts sorted by (component, version, arch, name,
    path), keys sorted, two-space indent, trailing newline. The manifest is
    validated first, so a builder cannot write a bundle that
    :func:`load_manifest` would refuse.
    """
    validate_manifest(manifest, where=f"manifest for {os.fspath(bundle_dir)}")
    text = _manifest_json(manifest)
    target = os.path.join(os.fspath(bundle_dir), MANIFEST_NAME)
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=os.fspath(bundle_dir))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


_ARTIFACT_REQUIRED = ("component", "name", "version", "arch", "kind", "path", "sha256", "source")
_ARTIFACT_OPTIONAL = ("image",)


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _artifact_errors(index: int, entry: object) -> list[str]:
    where = f"artifacts[{index}]"
    if not isinstance(entry, dict):
        return [f"{where}: expected an object, got {type(entry).__name__}"]
    label = "{} ({}/{})".format(where, entry.get("component", "?"), entry.get("name", "?"))
    errors = []
    for key in _ARTIFACT_REQUIRED:
        if key not in entry:
            errors.append(f"{label}: missing key {key!r}")
        elif not isinstance(entry[key], str) or not entry[key]:
            errors.append(f"{label}: {key!r} must be a non-empty string")
    for key in sorted(set(entry) - set(_ARTIFACT_REQUIRED) - set(_ARTIFACT_OPTIONAL)):
        errors.append(f"{label}: unknown key {key!r}")
    if isinstance(entry.get("kind"), str) and entry["kind"] not in KINDS:
        errors.append("{}: kind {!r} is not one of {}".format(label, entry["kind"], ", ".join(KINDS)))
    if isinstance(entry.get("sha256"), str) and not _is_hex64(entry["sha256"]):
        errors.append(f"{label}: sha256 must be 64 lower-case hex digits")
    path = entry.get("path")
    if isinstance(path, str) and path:
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or "" in parts or "\\" in path:
            errors.append(f"{label}: path {path!r} must be relative, inside the bundle, without '..'")
    if entry.get("kind") == "image":
        if not isinstance(entry.get("image"), str) or not entry.get("image"):
            errors.append(f"{label}: an image entry needs 'image' (the image reference)")
    elif entry.get("image") is not None:
        errors.append(f"{label}: 'image' is only allowed on kind image")
    return errors


def _manifest_errors(data: object) -> list[str]:
    if not isinstance(data, dict):
        return [f"top level must be an object, got {type(data).__name__}"]
    errors = []
    fmt = data.get("format")
    if fmt != MANIFEST_FORMAT or isinstance(fmt, bool):
        errors.append(f"format is {fmt!r}; this collection reads format {MANIFEST_FORMAT}")
    if not isinstance(data.get("created"), str) or not data.get("created"):
        errors.append("created must be a non-empty string (ISO 8601 UTC time)")
    if data.get("builder") not in BUILDERS:
        errors.append("builder is {!r}; expected one of {}".format(data.get("builder"), ", ".join(BUILDERS)))
    for key in sorted(set(data) - {"format", "created", "builder", "artifacts"}):
        errors.append(f"unknown top-level key {key!r}")
    artifacts = data.get("artifacts")
    if not isinstance(artifacts, list):
        errors.append("artifacts must be a list")
        return errors
    seen_paths: dict[str, int] = {}
    for index, entry in enumerate(artifacts):
        errors.extend(_artifact_errors(index, entry))
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            if entry["path"] in seen_paths:
                errors.append(
                    f"artifacts[{index}]: path {entry['path']!r} already listed by artifacts[{seen_paths[entry['path']]}]"
                )
            else:
                seen_paths[entry["path"]] = index
    return errors


def _format_errors(where: str, errors: list[str]) -> str:
    return "{} is invalid:\n  - {}".format(where, "\n  - ".join(errors))


def manifest_from_dict(data: object, where: str = MANIFEST_NAME) -> Manifest:
    """Validate parsed JSON and build a :class:`Manifest`."""
    errors = _manifest_errors(data)
    if errors:
        raise BundleError(_format_errors(where, errors))
    if not isinstance(data, dict):  # for the type checker: _manifest_errors rejects it
        raise BundleError(f"{where}: not a JSON object")
    return Manifest(
        format=data["format"],
        created=data["created"],
        builder=data["builder"],
        artifacts=[Artifact(**entry) for entry in data["artifacts"]],
    )


def load_manifest(bundle_dir: str | os.PathLike[str]) -> Manifest:
    """Read and validate ``bundle_dir/manifest.json``.

    Raises :class:`BundleError` with every problem found and what to do.
    """
    path = os.path.join(os.fspath(bundle_dir), MANIFEST_NAME)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise BundleError(
            f"{path} not found: {os.fspath(bundle_dir)} is not a bundle (or an unfinished one). Build one with "
            "tools/bundle/build_from_source.py or tools/bundle/upstream.py and unpack it "
            "there, or point airgap_bundle_dir at the unpacked bundle."
        ) from None
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); rebuild the bundle.") from None
    return manifest_from_dict(data, where=path)


# --------------------------------------------------------------------------
# The versions table


def load_table(path: str | os.PathLike[str]) -> dict:
    """Read the versions table file and return its ``airgap_artifacts`` dict."""
    if yaml is None:  # pragma: no cover - PyYAML ships with ansible-core
        raise BundleError(f"PyYAML is needed to read {os.fspath(path)}: {YAML_IMPORT_ERROR}")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise BundleError(f"cannot read the versions table {os.fspath(path)}: {exc}") from None
    except yaml.YAMLError as exc:
        raise BundleError(f"the versions table {os.fspath(path)} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("airgap_artifacts"), dict):
        raise BundleError(f"{os.fspath(path)} does not define the airgap_artifacts mapping")
    return data["airgap_artifacts"]


# --------------------------------------------------------------------------
# What an inventory needs

RUNTIMES = ("containerd", "docker")
NETWORK_PLUGINS = ("flannel", "calico")

# Components every cluster needs, whatever the choices. The node-local
# apiserver load balancer (haproxy) and the other host packages come from
# the `os-packages` component.
_ALWAYS = ("kubernetes", "etcd", "coredns", "pause", "cni-plugins", "crictl")
# The Docker static bundle (download.docker.com/linux/static) ships its own
# containerd, containerd-shim-runc-v2, ctr and runc, built and tested with
# that Docker release; the standalone containerd/runc are not installed with
# docker, so they are not needed in the bundle either.
_RUNTIME = {"containerd": ("containerd", "runc"), "docker": ("docker", "cri-dockerd")}
_NETWORK = {"flannel": ("flannel", "flannel-cni-plugin"), "calico": ("calico",)}
OS_PACKAGES = "os-packages"


@dataclass(frozen=True, order=True)
class Required:
    """One file the install needs: (component, version, arch, name, kind).

    For ``kind == "image"``, ``image`` is the image reference; for
    ``kind == "os-package"``, ``version`` is the distro (``debian-12``) and
    ``name`` the package name.
    """

    component: str
    version: str
    arch: str
    name: str
    kind: str
    image: str | None = None

    @property
    def path(self) -> str:
        """Where the normalized layout puts it (a directory for os-packages)."""
        if self.kind == "image":
            if self.image is None:
                raise BundleError(f"{self.component}/{self.name}: an image entry without an image reference")
            return image_path(self.arch, self.name, image_tag(self.image))
        if self.kind == "os-package":
            return os_package_dir(self.version, self.arch)
        return artifact_path(self.component, self.version, self.arch, self.name)

    def label(self) -> str:
        return f"{self.component} {self.name} {self.version} {self.arch}"


def image_tag(ref: str) -> str:
    """Tag of an image reference (``registry.k8s.io/pause:3.10`` -> ``3.10``)."""
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def version_var(component: str) -> str:
    """The inventory variable that picks ``component``'s version (design.md)."""
    return "kube_version" if component == "kubernetes" else component.replace("-", "_") + "_version"


def needed_components(choices: dict) -> list[str]:
    """Components the choices need, in install order (without os-packages)."""
    runtime = choices.get("container_runtime", "containerd")
    network = choices.get("kube_network_plugin", "flannel")
    if runtime not in _RUNTIME:
        raise BundleError(f"container_runtime is {runtime!r}; set it to one of {', '.join(RUNTIMES)}")
    if network not in _NETWORK:
        raise BundleError(f"kube_network_plugin is {network!r}; set it to one of {', '.join(NETWORK_PLUGINS)}")
    extra = [c for c in choices.get("extra_components") or [] if c != OS_PACKAGES]
    needed = [*_ALWAYS, *_RUNTIME[runtime], *_NETWORK[network]]
    return needed + [c for c in dict.fromkeys(extra) if c not in needed]


def chosen_version(table: dict, component: str, choices: dict) -> str:
    """Version of ``component``: ``choices['versions']``, then ``<var>_version``, then the table default."""
    versions = choices.get("versions") or {}
    var = version_var(component)
    version = versions.get(component) or versions.get(var) or choices.get(var)
    if not version:
        version = (table.get(component) or {}).get("default")
    if not version:
        raise BundleError(f"no version for {component}: set {var} or give the table a default")
    return str(version).lstrip("v")


def template_values(entry: dict, version: str, arch: str, name: str = "") -> dict[str, str]:
    """Placeholders of the table's templates: {version} {major} {minor} {patch} {arch} {uarch} {name}."""
    parts = [*version.split(".", 2), "", "", ""][:3]
    uarch = (entry.get("arch_names") or {}).get(arch, arch)
    return {
        "version": version,
        "major": parts[0],
        "minor": parts[1],
        "patch": parts[2],
        "arch": arch,
        "uarch": str(uarch),
        "name": name,
    }


def render(template: str, values: dict[str, str]) -> str:
    """Fill a table template; an unknown placeholder is a table error."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise BundleError(f"bad template {template!r} in the versions table: {exc}") from None


def _when_matches(when: object, choices: dict) -> bool:
    """Optional per-file condition in the table: ``when: {container_runtime: docker}``."""
    if not when:
        return True
    if not isinstance(when, dict):
        raise BundleError(f"'when' in the versions table must be a mapping, got {when!r}")
    for key, wanted in when.items():
        value = choices.get(key)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def _component_files(table: dict, component: str) -> list[dict]:
    entry = table.get(component)
    if not isinstance(entry, dict):
        raise BundleError(f"the versions table (airgap_artifacts) has no component {component!r}")
    files = entry.get("files")
    if not isinstance(files, list) or not files:
        raise BundleError(f"airgap_artifacts.{component}.files must be a non-empty list")
    for item in files:
        if not isinstance(item, dict) or not item.get("name") or item.get("kind") not in KINDS:
            raise BundleError(
                f"airgap_artifacts.{component}.files: every entry needs a name and a kind "
                f"({', '.join(KINDS)}); got {item!r}"
            )
    return files


def _check_supported(table: dict, component: str, version: str) -> None:
    supported = (table.get(component) or {}).get("supported")
    if not supported:
        return
    minor = ".".join(version.split(".")[:2])
    if version not in supported and minor not in supported:
        raise BundleError(
            f"{version_var(component)} is {version}; this collection supports {component} "
            f"{', '.join(str(s) for s in supported)} (airgap_artifacts.{component}.supported)"
        )


def required_artifacts(table: dict, choices: dict, arches: list[str] | tuple[str, ...]) -> list[Required]:
    """Every file the inventory's choices need, sorted and without duplicates.

    ``choices`` holds the inventory's variables: ``container_runtime``,
    ``kube_network_plugin``, ``kube_version`` and the other
    ``<component>_version`` variables (or a ``versions`` dict keyed by
    component or variable name; unset means the table default) and ``os``, a
    list of ``<distro>-<release>`` strings (``debian-12``) present in the
    inventory; ``extra_components`` adds components the install itself does
    not need (``agnhost`` for smoke tests); any other key is matched by the
    table's ``when`` conditions (``kube_proxy_mode``). ``arches`` are the
    architectures present (``amd64``, ``arm64``).
    """
    if not arches:
        raise BundleError("no architecture given: the inventory must have at least one host")
    for arch in arches:
        if arch not in ARCHES:
            raise BundleError(f"architecture {arch!r} is not supported; use {', '.join(ARCHES)}")
    context = dict(choices)
    context.setdefault("container_runtime", "containerd")
    context.setdefault("kube_network_plugin", "flannel")
    wanted: set[Required] = set()
    for component in needed_components(context):
        files = _component_files(table, component)
        version = chosen_version(table, component, context)
        _check_supported(table, component, version)
        for item in files:
            if not _when_matches(item.get("when"), context):
                continue
            for arch in arches:
                values = template_values(table[component], version, arch)
                name = render(str(item["name"]), values)
                values["name"] = name
                image = render(str(item.get("image") or ""), values) if item["kind"] == "image" else None
                if item["kind"] == "image" and not image:
                    raise BundleError(f"airgap_artifacts.{component}.files: image {name!r} has no 'image' reference")
                if item["kind"] == "os-package":
                    raise BundleError(f"airgap_artifacts.{component}: os-package entries belong to {OS_PACKAGES}")
                wanted.add(Required(component, version, arch, name, item["kind"], image))
    distros = choices.get("os") or []
    if isinstance(distros, str):
        distros = [distros]
    if not distros:
        raise BundleError("no OS given (choices 'os', e.g. ['debian-12']): the host packages cannot be chosen")
    for distro in sorted(set(distros)):
        wanted.update(_os_packages(table, distro, context, arches))
    return sorted(wanted)


def _os_packages(table: dict, distro: str, choices: dict, arches) -> list[Required]:
    """Host packages for one ``<distro>-<release>`` (haproxy, conntrack, ...).

    ``airgap_artifacts['os-packages']`` has ``files`` (every distro) and an
    optional ``distros`` mapping ``<distro>-<release>`` to extra ``files``;
    when ``distros`` is present it is also the list of supported systems.
    """
    section = table.get(OS_PACKAGES)
    if not isinstance(section, dict):
        raise BundleError(f"the versions table (airgap_artifacts) has no {OS_PACKAGES!r} section")
    per_distro = section.get("distros")
    extra: list = []
    if per_distro is not None:
        if distro not in per_distro:
            raise BundleError(
                f"hosts run {distro}, which has no host packages in airgap_artifacts.{OS_PACKAGES}.distros "
                f"(supported: {', '.join(sorted(per_distro))})"
            )
        extra = (per_distro.get(distro) or {}).get("files") or []
    out = []
    for item in [*(section.get("files") or []), *extra]:
        if not isinstance(item, dict) or not item.get("name"):
            raise BundleError(f"airgap_artifacts.{OS_PACKAGES}: every entry needs a name; got {item!r}")
        if _when_matches(item.get("when"), choices):
            out.extend(Required(OS_PACKAGES, distro, arch, str(item["name"]), "os-package") for arch in arches)
    if not out:
        raise BundleError(f"airgap_artifacts.{OS_PACKAGES} lists no package for {distro}")
    return out


# --------------------------------------------------------------------------
# Verification

CACHE_NAME = ".verify-cache.json"
CHECKSUM_MODES = ("none", "cached", "full")


@dataclass
class Problem:
    """Why one required file cannot be used, and what to do about it."""

    label: str
    path: str
    detail: str
    hint: str

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.label}{where}: {self.detail}. {self.hint}"


@dataclass
class VerifyResult:
    manifest: Manifest
    resolved: list[tuple[Required, Artifact]]
    os_packages: dict[str, dict[str, list[Artifact]]]
    problems: list[Problem]
    checked: int = 0
    hashed: int = 0
    from_cache: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def rebuild_hint(builder: str, component: str) -> str:
    """The command that rebuilds one component of a bundle made by ``builder``."""
    if builder == "from-source":
        return f"re-run tools/bundle/build_from_source.py --only {component}"
    return f"re-run tools/bundle/upstream.py --only {component} (or re-download the bundle)"


def _stat_key(st: os.stat_result) -> list[int]:
    # ctime cannot be set from user space (touch sets atime/mtime only), so a
    # file rewritten in place keeps no stale cache entry even if its mtime is
    # restored.
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _load_cache(bundle_dir: str) -> dict[str, dict]:
    try:
        with open(os.path.join(bundle_dir, CACHE_NAME), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]


def _save_cache(bundle_dir: str, entries: dict[str, dict]) -> None:
    """Best effort: a read-only bundle simply gets no cache."""
    text = json.dumps({"format": 1, "entries": entries}, indent=1, sort_keys=True) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".verify-cache.", suffix=".tmp", dir=bundle_dir)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, os.path.join(bundle_dir, CACHE_NAME))
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _inside(bundle_dir: str, rel: str) -> str | None:
    full = os.path.realpath(os.path.join(bundle_dir, rel))
    root = os.path.realpath(bundle_dir)
    return full if full.startswith(root + os.sep) else None


def _hash_jobs(jobs: list[str], workers: int) -> dict[str, str | OSError]:
    """sha256 of each absolute path; hashlib releases the GIL, so threads scale."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only when hashing

    def one(path: str) -> str | OSError:
        try:
            return sha256_file(path)
        except OSError as exc:
            return exc

    if len(jobs) <= 1 or workers <= 1:
        return {path: one(path) for path in jobs}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(jobs, pool.map(one, jobs), strict=True))


def verify_bundle(
    bundle_dir: str | os.PathLike[str],
    required: list[Required],
    checksum: str = "cached",
    write_cache: bool = True,
    workers: int = 2,
) -> VerifyResult:
    """Check that ``bundle_dir`` holds every ``required`` file, unchanged.

    ``checksum``: ``none`` checks presence only; ``cached`` hashes each file
    unless ``.verify-cache.json`` holds its hash for the same size, mtime,
    ctime, inode and device; ``full`` rehashes everything. Raises
    :class:`BundleError` when the manifest itself is unusable; problems with
    files are collected in the result, all of them, for one report.
    """
    if checksum not in CHECKSUM_MODES:
        raise BundleError(f"checksum must be one of {', '.join(CHECKSUM_MODES)}, got {checksum!r}")
    root = os.path.abspath(os.fspath(bundle_dir))
    if not os.path.isdir(root):
        raise BundleError(
            f"bundle directory {root} does not exist: unpack the bundle tarball there "
            "(tar -xzf airgap-k8s-bundle-*.tar.gz -C DIR) or set airgap_bundle_dir"
        )
    manifest = load_manifest(root)
    problems: list[Problem] = []
    resolved: list[tuple[Required, Artifact]] = []
    os_groups: dict[str, dict[str, list[Artifact]]] = {}
    to_check: dict[str, tuple[str, Artifact]] = {}  # rel path -> (label, entry)

    for req in required:
        hint = rebuild_hint(manifest.builder, req.component)
        if req.kind == "os-package":
            group = [
                a
                for a in manifest.artifacts
                if a.component == OS_PACKAGES and a.version == req.version and a.arch == req.arch
            ]
            if not any(a.name == req.name for a in group):
                problems.append(
                    Problem(
                        req.label(),
                        req.path,
                        f"package {req.name} for {req.version} {req.arch} is not in the bundle",
                        f"The bundle needs host packages for every OS in the inventory; {hint}",
                    )
                )
                continue
            os_groups.setdefault(req.version, {})[req.arch] = group
            for entry in group:
                to_check.setdefault(entry.path, (f"{OS_PACKAGES} {entry.name} {entry.version} {entry.arch}", entry))
            continue
        same = [a for a in manifest.find(req.component, req.name, arch=req.arch) if a.kind == req.kind]
        match = [a for a in same if a.version == req.version]
        if not match:
            if same:
                have = ", ".join(sorted({a.version for a in same}))
                problems.append(
                    Problem(
                        req.label(),
                        "",
                        f"wrong version: the inventory asks for {req.version}, the bundle has {have}",
                        f"Set {version_var(req.component)} to a version the bundle has, or {hint}",
                    )
                )
            else:
                problems.append(
                    Problem(req.label(), req.path, "missing from manifest.json", hint[0].upper() + hint[1:])
                )
            continue
        entry = match[0]
        if entry.path != req.path:
            problems.append(
                Problem(
                    req.label(),
                    entry.path,
                    f"listed at {entry.path}, but the bundle layout puts it at {req.path}",
                    f"The bundle was not written by a current builder; {hint}",
                )
            )
            continue
        if req.kind == "image" and entry.image != req.image:
            problems.append(
                Problem(
                    req.label(),
                    entry.path,
                    f"the archive holds image {entry.image}, the cluster will run {req.image}",
                    hint[0].upper() + hint[1:],
                )
            )
            continue
        resolved.append((req, entry))
        to_check.setdefault(entry.path, (req.label(), entry))

    cache = _load_cache(root) if checksum != "none" else {}
    listed = {a.path for a in manifest.artifacts}
    # Keep what other runs (other arches, other choices) verified; drop files no longer listed.
    new_cache = {rel: v for rel, v in cache.items() if rel in listed and rel not in to_check}
    jobs: dict[str, tuple[str, Artifact, list[int]]] = {}
    result = VerifyResult(manifest, resolved, os_groups, problems)
    for rel, (label, entry) in sorted(to_check.items()):
        result.checked += 1
        hint = rebuild_hint(manifest.builder, entry.component)
        full = _inside(root, rel)
        if full is None:
            problems.append(Problem(label, rel, "points outside the bundle directory", hint[0].upper() + hint[1:]))
            continue
        try:
            st = os.stat(full)
        except FileNotFoundError:
            problems.append(
                Problem(
                    label,
                    rel,
                    "file missing (listed in manifest.json but not on disk)",
                    f"Unpack the complete bundle tarball again, or {hint}",
                )
            )
            continue
        except OSError as exc:
            problems.append(Problem(label, rel, f"cannot read: {exc.strerror}", "Fix its permissions"))
            continue
        if not os.path.isfile(full):
            problems.append(Problem(label, rel, "not a regular file", f"Unpack the bundle again, or {hint}"))
            continue
        if checksum == "none":
            continue
        key = _stat_key(st)
        cached = cache.get(rel) if checksum == "cached" else None
        if cached and cached.get("stat") == key and _is_hex64(cached.get("sha256")):
            result.from_cache += 1
            new_cache[rel] = cached
            _compare(problems, label, entry, cached["sha256"], hint)
        else:
            jobs[full] = (rel, entry, key)
    hashed = _hash_jobs(sorted(jobs), workers)
    for full, digest in hashed.items():
        rel, entry, key = jobs[full]
        label = to_check[rel][0]
        hint = rebuild_hint(manifest.builder, entry.component)
        result.hashed += 1
        if isinstance(digest, OSError):
            problems.append(Problem(label, rel, f"cannot read: {digest.strerror}", "Fix its permissions"))
            continue
        new_cache[rel] = {"stat": key, "sha256": digest}
        _compare(problems, label, entry, digest, hint)
    if write_cache and checksum != "none" and new_cache != cache:
        _save_cache(root, new_cache)
    return result


def _compare(problems: list[Problem], label: str, entry: Artifact, digest: str, hint: str) -> None:
    if digest != entry.sha256:
        problems.append(
            Problem(
                label,
                entry.path,
                f"corrupt: sha256 is {digest}, manifest.json says {entry.sha256}",
                f"Copy the file again from the original bundle tarball (check the tarball's own checksum), or {hint}",
            )
        )


def format_problems(bundle_dir: str, result: VerifyResult) -> str:
    """One message listing every problem, for ``fail_json``."""
    lines = [
        f"The bundle in {bundle_dir} (builder {result.manifest.builder}, created {result.manifest.created}) "
        f"cannot install this inventory: {len(result.problems)} problem(s). Nothing was changed on any host.",
    ]
    lines.extend(f"  - {p}" for p in result.problems)
    return "\n".join(lines)


def resolved_artifacts(bundle_dir: str, result: VerifyResult) -> dict[str, dict[str, dict]]:
    """``name -> arch -> {path (absolute), sha256, version, kind, image, component}``.

    Names are unique across the components one inventory needs (the table's
    file names are); a clash is a table bug and raises :class:`BundleError`.
    """
    root = os.path.abspath(bundle_dir)
    out: dict[str, dict[str, dict]] = {}
    owner: dict[str, str] = {}
    for req, entry in result.resolved:
        if owner.setdefault(req.name, req.component) != req.component:
            raise BundleError(
                f"the versions table names a file {req.name!r} in both {owner[req.name]} and {req.component}; "
                "names must be unique across components"
            )
        out.setdefault(req.name, {})[req.arch] = {
            "path": os.path.join(root, entry.path),
            "sha256": entry.sha256,
            "version": entry.version,
            "kind": entry.kind,
            "image": entry.image,
            "component": entry.component,
        }
    return out


def resolved_os_packages(bundle_dir: str, result: VerifyResult) -> dict[str, dict[str, dict]]:
    """``distro -> arch -> {dir, files}`` (absolute paths) for the host packages."""
    root = os.path.abspath(bundle_dir)
    return {
        distro: {
            arch: {
                "dir": os.path.join(root, os_package_dir(distro, arch)),
                "files": sorted(os.path.join(root, a.path) for a in entries),
            }
            for arch, entries in sorted(arches.items())
        }
        for distro, arches in sorted(result.os_packages.items())
    }
