"""HTTP plumbing shared by the routers: errors as JSON, request size limit, API-key check."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from packshot.errors import PackshotError
from packshot.service.auth import verify_key
from packshot.service.context import Context
from packshot.service.errors import RateLimitError, RequestTooLargeError, public_message

logger = logging.getLogger(__name__)

REMOVEBG_PREFIX = "/v1.0/"
# remove.bg answers 400 for every bad request (unreadable or oversized file, failed
# download), 403 for a missing or wrong key; its clients branch on exactly these.
_REMOVEBG_STATUS = {401: 403, 413: 400, 415: 400, 422: 400, 502: 400}


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def public_base(request: Request) -> str:
    """The base of every link the server hands out: ``PACKSHOT_PUBLIC_URL``, else the
    address this connection reached the server on (its socket, never a header)."""
    configured = context(request).settings.public_url
    if configured:
        return configured.rstrip("/")
    host, port = request.scope.get("server") or ("127.0.0.1", 80)
    scheme = "https" if request.scope.get("scheme") in ("https", "wss") else "http"
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"{scheme}://{shown}:{port}"


def error_body(path: str, code: str, message: str) -> dict[str, Any]:
    message = public_message(message)
    if path.startswith(REMOVEBG_PREFIX):
        # remove.bg's own shape, so its clients show our message.
        return {"errors": [{"title": message, "code": code}]}
    return {"error": {"code": code, "message": message}}


def json_error(path: str, status: int, code: str, message: str) -> JSONResponse:
    if path.startswith(REMOVEBG_PREFIX):
        status = _REMOVEBG_STATUS.get(status, status)
    return JSONResponse(error_body(path, code, message), status_code=status)


def error_response(request: Request, status: int, code: str, message: str) -> JSONResponse:
    return json_error(request.url.path, status, code, message)


async def packshot_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PackshotError)
    response = error_response(request, exc.http_status, exc.code, str(exc))
    if isinstance(exc, RateLimitError):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    )
    return error_response(request, 400, "bad_input", problems or "The request is not valid.")


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    return error_response(request, exc.status_code, code, str(exc.detail))


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(
        request, 500, "internal_error", f"Internal error ({type(exc).__name__}); see server log."
    )


def api_key(request: Request) -> str | None:
    """The key a request carries: a bearer token or X-Api-Key (never a cookie: the review
    page's session is no API key)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def authenticate(request: Request) -> str | None:
    """FastAPI dependency: the caller's key id (None when auth is off); rate-limited."""
    ctx = context(request)
    if not ctx.settings.auth:
        return None
    key_id = verify_key(ctx.store, api_key(request))
    ctx.limiter.take(key_id)
    return key_id


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes, declared or streamed (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (
            f"The request body is over the limit of {self.limit} bytes "
            "(PACKSHOT_MAX_REQUEST_BYTES)."
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    response = json_error(
                        scope.get("path", ""), 413, RequestTooLargeError.code, message
                    )
                    await response(scope, receive, send)
                    return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise RequestTooLargeError(message)
            return msg

        await self.app(scope, counted, send)
