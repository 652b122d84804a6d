"""The Operations API: run a solution, jobs, batches, signed result files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import select

from packshot.errors import BlockedURLError, FetchError, InputError
from packshot.fetch import check_url
from packshot.service.context import Context
from packshot.service.errors import NotFoundError
from packshot.service.fields import parse_bool, parse_choice
from packshot.service.http import authenticate, context, public_base
from packshot.service.inputs import ImageRef, parse_json, read_request, split_fields
from packshot.service.jobs import get_solution, new_id
from packshot.service.solutions import SOLUTIONS
from packshot.service.store import FINAL_STATES, Batch, Delivery, Job, WebhookEvent, now

router = APIRouter()
Key = Annotated[str | None, Depends(authenticate)]

MAX_BATCH_ITEMS = 1000
MAX_REF_CHARS = 200

_IMAGE_FIELDS = {
    f"{role}_{kind}": {"type": "string", "description": f"{role} as {kind}"}
    for role in ("image", "mask", "reference")
    for kind in ("url", "base64")
}
_RUN_FIELDS: dict[str, Any] = {
    **_IMAGE_FIELDS,
    "prompt": {"type": "string"},
    "title": {"type": "string", "description": "listing: the product's title"},
    "alt": {"type": "string", "description": "listing: the images' alt text (default: title)"},
    "aspect_ratio": {"type": "string", "example": "1:1"},
    "resolution": {"type": "string", "enum": ["1K", "2K", "4K"]},
    "color": {"type": "string", "example": "#FFFFFF"},
    "market": {"type": "array", "items": {"type": "string"}},
    "format": {"type": "string", "enum": ["png", "jpg", "webp"]},
    "model": {"type": "string", "example": "u2netp"},
    "async": {"type": "boolean", "description": "run as a job: 202 + job id"},
    "response": {"type": "string", "enum": ["image", "json"]},
    "callback_url": {"type": "string", "description": "webhook for run.completed/failed"},
}
_RUN_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"type": "object", "properties": _RUN_FIELDS}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **_RUN_FIELDS,
                        "image_file": {"type": "string", "format": "binary"},
                        "mask_file": {"type": "string", "format": "binary"},
                        "reference_file": {"type": "string", "format": "binary"},
                    },
                }
            },
        }
    }
}
_BATCH_BODY = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "solution": {"type": "string", "example": "background-removal"},
                        "callback_url": {"type": "string"},
                        "params": {"type": "object", "description": "fields for every item"},
                        "items": {
                            "type": "array",
                            "items": {"type": "object", "properties": _RUN_FIELDS},
                        },
                    },
                }
            }
        }
    }
}


async def _callback(value: Any, ctx: Context) -> str | None:
    """A webhook URL, refused now (not at the first delivery) when it cannot work: not
    http(s), a host that does not resolve, or an internal address."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InputError(f"callback_url: {value!r} must be an http(s) URL.")
    try:
        await run_in_threadpool(check_url, value, allow_private=ctx.settings.allow_private_urls)
    except (InputError, BlockedURLError) as exc:
        # Same class (and so code and status), the field named first.
        raise type(exc)(f"callback_url: {exc}") from None
    except FetchError as exc:  # does not resolve: the client's URL, not our upstream
        raise InputError(f"callback_url: {exc}") from None
    return value


def _ref(value: Any, where: str) -> str | int | None:
    """A batch item's own reference (the shop's SKU or row id), echoed back unchanged."""
    if value is None or (isinstance(value, int | str) and not isinstance(value, bool)):
        if isinstance(value, str) and len(value) > MAX_REF_CHARS:
            raise InputError(f"{where}.ref: at most {MAX_REF_CHARS} characters.")
        return value
    raise InputError(f"{where}.ref: expected a string or a whole number.")


def _own_job(ctx: Context, job_id: str, key_id: str | None) -> Job:
    with ctx.store.session() as s:
        job = s.get(Job, job_id)
        if job is None or (ctx.settings.auth and job.key_id != key_id):
            raise NotFoundError(f"No job {job_id!r}.")
        return job


def own_batch(ctx: Context, batch_id: str, key_id: str | None) -> Batch:
    """The batch, if ``key_id`` may see it (else not found, as if it did not exist)."""
    with ctx.store.session() as s:
        batch = s.get(Batch, batch_id)
        if batch is None or (ctx.settings.auth and batch.key_id != key_id):
            raise NotFoundError(f"No batch {batch_id!r}.")
        return batch


