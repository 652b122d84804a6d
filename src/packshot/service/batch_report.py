"""A batch's report page, from the server that holds it: ``GET /v1/batches/{id}/report``.

The same page as ``packshot listing`` writes (:mod:`packshot.report`), built from the
batch's jobs: one row per item (its SKU when the solution names one), one column per
output, the images through fresh signed links, and each held output linked to its entry
on the review page (``/review#<review id>``). The page's check tables are served beside it
(``/v1/batches/{id}/_report/checks-NNNN.js``), from the folder the page was written to.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from packshot.pipeline.manifest import TargetRecord
from packshot.report import PANELS, write_listing_report
from packshot.service.api import own_batch
from packshot.service.context import Context
from packshot.service.errors import NotFoundError
from packshot.service.http import authenticate, context, public_base
from packshot.service.store import FINAL_STATES, Job, Review

router = APIRouter(tags=["batches"])

_CHUNK = re.compile(r"checks-\d{4}\.js")


def batch_records(
    ctx: Context, base: str, jobs: list[Job], reviews: list[Review]
) -> tuple[list[TargetRecord], dict[tuple[str, str], str]]:
    """The finished jobs as report records, and the review page entry of each held one."""
    held = {(r.job_id, r.output): r.id for r in reviews if r.state == "held"}
    records: list[TargetRecord] = []
    links: dict[tuple[str, str], str] = {}
    for job in jobs:
        if job.state not in FINAL_STATES and job.state != "held":
            continue
        result: dict[str, Any] = json.loads(job.result or "{}")
        info = result.get("info") or {}
        fields = json.loads(job.params).get("fields") or {}
        sku = str(info.get("sku") or fields.get("sku") or f"item-{job.position + 1}")
        source = ctx.storage.link(base, job.id, "image", kind="inputs")
        files = result.get("files") or []
        if not files:
            error = job.error_message or "failed"
            records.append(TargetRecord(sku, job.solution, source, "failed", None, None, error, {}))
            continue
        for entry in files:
            name = str(entry["name"])
            target = Path(name).stem
            state = "held" if entry.get("held") else "done"
            if entry.get("review") in ("rejected", "rerun"):
                state = "failed"
            rec_info = dict(entry.get("info") or {})
            if entry.get("gate"):
                rec_info["gate"] = entry["gate"]
            said = f"{entry['review']} on the review page" if state == "failed" else None
            output = None if state == "failed" else ctx.storage.link(base, job.id, name)
            records.append(
                TargetRecord(sku, target, source, state, output, entry.get("bytes"), said, rec_info)
            )
            if (job.id, name) in held:
                links[(sku, target)] = f"{base.rstrip('/')}/review#{held[(job.id, name)]}"
        for failed in info.get("targets") or []:
            if isinstance(failed, dict) and failed.get("state") == "failed":
                records.append(
                    TargetRecord(
                        sku, str(failed.get("target")), source, "failed", None, None,
                        str(failed.get("error") or "failed"), {},
                    )
                )  # fmt: skip
    return records, links


def _report_dir(ctx: Context, batch_id: str) -> Path:
    return ctx.settings.data_dir / "reports" / batch_id


@router.get("/v1/batches/{batch_id}/report")
def batch_report(batch_id: str, request: Request) -> FileResponse:
    """The batch's report page (HTML): summary, grid, check tables, review links."""
    ctx = context(request)
    key_id = authenticate(request)
    own_batch(ctx, batch_id, key_id)
    with ctx.store.session() as s:
        jobs = list(
            s.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.position)).all()
        )
        reviews = list(
            s.scalars(select(Review).where(Review.job_id.in_([j.id for j in jobs]))).all()
        )
        s.expunge_all()
    records, links = batch_records(ctx, public_base(request), jobs, reviews)
    waiting = sum(j.state not in FINAL_STATES and j.state != "held" for j in jobs)
    title = f"packshot batch {batch_id}" + (f" ({waiting} items still running)" if waiting else "")
    page = write_listing_report(
        records, _report_dir(ctx, batch_id), title=title, review_links=links
    )
    return FileResponse(page, media_type="text/html")


@router.get("/v1/batches/{batch_id}/_report/{name}", include_in_schema=False)
def batch_report_checks(batch_id: str, name: str, request: Request) -> FileResponse:
    """One file of the report's check tables (the page loads it when a panel opens)."""
    ctx = context(request)
    own_batch(ctx, batch_id, authenticate(request))
    path = _report_dir(ctx, batch_id) / PANELS / name
    if not _CHUNK.fullmatch(name) or not path.is_file():
        raise NotFoundError(f"No report file {name!r} for batch {batch_id!r}.")
    return FileResponse(path, media_type="text/javascript")
