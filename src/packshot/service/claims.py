"""Claims with leases: which server runs a job or sends a webhook event, across machines.

Several API servers share one database. A server takes work by *claiming* a row: it
writes its owner id (:attr:`Store.owner <packshot.service.store.Store.owner>`) and a lease
deadline on it in one transaction. On PostgreSQL the candidate rows are read with
``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent servers never wait on (or take) each
other's rows; on SQLite (one server per database file) writers are serialised and the
conditional ``UPDATE`` below is what keeps two threads from taking one row.

A live server renews its leases (:func:`renew`, every third of the lease); a server that
dies stops renewing, and once a lease has expired any server may take the row over:

- an asynchronous job is claimed again (its ``runs`` counter goes up; only work the dead
  server held runs twice);
- a synchronous job is never re-run: its client already got an error when the connection
  dropped, so it is marked failed (:func:`interrupted_sync`);
- a webhook event is sent again by whichever server claims it next, with the same
  idempotency key.

Results are fenced: a server records a job's outcome only while it still holds the job
(:func:`holds_job`), so a server that stalled past its lease cannot overwrite the result
of the server that took over.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from packshot.service.store import Job, Store, WebhookEvent, now


def _expired(lease_until: InstrumentedAttribute[float | None], t: float) -> ColumnElement[bool]:
    return or_(lease_until.is_(None), lease_until < t)


def _claimable_job(t: float) -> ColumnElement[bool]:
    return or_(
        Job.state == "queued",
        and_(Job.state == "running", Job.synchronous.is_(False), _expired(Job.lease_until, t)),
    )


def _batch(store: Store) -> int:
    # SKIP LOCKED hands each server distinct rows, so one is enough; SQLite may see a
    # row vanish under it (another thread's claim) and tries the next few.
    return 1 if store.engine.dialect.name == "postgresql" else 5


def claim_job(store: Store, lease_s: float) -> str | None:
    """Take the oldest queued job (or an async job whose lease expired): mark it running
    under this server's lease and return its id; None when there is nothing to do."""
    t = now()
    with store.session() as s:
        ids = s.scalars(
            select(Job.id)
            .where(_claimable_job(t))
            .order_by(Job.created_at, Job.position)
            .limit(_batch(store))
            .with_for_update(skip_locked=True)
        ).all()
        for job_id in ids:
            result = s.execute(
                update(Job)
                .where(Job.id == job_id, _claimable_job(t))
                .values(
                    state="running",
                    owner=store.owner,
                    lease_until=t + lease_s,
                    runs=Job.runs + 1,
                    updated_at=t,
                )
            )
            if getattr(result, "rowcount", 0) == 1:
                return str(job_id)
    return None


def hold_new_job(store: Store, job: Job, lease_s: float) -> None:
    """Mark a job created ``running`` (a synchronous request) as this server's."""
    job.owner = store.owner
    job.lease_until = now() + lease_s


def holds_job(store: Store, job: Job) -> bool:
    """True while ``job`` is running under this server's claim."""
    return job.state == "running" and job.owner == store.owner


def interrupted_sync(s: Session) -> Sequence[Job]:
    """Synchronous jobs whose server died (lease expired), locked for the caller to fail."""
    return s.scalars(
        select(Job)
        .where(
            Job.state == "running",
            Job.synchronous.is_(True),
            _expired(Job.lease_until, now()),
        )
        .limit(50)
        .with_for_update(skip_locked=True)
    ).all()


def claim_events(
    s: Session,
    store: Store,
    lease_s: float,
    limit: int = 20,
    urls: Sequence[str] | None = None,
) -> list[WebhookEvent]:
    """Due webhook events no live server is sending (only those to ``urls`` when given:
    one receiver's), claimed for this one (in ``s``)."""
    t = now()
    due = [
        WebhookEvent.state == "pending",
        WebhookEvent.next_at <= t,
        _expired(WebhookEvent.lease_until, t),
    ]
    if urls is not None:
        due.append(WebhookEvent.url.in_(list(urls)))
    candidates = s.scalars(
        select(WebhookEvent)
        .where(*due)
        .order_by(WebhookEvent.next_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = []
    for event in candidates:
        result = s.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.id == event.id,
                WebhookEvent.state == "pending",
                _expired(WebhookEvent.lease_until, t),
            )
            .values(owner=store.owner, lease_until=t + lease_s)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            event.owner, event.lease_until = store.owner, t + lease_s
            claimed.append(event)
    return claimed


def holds_event(store: Store, event: WebhookEvent) -> bool:
    return event.state == "pending" and event.owner == store.owner


def release_event(store: Store, event: WebhookEvent) -> None:
    """After an attempt: the event is anyone's again when its next retry is due."""
    if event.owner == store.owner:
        event.owner, event.lease_until = None, None


def renew(store: Store, lease_s: float) -> None:
    """Extend the lease of every job and event this server holds (its heartbeat)."""
    t = now()
    with store.session() as s:
        s.execute(
            update(Job)
            .where(Job.owner == store.owner, Job.state == "running")
            .values(lease_until=t + lease_s)
        )
        s.execute(
            update(WebhookEvent)
            .where(WebhookEvent.owner == store.owner, WebhookEvent.state == "pending")
            .values(lease_until=t + lease_s)
        )


def release(store: Store) -> int:
    """On shutdown: this server's unfinished async jobs go back to the queue and its
    events to the outbox, for another server now rather than after the lease; an
    unfinished synchronous job is left to expire (and fail). Returns the jobs released."""
    with store.session() as s:
        result = s.execute(
            update(Job)
            .where(Job.owner == store.owner, Job.state == "running", Job.synchronous.is_(False))
            .values(state="queued", owner=None, lease_until=None, updated_at=now())
        )
        s.execute(
            update(WebhookEvent)
            .where(WebhookEvent.owner == store.owner)
            .values(owner=None, lease_until=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def expire_all(store: Store) -> int:
    """SQLite start-up: one server per database file, so whatever is ``running`` belongs
    to a process that is gone; its leases end now instead of after the lease time."""
    with store.session() as s:
        result = s.execute(
            update(Job).where(Job.state == "running").values(lease_until=0.0, owner=None)
        )
        s.execute(
            update(WebhookEvent)
            .where(WebhookEvent.state == "pending")
            .values(lease_until=None, owner=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)