@router.get("/v1/solutions", tags=["operations"])
def solutions() -> dict[str, Any]:
    """Every solution name, what it does, and whether this build has it."""
    return {
        "solutions": [
            {
                "name": s.name,
                "summary": s.summary,
                "available": s.handler is not None,
                "asynchronous": s.asynchronous,
                **({"pending": s.pending} if s.handler is None else {}),
            }
            for s in SOLUTIONS.values()
        ]
    }


@router.post("/v1/run/{solution}", tags=["operations"], openapi_extra=_RUN_BODY)
async def run_solution(solution: str, request: Request, key_id: Key) -> Response:
    """Run one solution on one image: the image bytes (or JSON with a link), or 202 + job id.

    Images: `image_url`, `image_base64`, or a multipart upload `image_file` (likewise
    `mask_*`, `reference_*`). `async: true` (always for `listing`) queues a job; poll
    `GET /v1/jobs/{id}` or pass `callback_url`. `response: "json"` (or `Accept:
    application/json`) returns JSON with a signed result URL instead of the bytes.
    """
    ctx = context(request)
    sol = get_solution(solution)
    parsed = await read_request(request, ctx.settings)
    fields = parsed.fields
    is_async = sol.asynchronous or parse_bool(fields.pop("async", None), "async")
    callback = await _callback(fields.pop("callback_url", None), ctx)
    wants_json = "application/json" in request.headers.get("accept", "")
    kind = parse_choice(
        fields.pop("response", None),
        "response",
        ("image", "json"),
        "json" if wants_json else "image",
    )
    if not parsed.images:
        raise InputError(
            "image: no image given; send image_url, image_base64 or a multipart image_file."
        )

    def create(state: str) -> str:
        with ctx.store.session() as s:
            job = ctx.runner.add_job(
                s,
                solution,
                fields,
                parsed.images,
                key_id=key_id,
                callback_url=callback,
                state=state,
            )
            return job.id

    if is_async:
        job_id = await run_in_threadpool(create, "queued")
        ctx.runner.notify()
        return JSONResponse(
            {
                "id": job_id,
                "state": "queued",
                "status_url": f"{public_base(request)}/v1/jobs/{job_id}",
            },
            status_code=202,
        )
    job_id = await run_in_threadpool(create, "running")
    await run_in_threadpool(ctx.runner.run, job_id)
    job = _own_job(ctx, job_id, key_id)
    view = ctx.runner.view(job, public_base(request))
    if job.state == "held":
        return JSONResponse(view, status_code=202)
    files = (view.get("result") or {}).get("files", [])
    if kind == "json" or len(files) != 1:
        return JSONResponse(view)
    first = files[0]
    data = ctx.storage.result_path(job_id, first["name"]).read_bytes()
    info = (view.get("result") or {}).get("info", {})
    headers = {"X-Packshot-Job": job_id}
    for key in ("width", "height", "model"):
        if key in info:
            headers[f"X-Packshot-{key.title()}"] = str(info[key])
    headers.update(verdict_headers(first.get("gate")))
    return Response(data, media_type=first["media_type"], headers=headers)


def verdict_headers(gate: dict[str, Any] | None) -> dict[str, str]:
    """A marketplace image's gate verdict beside its bytes: ``X-Packshot-Verdict``
    (deliver or fixed; a held one is answered 202 with JSON instead) and
    ``X-Packshot-Checks``, each check as ``name=pass`` or ``name=fail``; every measured
    value is in the job's JSON (``GET /v1/jobs/{X-Packshot-Job}``). None for an output no
    market's rules apply to (a cutout, a repair)."""
    if not gate:
        return {}
    checks = ", ".join(
        f"{c['name']}={'pass' if c['passed'] else 'fail'}" for c in gate.get("checks", [])
    )
    return {"X-Packshot-Verdict": str(gate["verdict"]), "X-Packshot-Checks": checks}


@router.get("/v1/jobs/{job_id}", tags=["operations"])
def get_job(job_id: str, request: Request, key_id: Key) -> dict[str, Any]:
    """A job's state and, when done, signed links to its outputs."""
    ctx = context(request)
    return ctx.runner.view(_own_job(ctx, job_id, key_id), public_base(request))


