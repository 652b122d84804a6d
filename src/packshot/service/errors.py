"""Errors only the HTTP service raises, in the :mod:`packshot.errors` hierarchy."""

from __future__ import annotations

import re

from packshot.errors import InputError, PackshotError

# An absolute file path in a message ("/srv/data/work/tmpab12/source/item.jpg"), not the
# path part of a URL (preceded by its host) nor a ratio such as "16/9".
_SERVER_PATH = re.compile(r"(?<![\w.:/~-])(?:/[^\s'\"/:;,()<>]+)+/([^\s'\"/:;,()<>]+)")


def public_message(message: str) -> str:
    """``message`` with every server path cut to its file name: clients learn which of
    their files is wrong, never where the server keeps things."""
    return _SERVER_PATH.sub(lambda m: m.group(1), message)


class AuthError(PackshotError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"
    http_status = 401


class ForbiddenError(PackshotError):
    """A state-changing browser request from another site, or without its form token."""

    code = "forbidden"
    http_status = 403


class RateLimitError(PackshotError):
    """The key sent more requests than its per-minute allowance."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTooLargeError(InputError):
    """The request body is over the server's size limit."""

    code = "request_too_large"
    http_status = 413


class NotFoundError(PackshotError):
    code = "not_found"
    http_status = 404


class LinkExpiredError(PackshotError):
    code = "link_expired"
    http_status = 403


class SolutionNotAvailableError(PackshotError):
    """A solution the API names whose pipeline is not in this build yet."""

    code = "solution_not_available"
    http_status = 501


class ConflictError(PackshotError):
    code = "conflict"
    http_status = 409
