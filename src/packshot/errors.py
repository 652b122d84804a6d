"""One error hierarchy with user-facing messages.

Every error packshot raises on purpose is a ``PackshotError``: its ``str()`` is a complete
sentence a user can act on (which file, what is wrong, what to do). The CLI maps
``exit_code`` to the process exit status and the HTTP service maps ``http_status`` and
``code`` to its JSON error body, so neither has to know the individual classes.
"""

from __future__ import annotations


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
