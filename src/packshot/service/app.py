"""The FastAPI application: ``create_app(settings)`` wires routers, errors and workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from packshot import __version__
from packshot.errors import PackshotError
from packshot.service import api, batch_report, removebg, review
from packshot.service.context import Context
from packshot.service.http import (
    BodyLimit,
    http_error,
    internal_error,
    packshot_error,
    validation_error,
)
from packshot.service.settings import Settings

DESCRIPTION = """packshot's Operations API: the same request shape as the hosted
product-photo services (`POST /v1/run/{solution}` with `Authorization: Bearer <key>`),
batches with signed webhooks, a remove.bg-compatible endpoint and a review page.
Errors are `{"error": {"code", "message"}}`."""


def create_app(settings: Settings) -> FastAPI:
    ctx = Context.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.start()
        try:
            yield
        finally:
            ctx.stop()

    app = FastAPI(
        title="packshot",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.add_exception_handler(PackshotError, packshot_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.include_router(api.router)
    app.include_router(removebg.router)
    app.include_router(review.router)
    app.include_router(batch_report.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (restart it when this fails)."""
        return {"status": "ok", "version": __version__, "server": ctx.store.owner}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        """Readiness: the database and the default model are reachable and the server is
        not shutting down (send it traffic only while this is 200)."""
        report = ctx.readiness()
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    return app
