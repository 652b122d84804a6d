"""The verified model cache: where weights live, and why a cached file is trusted.

A cached file is trusted through a small ``<name>.sha256`` sidecar that records the size
and mtime it verified, so a 176 MB file is not re-hashed on every use; a user's own file
(``PACKSHOT_MODEL_PATH_<NAME>``) is taken as it is. Only :mod:`packshot.models.installer`
writes here, and only verified files, with an atomic rename under a per-model lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from packshot.errors import (
    ModelError,
)
from packshot.models.catalog import _CHUNK, MODELS_DIR_ENV, ModelSpec

if sys.platform != "win32":
    import fcntl

logger = logging.getLogger(__name__)


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
