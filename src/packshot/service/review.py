"""The review page: outputs the quality gate held, beside their source, with the failed
checks; approve (delivers the output), reject, or re-run with changed parameters.

Held outputs come from a solution whose output carries a gate verdict of ``"hold"``
(the gate's JSON: ``verdict``, ``reasons``, ``checks``). A job stays ``held`` until every
held output is decided; then it becomes ``done`` (an approved or unheld output remains) or
``failed`` (all rejected or superseded by a re-run), and its webhook fires.
The browser signs in once with an API key and gets a server-side session: its cookie
(HttpOnly, SameSite=Strict, Secure over https, scoped to /review) holds a random token
that opens this page only, never the API, and ends at logout, after
``PACKSHOT_SESSION_TTL`` or when the key is revoked. Every state-changing form (sign-in,
decisions, logout) is refused when the browser says it comes from another origin, and all
but sign-in also carry a token tied to the session.
"""

from __future__ import annotations

import hmac
import html
import json
import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from packshot.errors import InputError, PackshotError
from packshot.service.auth import (
    create_session,
    end_session,
    form_token,
    session_key,
    verify_key,
)
from packshot.service.context import Context
from packshot.service.errors import AuthError, ConflictError, ForbiddenError, NotFoundError
from packshot.service.http import api_key, authenticate, context, public_base
from packshot.service.store import Job, Review, now

router = APIRouter(tags=["review"])

DECISIONS = ("approve", "reject", "rerun")
SESSION_COOKIE = "packshot_review"

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


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request) -> None:
    """Refuse a browser request another site made: its ``Origin`` (or, without one, its
    ``Referer``) must be this server's public origin, and ``Sec-Fetch-Site`` not
    ``cross-site``. Non-browser clients send none of these."""
    own = _origin(public_base(request))
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed and _origin(claimed) != own:
        # Also an opaque "null" origin (sandboxed frames, data: URLs).
        raise ForbiddenError(f"Refused: the form was sent from {claimed!r}, not from {own}.")
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        raise ForbiddenError("Refused: the form was sent from another site.")


def _session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def _viewer(request: Request) -> str | None:
    """The key id of the page's session (None with auth off); AuthError when signed out."""
    ctx = context(request)
    if not ctx.settings.auth:
        return None
    key_id = session_key(ctx.store, _session_token(request))
    if key_id is not None:
        ctx.limiter.take(key_id)
    return key_id


def _form_token(request: Request) -> str:
    return form_token(context(request).settings.signing_key(), _session_token(request))


def _hidden(request: Request) -> str:
    return f"<input type='hidden' name='csrf' value='{_form_token(request)}'>"


def _check_form(request: Request, csrf: str | None) -> None:
    check_origin(request)
    if not csrf or not hmac.compare_digest(csrf, _form_token(request)):
        raise ForbiddenError("Refused: the form's token is missing or stale; reload the page.")


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


def _item(ctx: Context, base: str, hidden: str, review: Review, job: Job) -> str:
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
        f"<form method='post' action='/review/{rid}/approve'>{hidden}"
        "<button class='approve' type='submit'>Approve</button></form>"
        f"<form method='post' action='/review/{rid}/reject'>{hidden}"
        "<button class='reject' type='submit'>Reject</button></form>"
        f"<form method='post' action='/review/{rid}/rerun' style='display:block'>{hidden}"
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


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request) -> Response:
    """Every held output with its source, checks and the three decisions."""
    try:
        key_id = _viewer(request)
    except AuthError:
        return _login()
    ctx = context(request)
    items = _held(ctx, key_id)
    base = public_base(request)
    hidden = _hidden(request)
    body = "".join(_item(ctx, base, hidden, r, j) for r, j in items)
    count = f"<p id='count'>{len(items)} held</p>"
    logout = (
        f"<form method='post' action='/review/logout'>{hidden}"
        "<button type='submit' id='sign-out'>Sign out</button></form>"
        if ctx.settings.auth
        else ""
    )
    return _page(
        "packshot review", logout + count + (body or "<p>Nothing is waiting for review.</p>")
    )


@router.post("/review/login")
def review_login(request: Request, key: Annotated[str, Form()] = "") -> Response:
    check_origin(request)
    ctx = context(request)
    try:
        key_id = verify_key(ctx.store, key.strip())
    except AuthError as exc:
        return _login(str(exc))
    ctx.limiter.take(key_id)
    token = create_session(ctx.store, key_id, ctx.settings.session_ttl_s)
    response = RedirectResponse("/review", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ctx.settings.session_ttl_s,
        path="/review",
        httponly=True,
        samesite="strict",
        secure=public_base(request).startswith("https:"),
    )
    return response


@router.post("/review/logout")
def review_logout(request: Request, csrf: Annotated[str | None, Form()] = None) -> Response:
    """End the session (server-side: the cookie is worthless afterwards)."""
    _check_form(request, csrf)
    end_session(context(request).store, _session_token(request))
    response = RedirectResponse("/review", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/review")
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
                ref=params_all.get("ref"),
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
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """Approve, reject or re-run one held output, then back to the page.

    From the page: its session and form token. From a program: an API key header (which
    no other site can make a browser send), and no form token.
    """
    ctx = context(request)
    try:
        if api_key(request):
            check_origin(request)
            key_id = authenticate(request)
        else:
            _check_form(request, csrf)
            key_id = _viewer(request)
        await run_in_threadpool(decide, ctx, review_id, key_id, decision, params)
    except PackshotError as exc:
        if "text/html" in request.headers.get("accept", ""):
            return _page(
                "packshot review: not done",
                f"<p class='failed'>{html.escape(str(exc))}</p><p><a href='/review'>back</a></p>",
            )
        raise
    return RedirectResponse("/review", status_code=303)
