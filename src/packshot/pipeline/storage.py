"""Shared storage for batches: local paths, or fsspec URLs (``s3://``, ``gs://``, ``file://``).

Workers on a cluster must all see a batch's sources and outputs. A local path works when
it is shared (NFS, a mounted bucket); otherwise sources and outputs can be fsspec URLs,
read and written here with ``fsspec`` and its protocol package (``s3fs``, ``gcsfs``...)
when they are installed. http(s) URLs are not storage: :mod:`packshot.fetch` reads them.

A batch whose output folder is a URL keeps its manifest and report on the driver, in
:func:`state_dir` (SQLite needs a local file).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

from packshot.errors import InputError, PackshotError
from packshot.imageio import write_bytes as write_local

__all__ = [
    "STATE_DIR_ENV",
    "is_remote",
    "join",
    "read_bytes",
    "size",
    "state_dir",
    "write_bytes",
]

STATE_DIR_ENV = "PACKSHOT_STATE_DIR"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_remote(location: str | os.PathLike[str]) -> bool:
    """A storage URL (``scheme://...``) other than http(s), which are fetched, not stored."""
    match = _SCHEME.match(os.fspath(location))
    return match is not None and match.group(1).lower() not in ("http", "https")


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """``base/part/...`` for a URL or a path."""
    text = os.fspath(base)
    if is_remote(text):
        return "/".join([text.rstrip("/"), *parts])
    return str(Path(text, *parts))


def read_bytes(location: str) -> bytes:
    """The bytes of a file at a path or storage URL."""
    if not is_remote(location):
        try:
            return Path(location).read_bytes()
        except OSError as exc:
            raise InputError(f"{location}: cannot read ({exc.strerror or exc})") from exc
    fs, path = _filesystem(location)
    try:
        data: bytes = fs.cat_file(path)
    except FileNotFoundError:
        raise InputError(f"{location}: no such file") from None
    except Exception as exc:  # each fsspec backend raises its own errors
        raise InputError(f"{location}: cannot read ({_reason(exc)})") from exc
    return data


def write_bytes(location: str, data: bytes) -> None:
    """Write ``data`` at a path or storage URL so readers never see a partial file."""
    if not is_remote(location):
        write_local(location, data)
        return
    fs, path = _filesystem(location)
    try:
        fs.makedirs(fs._parent(path), exist_ok=True)
        if "file" in _protocols(fs):
            # A local filesystem behind a URL: write aside, then rename, like write_local.
            tmp = f"{path}.{secrets.token_hex(6)}.tmp"
            fs.pipe_file(tmp, data)
            fs.mv(tmp, path)
        else:  # object stores: a PUT is atomic, there is no rename
            fs.pipe_file(path, data)
    except Exception as exc:
        raise PackshotError(f"{location}: cannot write ({_reason(exc)})") from exc


def size(location: str) -> int | None:
    """The size in bytes of the file at a path or storage URL, None when there is none."""
    if not is_remote(location):
        path = Path(location)
        return path.stat().st_size if path.is_file() else None
    fs, path_in_fs = _filesystem(location)
    try:
        return int(fs.size(path_in_fs))
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise InputError(f"{location}: cannot check ({_reason(exc)})") from exc


def state_dir(out: str | os.PathLike[str]) -> Path:
    """Where a batch writing to ``out`` keeps its manifest and report.

    ``out`` itself when it is a path; for a URL, a local folder named after it under
    ``PACKSHOT_STATE_DIR`` (default ``~/.cache/packshot/batches``), so re-running the same
    batch finds its manifest again.
    """
    text = os.fspath(out)
    if not is_remote(text):
        return Path(text)
    root = os.environ.get(STATE_DIR_ENV, "").strip()
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "packshot" / "batches"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text.split("://", 1)[1]).strip("-")[-60:]
    digest = hashlib.sha256(text.rstrip("/").encode()).hexdigest()[:12]
    return base / f"{slug}-{digest}"


def _filesystem(location: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise InputError(
            f"{location}: storage URLs need fsspec (pip install 'packshot[ray]' fsspec)"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(location)
    except ImportError as exc:  # the protocol's package (s3fs, gcsfs...) is missing
        raise InputError(f"{location}: {exc}") from None
    except ValueError as exc:
        raise InputError(f"{location}: {exc}") from None
    return fs, path


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
