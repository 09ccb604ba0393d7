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
    assert isinstance(data, dict)
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
