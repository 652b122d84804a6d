"""Signed webhook events with retries: an outbox in the job store, drained per receiver.

An event is written in the same transaction as the job state it reports, keyed by its
idempotency key ``<job id>:<state>``, so each state of each item yields one event even when
the job is re-run after a crash. The sender POSTs the stored body unchanged on every
attempt with:

- ``X-Packshot-Timestamp``: Unix seconds of this attempt;
- ``X-Packshot-Signature``: ``v1=`` + hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``
  with the server's secret (receivers reject old timestamps to stop replays);
- ``Idempotency-Key`` and ``X-Packshot-Event``: the event id and type.

A failed attempt (connection error or non-2xx) is retried after ``backoff * 2**n``
seconds, up to ``webhook_max_attempts``; every attempt is logged in
``webhook_deliveries``. Each receiver (scheme, host and port of its URL) has its own
sender thread while it has due events, at most ``webhook_senders`` at once: a receiver
that is slow or times out delays only its own events, in order, never another's. Each due
event is claimed under a lease by one server (:func:`packshot.service.claims.claim_events`),
so servers sharing a database never send it together, and any of them retries it.
Delivery is at-least-once: only a server dying between the receiver's answer and the
commit that records it sends an event twice, with the same idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.parse
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from packshot.errors import BlockedURLError, InputError, PackshotError
from packshot.fetch import post_bytes
from packshot.service import claims
from packshot.service.settings import Settings
from packshot.service.store import Delivery, Store, WebhookEvent, now

logger = logging.getLogger(__name__)

EVENT_FOR_STATE = {"done": "run.completed", "failed": "run.failed"}


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def add_event(session: Session, job_id: str, state: str, url: str, payload: dict[str, Any]) -> None:
    """Queue the event for ``job_id`` reaching ``state`` (once: a repeat is ignored)."""
    event_id = f"{job_id}:{state}"
    if session.get(WebhookEvent, event_id) is not None:
        return
    event = EVENT_FOR_STATE[state]
    t = now()
    body = json.dumps(
        {"id": event_id, "type": event, "created_at": t, "data": payload},
        separators=(",", ":"),
        sort_keys=True,
    )
    session.add(
        WebhookEvent(
            id=event_id,
            job_id=job_id,
            url=url,
            event=event,
            body=body,
            state="pending",
            attempts=0,
            next_at=t,
            delivered_at=None,
            created_at=t,
        )
    )


def receiver_of(url: str) -> str:
    """Who answers ``url``: deliveries to one receiver are serial, receivers in parallel."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port or ''}"


class WebhookSender:
    """A dispatcher thread that starts one sender thread per receiver with due events."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._key = settings.signing_key()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._busy: dict[str, threading.Thread] = {}
        self._thread = threading.Thread(target=self._loop, name="packshot-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=15)
        with self._lock:
            senders = list(self._busy.values())
        deadline = time.monotonic() + self.settings.webhook_timeout_s + 5
        for thread in senders:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def notify(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatch()
            except Exception:  # the sender must outlive a database hiccup
                logger.exception("webhook dispatcher failed; retrying")
            self._wake.wait(timeout=0.5)
            self._wake.clear()

    def due_receivers(self) -> dict[str, list[str]]:
        """Receivers with events due now, each with its URLs."""
        with self.store.session() as s:
            urls = s.scalars(
                select(WebhookEvent.url)
                .where(WebhookEvent.state == "pending", WebhookEvent.next_at <= now())
                .distinct()
            ).all()
        receivers: dict[str, list[str]] = {}
        for url in urls:
            receivers.setdefault(receiver_of(url), []).append(url)
        return receivers

    def dispatch(self) -> int:
        """Start a sender for every receiver with due events that has none running."""
        started = 0
        for receiver, urls in self.due_receivers().items():
            with self._lock:
                if receiver in self._busy or len(self._busy) >= self.settings.webhook_senders:
                    continue
                thread = threading.Thread(
                    target=self._drain,
                    args=(receiver, urls),
                    name=f"packshot-webhook-{len(self._busy)}",
                    daemon=True,
                )
                self._busy[receiver] = thread
            thread.start()
            started += 1
        return started

    def _drain(self, receiver: str, urls: list[str]) -> None:
        """Deliver one receiver's due events, oldest first, until none is due."""
        try:
            while not self._stop.is_set():
                with self.store.session() as s:
                    due = claims.claim_events(s, self.store, self.settings.lease_s, urls=urls)
                if not due:
                    return
                for event in due:
                    if self._stop.is_set():
                        return
                    self._attempt(event)
        except Exception:
            logger.exception("webhook sender for %s failed; it will be restarted", receiver)
        finally:
            with self._lock:
                self._busy.pop(receiver, None)
            # Its free slot or its newly due retries may be waiting.
            self._wake.set()

    def _attempt(self, event: WebhookEvent) -> None:
        body = event.body.encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Packshot-Timestamp": timestamp,
            "X-Packshot-Signature": signature(self._key, timestamp, body),
            "X-Packshot-Event": event.event,
            "Idempotency-Key": event.id,
        }
        status: int | None = None
        error: str | None = None
        permanent = False
        t0 = time.perf_counter()
        try:
            status = post_bytes(
                event.url,
                body,
                headers=headers,
                timeout=self.settings.webhook_timeout_s,
                allow_private=self.settings.allow_private_urls,
            )
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (BlockedURLError, InputError) as exc:
            # A refused address or a malformed URL will not get better with retries.
            error, permanent = str(exc), True
        except PackshotError as exc:
            error = str(exc)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration = (time.perf_counter() - t0) * 1000
        with self.store.session() as s:
            row = s.get(WebhookEvent, event.id)
            if row is None or row.state != "pending":
                return
            row.attempts += 1
            s.add(
                Delivery(
                    event_id=event.id,
                    attempt=row.attempts,
                    at=now(),
                    status_code=status,
                    error=error,
                    duration_ms=round(duration, 1),
                )
            )
            if error is None:
                row.state = "delivered"
                row.delivered_at = now()
            elif not claims.holds_event(self.store, row):
                pass  # taken over while this attempt ran: its retries are the new owner's
            elif permanent or row.attempts >= self.settings.webhook_max_attempts:
                row.state = "failed"
                logger.warning("webhook %s to %s gave up: %s", event.id, event.url, error)
            else:
                row.next_at = now() + self.settings.webhook_backoff_s * 2 ** (row.attempts - 1)
            claims.release_event(self.store, row)
