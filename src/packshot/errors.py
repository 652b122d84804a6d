"""One error hierarchy with user-facing messages.

Every error packshot raises on purpose is a ``PackshotError``: its ``str()`` is a complete
sentence a user can act on (which file, what is wrong, what to do). The CLI maps
``exit_code`` to the process exit status and the HTTP service maps ``http_status`` and
``code`` to its JSON error body, so neither has to know the individual classes.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

LOG_FILE_ENV = "PACKSHOT_LOG_FILE"


class PackshotError(Exception):
    """Base class: the message is shown to users verbatim."""

    code = "packshot_error"
    exit_code = 1
    http_status = 500


class InputError(PackshotError):
    """The caller gave something unusable (a bad file, a bad parameter)."""

    code = "bad_input"
    exit_code = 2
    http_status = 400


class ImageDecodeError(InputError):
    """A file or byte string is not a readable image (corrupt, truncated, empty, not an image)."""

    code = "image_unreadable"
    http_status = 422


class ImageTooLargeError(InputError):
    """An image exceeds the pixel-count limit (decompression-bomb guard)."""

    code = "image_too_large"
    http_status = 413


class UnsupportedFormatError(InputError):
    """The image format is recognised but no decoder/encoder for it is installed."""

    code = "unsupported_format"
    http_status = 415


class ModelError(PackshotError):
    """A model could not be resolved, installed, verified or run."""

    code = "model_error"
    exit_code = 3
    http_status = 503


class UnknownModelError(ModelError):
    """No model of that name is registered."""

    code = "unknown_model"
    exit_code = 2
    http_status = 400


class ModelNotInstalledError(ModelError):
    """The weights are not cached and could not be fetched; the message says how to install."""

    code = "model_not_installed"


class ModelVerificationError(ModelError):
    """Downloaded or local weights do not match the registered SHA-256."""

    code = "model_checksum_mismatch"


class FetchError(PackshotError):
    """A URL or registry package could not be fetched."""

    code = "fetch_failed"
    exit_code = 4
    http_status = 502


class NoMatchError(InputError):
    """Product isolation found nothing matching the prompt; the message lists what it saw,
    so the caller can retry with another word, a box or points."""

    code = "no_match"
    http_status = 422


class BlockedURLError(FetchError):
    """A URL whose host is a private, loopback or link-local address (SSRF guard)."""

    code = "url_not_allowed"
    http_status = 400


def log_file() -> Path:
    """Where tracebacks of internal errors go: ``PACKSHOT_LOG_FILE``, else
    ``$XDG_CACHE_HOME/packshot/packshot.log``, else ``~/.cache/packshot/packshot.log``."""
    explicit = os.environ.get(LOG_FILE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "packshot" / "packshot.log"


def internal_error(where: str, exc: BaseException) -> str:
    """The one line a user sees for a bug (not a bad input): ``where`` (the file, and the
    target when there is one), the exception, and the log file that got its traceback.

    Written from any process (batch workers, Ray actors, the server), so each call appends
    its own traceback to the log file instead of relying on a logging set-up.
    """
    first = str(exc).strip().splitlines()
    message = f"{where}: internal error ({type(exc).__name__}: {first[0] if first else ''})"
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {stamp} pid {os.getpid()} {message}\n")
            fh.write("".join(traceback.format_exception(exc)))
    except OSError as log_exc:
        return f"{message}; the traceback could not be written to {path} ({log_exc})"
    return f"{message}; traceback in {path}"
