"""Errors only the HTTP service raises, in the :mod:`packshot.errors` hierarchy."""

from __future__ import annotations

from packshot.errors import InputError, PackshotError


class AuthError(PackshotError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"
    http_status = 401


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