@router.get("/v1/jobs/{job_id}/deliveries", tags=["operations"])
def get_deliveries(job_id: str, request: Request, key_id: Key) -> dict[str, Any]:
    """The webhook events of a job and every delivery attempt (the delivery log)."""
    ctx = context(request)
    _own_job(ctx, job_id, key_id)
    with ctx.store.session() as s:
        events = s.scalars(select(WebhookEvent).where(WebhookEvent.job_id == job_id)).all()
        out = []
        for ev in events:
            attempts = s.scalars(
                select(Delivery).where(Delivery.event_id == ev.id).order_by(Delivery.attempt)
            ).all()
            out.append(
                {
                    "id": ev.id,
                    "type": ev.event,
                    "state": ev.state,
                    "url": ev.url,
                    "attempts": [
                        {
                            "attempt": a.attempt,
                            "at": a.at,
                            "status_code": a.status_code,
                            "error": a.error,
                            "duration_ms": a.duration_ms,
                        }
                        for a in attempts
                    ],
                }
            )
    return {"job_id": job_id, "events": out}


@router.post("/v1/batches", tags=["batches"], status_code=202, openapi_extra=_BATCH_BODY)
async def create_batch(request: Request, key_id: Key) -> JSONResponse:
    """Many items at once (asynchronous): per-item jobs, one webhook per item state."""
    ctx = context(request)
    body = parse_json(await request.body())
    if not isinstance(body, dict):
        raise InputError("The batch must be a JSON object with 'items'.")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise InputError("items: a non-empty list of items is required.")
    if len(items) > MAX_BATCH_ITEMS:
        raise InputError(f"items: at most {MAX_BATCH_ITEMS} items per batch, got {len(items)}.")
    common = body.get("params") or {}
    if not isinstance(common, dict):
        raise InputError("params: must be an object of fields shared by every item.")
    default_solution = body.get("solution")
    callback = await _callback(body.get("callback_url"), ctx)
    planned: list[tuple[str, dict[str, Any], dict[str, ImageRef], str | int | None]] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"items[{n}]: must be an object.")
        item = dict(item)
        name = item.pop("solution", None) or default_solution
        if not isinstance(name, str):
            raise InputError(f"items[{n}].solution: no solution (give 'solution' for the batch).")
        ref = _ref(item.pop("ref", None), f"items[{n}]")
        try:
            get_solution(name)
            parsed = split_fields({**common, **item}, {})
        except InputError as exc:
            raise InputError(f"items[{n}]: {exc}") from None
        if not parsed.images:
            raise InputError(f"items[{n}]: no image (image_url or image_base64).")
        planned.append((name, parsed.fields, parsed.images, ref))

    def create() -> tuple[str, list[dict[str, Any]]]:
        batch_id = new_id("bat")
        created = []
        with ctx.store.session() as s:
            s.add(Batch(id=batch_id, key_id=key_id, callback_url=callback, created_at=now()))
            s.flush()
            for n, (name, fields, images, ref) in enumerate(planned):
                job = ctx.runner.add_job(
                    s,
                    name,
                    fields,
                    images,
                    key_id=key_id,
                    batch_id=batch_id,
                    position=n,
                    callback_url=callback,
                    ref=ref,
                )
                created.append({"id": job.id, "ref": ref})
        return batch_id, created

    batch_id, created = await run_in_threadpool(create)
    ctx.runner.notify()
    return JSONResponse(
        {
            "id": batch_id,
            "items": created,
            "status_url": f"{public_base(request)}/v1/batches/{batch_id}",
        },
        status_code=202,
    )


@router.get("/v1/batches/{batch_id}", tags=["batches"])
def get_batch(batch_id: str, request: Request, key_id: Key) -> dict[str, Any]:
    """Each item's state, counts per state, and links to finished outputs."""
    ctx = context(request)
    own_batch(ctx, batch_id, key_id)
    with ctx.store.session() as s:
        jobs = s.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.position)).all()
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
    finished = all(job.state in FINAL_STATES for job in jobs)
    return {
        "id": batch_id,
        "state": "done" if finished else ("held" if "held" in counts else "running"),
        "counts": counts,
        "items": [ctx.runner.view(job, public_base(request)) for job in jobs],
    }


@router.get("/v1/files/{kind}/{job_id}/{name}", tags=["operations"])
def get_file(
    kind: str, job_id: str, name: str, request: Request, expires: int, sig: str
) -> Response:
    """A stored file through a signed, expiring link (no API key needed)."""
    path = context(request).storage.open_link(kind, job_id, name, expires, sig)
    return FileResponse(path)
