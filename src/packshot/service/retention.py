"""The retention sweep: what a finished job leaves behind is deleted once it is old enough.

Three horizons, counted from when a job finished (``done`` or ``failed``; queued,
running and held jobs are never touched, so a held output keeps its source for the
review and a re-run): its input images (``keep_inputs_s``), its output files
(``keep_results_s``; the job then lists them as ``expired``, without a link), and the job
record itself with its webhook log and review entries (``keep_jobs_s``; its folders go
with it). Expired review sessions are dropped too. Folders are found on disk, so files
whose job record is gone (a crash between writing an input and committing its job) are
collected once they are an hour old.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from packshot.service.settings import Settings
from packshot.service.storage import Storage
from packshot.service.store import (
    FINAL_STATES,
    Batch,
    Delivery,
    Job,
    Review,
    ReviewSession,
    Store,
    WebhookEvent,
    now,
)

logger = logging.getLogger(__name__)

ORPHAN_GRACE_S = 3600.0
"""Age after which a folder without a job record is deleted: a job's inputs are written
just before its record is committed, so a younger folder may be a job being created."""
_CHUNK = 500


@dataclass
class Swept:
    inputs: int = 0
    results: int = 0
    jobs: int = 0
    sessions: int = 0
    orphans: int = 0


def _expire_results(job: Job) -> None:
    if not job.result:
        return
    result = json.loads(job.result)
    for entry in result.get("files", []):
        entry["expired"] = True
    job.result = json.dumps(result)


def _sweep_folders(
    store: Store, storage: Storage, kind: str, keep_s: float | None, t: float, swept: Swept
) -> None:
    folders = list(storage.job_folders(kind))
    for start in range(0, len(folders), _CHUNK):
        chunk = dict(folders[start : start + _CHUNK])
        with store.session() as s:
            jobs = {j.id: j for j in s.scalars(select(Job).where(Job.id.in_(list(chunk))))}
            for job_id, mtime in chunk.items():
                job = jobs.get(job_id)
                if job is None:
                    if mtime < t - ORPHAN_GRACE_S:
                        storage.remove(kind, job_id)
                        swept.orphans += 1
                    continue
                if keep_s is None or job.state not in FINAL_STATES:
                    continue
                if job.updated_at < t - keep_s:
                    storage.remove(kind, job_id)
                    if kind == "results":
                        _expire_results(job)
                        swept.results += 1
                    else:
                        swept.inputs += 1


def _delete_jobs(s: Session, storage: Storage, job_ids: list[str]) -> None:
    event_ids = list(s.scalars(select(WebhookEvent.id).where(WebhookEvent.job_id.in_(job_ids))))
    if event_ids:
        s.execute(delete(Delivery).where(Delivery.event_id.in_(event_ids)))
        s.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(event_ids)))
    s.execute(delete(Review).where(Review.job_id.in_(job_ids)))
    s.execute(delete(Job).where(Job.id.in_(job_ids)))
    for job_id in job_ids:
        storage.remove("results", job_id)
        storage.remove("inputs", job_id)


def sweep(settings: Settings, store: Store, storage: Storage) -> Swept:
    """One pass of every retention rule; returns what it deleted."""
    t = now()
    swept = Swept()
    if settings.keep_jobs_s is not None:
        cutoff = t - settings.keep_jobs_s
        while True:
            with store.session() as s:
                old = list(
                    s.scalars(
                        select(Job.id)
                        .where(Job.state.in_(FINAL_STATES), Job.updated_at < cutoff)
                        .limit(_CHUNK)
                    )
                )
                if not old:
                    break
                _delete_jobs(s, storage, old)
                swept.jobs += len(old)
        with store.session() as s:
            s.execute(
                delete(Batch).where(
                    Batch.created_at < cutoff,
                    ~select(Job.id).where(Job.batch_id == Batch.id).exists(),
                )
            )
    _sweep_folders(store, storage, "inputs", settings.keep_inputs_s, t, swept)
    _sweep_folders(store, storage, "results", settings.keep_results_s, t, swept)
    with store.session() as s:
        gone = s.execute(delete(ReviewSession).where(ReviewSession.expires_at < t))
        swept.sessions = int(getattr(gone, "rowcount", 0) or 0)
    return swept


class Sweeper:
    """Runs :func:`sweep` at start-up and every ``sweep_interval_s`` seconds."""

    def __init__(self, settings: Settings, store: Store, storage: Storage) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="packshot-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                swept = sweep(self.settings, self.store, self.storage)
                if swept.inputs or swept.results or swept.jobs or swept.orphans:
                    logger.info("retention: %s", swept)
            except Exception:  # a failed sweep is retried next time; serving goes on
                logger.exception("retention sweep failed")
            self._stop.wait(self.settings.sweep_interval_s)
