"""The review page: outputs the quality gate held, beside their source, with the failed
checks; approve (delivers the output), reject, or re-run with changed parameters.

Held outputs come from a solution whose output carries a gate verdict of ``"hold"``
(the gate's JSON: ``verdict``, ``reasons``, ``checks``). A job stays ``held`` until every
held output is decided; then it becomes ``done`` (an approved or unheld output remains) or
``failed`` (all rejected or superseded by a re-run), and its webhook fires.
The browser signs in once with an API key, kept in an HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import html
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from packshot.errors import InputError, PackshotError
from packshot.service.auth import verify_key
from packshot.service.context import Context
from packshot.service.errors import AuthError, ConflictError, NotFoundError
from packshot.service.http import KEY_COOKIE, authenticate, context
from packshot.service.store import Job, Review, now

router = APIRouter(tags=["review"])

DECISIONS = ("approve", "reject", "rerun")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f6f6f6;color:#222}
.item{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1rem;margin:1rem 0}
.pair{display:flex;gap:1rem;flex-wrap:wrap}
figure{margin:0}
figure img{max-width:360px;max-height:360px;border:1px solid #ccc;background:
 repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem}
.failed{color:#a00}textarea{width:100%;font-family:monospace}
form{display:inline-block;margin-right:.5rem}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _login(message: str = "") -> HTMLResponse:
    note = f"<p class='failed'>{html.escape(message)}</p>" if message else ""
    return _page(
        "packshot review: sign in",
        f"{note}<form method='post' action='/review/login'>"
        "<label>API key <input type='password' name='key' id='key' size='60'></label> "
        "<button type='submit' id='sign-in'>Sign in</button></form>",
    )


def _checks_table(gate: dict[str, Any]) -> str:
    rows = []
    for check in gate.get("checks", []):
        cls = "" if check.get("passed") else " class='failed'"
        rows.append(
            f"<tr{cls} data-check='{html.escape(str(check.get('name')))}'>"
            f"<td>{html.escape(str(check.get('name')))}</td>"
            f"<td>{html.escape(str(check.get('value')))}</td>"
            f"<td>{html.escape(str(check.get('threshold')))}</td>"
            f"<td>{'passed' if check.get('passed') else 'FAILED'}</td>"
            f"<td>{html.escape(str(check.get('detail', '')))}</td></tr>"
        )
    reasons = "".join(f"<li>{html.escape(str(r))}</li>" for r in gate.get("reasons", []))
    return (
        f"<p>verdict: <b>{html.escape(str(gate.get('verdict')))}</b></p><ul>{reasons}</ul>"
        "<table><tr><th>check</th><th>value</th><th>threshold</th><th>result</th>"
        f"<th>detail</th></tr>{''.join(rows)}</table>"
    )


def _item(ctx: Context, base: str, review: Review, job: Job) -> str:
    gate = json.loads(review.gate)
    fields = json.loads(job.params)["fields"]
    source = ctx.storage.link(base, job.id, review.source, kind="inputs")
    output = ctx.storage.link(base, job.id, review.output)
    rid = html.escape(review.id)
    return (
        f"<div class='item' id='{rid}' data-job='{html.escape(job.id)}'>"
        f"<h2>{html.escape(job.solution)}: {html.escape(review.output)}</h2>"
        "<div class='pair'>"
        f"<figure><img class='source' src='{html.escape(source)}' alt='source'>"
        "<figcaption>source</figcaption></figure>"
        f"<figure><img class='output' src='{html.escape(output)}' alt='output'>"
        "<figcaption>output</figcaption></figure></div>"
        f"{_checks_table(gate)}"
        f"<form method='post' action='/review/{rid}/approve'>"
        "<button class='approve' type='submit'>Approve</button></form>"
        f"<form method='post' action='/review/{rid}/reject'>"
        "<button class='reject' type='submit'>Reject</button></form>"
        f"<form method='post' action='/review/{rid}/rerun' style='display:block'>"
        "<label>parameters (JSON)<textarea name='params' rows='3'>"
        f"{html.escape(json.dumps(fields))}</textarea></label>"
        "<button class='rerun' type='submit'>Re-run</button></form></div>"
    )


def _held(ctx: Context, key_id: str | None) -> list[tuple[Review, Job]]:
    with ctx.store.session() as s:
        rows = s.execute(
            select(Review, Job)
            .join(Job, Job.id == Review.job_id)
            .where(Review.state == "held")
            .order_by(Review.created_at)
        ).all()
        return [(r, j) for r, j in rows if not ctx.settings.auth or j.key_id == key_id]


def _key_or_none(request: Request) -> tuple[bool, str | None]:
    try:
        return True, authenticate(request)
    except AuthError:
        return False, None


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request) -> Response:
    """Every held output with its source, checks and the three decisions."""
    ok, key_id = _key_or_none(request)
    if not ok:
        return _login()
    ctx = context(request)
    items = _held(ctx, key_id)
    base = str(request.base_url)
    body = "".join(_item(ctx, base, r, j) for r, j in items)
    count = f"<p id='count'>{len(items)} held</p>"
    return _page("packshot review", count + (body or "<p>Nothing is waiting for review.</p>"))


@router.post("/review/login")
def review_login(request: Request, key: Annotated[str, Form()] = "") -> Response:
    ctx = context(request)
    try:
        verify_key(ctx.store, key.strip())
    except AuthError as exc:
        return _login(str(exc))
    response = RedirectResponse("/review", status_code=303)
    response.set_cookie(KEY_COOKIE, key.strip(), httponly=True, samesite="strict")
    return response


def decide(
    ctx: Context, review_id: str, key_id: str | None, decision: str, params: str | None = None
) -> str | None:
    """Apply a reviewer's decision; returns the new job id of a re-run."""
    if decision not in DECISIONS:
        raise NotFoundError(f"No decision {decision!r}; use one of {', '.join(DECISIONS)}.")
    new_fields: dict[str, Any] | None = None
    if decision == "rerun":
        try:
            new_fields = json.loads(params or "{}")
        except json.JSONDecodeError as exc:
            raise InputError(f"params: not valid JSON ({exc.msg}).") from None
        if not isinstance(new_fields, dict):
            raise InputError("params: must be a JSON object of fields.")
    new_job: str | None = None
    with ctx.store.session() as s:
        review = s.get(Review, review_id)
        job = s.get(Job, review.job_id) if review else None
        if review is None or job is None or (ctx.settings.auth and job.key_id != key_id):
            raise NotFoundError(f"No review item {review_id!r}.")
        if review.state != "held":
            raise ConflictError(f"Review item {review_id} was already decided ({review.state}).")
        result = json.loads(job.result or "{}")
        entry = next((f for f in result.get("files", []) if f["name"] == review.output), None)
        if decision == "rerun":
            assert new_fields is not None
            params_all = json.loads(job.params)
            images = {role: ctx.storage.read_input(job.id, role) for role in params_all["images"]}
            rerun = ctx.runner.add_job(
                s,
                job.solution,
                new_fields,
                dict(images),
                key_id=job.key_id,
                callback_url=job.callback_url,
            )
            review.rerun_job_id = new_job = rerun.id
        review.state = {"approve": "approved", "reject": "rejected", "rerun": "rerun"}[decision]
        review.updated_at = now()
        if entry is not None:
            entry["held"] = False
            entry["review"] = review.state
            if new_job:
                entry["rerun_job_id"] = new_job
        s.flush()
        pending = s.scalars(
            select(Review).where(Review.job_id == job.id, Review.state == "held")
        ).first()
        if pending is None:
            delivered = [
                f for f in result.get("files", []) if f.get("review") in (None, "approved")
            ]
            if delivered:
                ctx.runner.finish_in(s, job, "done", result=result)
            else:
                reason = (
                    ("superseded", f"Re-run as job {new_job} from the review page.")
                    if new_job
                    else ("rejected", "Rejected on the review page.")
                )
                ctx.runner.finish_in(s, job, "failed", result=result, error=reason)
        else:
            job.result = json.dumps(result)
    ctx.sender.notify()
    if new_job:
        ctx.runner.notify()
    return new_job


@router.post("/review/{review_id}/{decision}")
async def review_decide(
    review_id: str,
    decision: str,
    request: Request,
    params: Annotated[str | None, Form()] = None,
) -> Response:
    """Approve, reject or re-run one held output, then back to the page."""
    ctx = context(request)
    key_id = authenticate(request)
    try:
        await run_in_threadpool(decide, ctx, review_id, key_id, decision, params)
    except PackshotError as exc:
        if "text/html" in request.headers.get("accept", ""):
            return _page(
                "packshot review: not done",
                f"<p class='failed'>{html.escape(str(exc))}</p><p><a href='/review'>back</a></p>",
            )
        raise
    return RedirectResponse("/review", status_code=303)
