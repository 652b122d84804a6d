"""API keys (only their SHA-256 is stored), review-page sessions, per-key rate limits.

Keys are 32 random bytes, so a plain SHA-256 is enough at rest: there is nothing to
brute-force, and lookups stay one indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import delete, select

from packshot.errors import InputError
from packshot.service.errors import AuthError, NotFoundError, RateLimitError
from packshot.service.store import ApiKey, ReviewSession, Store, now

KEY_PREFIX = "psk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    created_at: float
    revoked_at: float | None


def create_key(store: Store, name: str) -> tuple[KeyInfo, str]:
    """A new key named ``name``; returns its record and the key itself (shown once)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError("A key name must be 1 to 200 characters.")
    key_id = "key_" + secrets.token_hex(6)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(id=key_id, name=name, key_hash=hash_key(key), created_at=now(), revoked_at=None)
    with store.session() as s:
        s.add(row)
    return KeyInfo(key_id, name, row.created_at, None), key


def list_keys(store: Store) -> list[KeyInfo]:
    with store.session() as s:
        rows = s.scalars(select(ApiKey).order_by(ApiKey.created_at)).all()
        return [KeyInfo(r.id, r.name, r.created_at, r.revoked_at) for r in rows]


def revoke_key(store: Store, key_id_or_name: str) -> KeyInfo:
    with store.session() as s:
        rows = s.scalars(
            select(ApiKey).where((ApiKey.id == key_id_or_name) | (ApiKey.name == key_id_or_name))
        ).all()
        if not rows:
            raise NotFoundError(f"No API key with id or name {key_id_or_name!r}.")
        if len(rows) > 1:
            raise InputError(
                f"{len(rows)} keys are named {key_id_or_name!r}; revoke one by its id "
                f"({', '.join(r.id for r in rows)})."
            )
        row = rows[0]
        if row.revoked_at is None:
            row.revoked_at = now()
        return KeyInfo(row.id, row.name, row.created_at, row.revoked_at)


def verify_key(store: Store, key: str | None) -> str:
    """The id of a valid key; AuthError otherwise."""
    if not key:
        raise AuthError(
            "An API key is required: send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>' "
            "(create one with 'packshot keys create NAME')."
        )
    with store.session() as s:
        row = s.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
        if row is None:
            raise AuthError("The API key is not valid.")
        if row.revoked_at is not None:
            raise AuthError("The API key has been revoked.")
        return row.id


def create_session(store: Store, key_id: str | None, ttl_s: float) -> str:
    """A new review-page session for ``key_id``; returns its token (for the cookie only:
    it opens the review page, never the API)."""
    token = secrets.token_urlsafe(32)
    t = now()
    with store.session() as s:
        s.add(ReviewSession(id=hash_key(token), key_id=key_id, created_at=t, expires_at=t + ttl_s))
    return token


def session_key(store: Store, token: str | None) -> str | None:
    """The key id a live session was opened with; AuthError when there is none, it has
    expired, or its key was revoked since."""
    if not token:
        raise AuthError("Sign in to the review page with an API key.")
    with store.session() as s:
        row = s.get(ReviewSession, hash_key(token))
        if row is None or row.expires_at < now():
            raise AuthError("The review session has ended; sign in again.")
        key = s.get(ApiKey, row.key_id) if row.key_id else None
        if row.key_id and (key is None or key.revoked_at is not None):
            s.delete(row)
            raise AuthError("The API key of this session has been revoked.")
        return row.key_id


def end_session(store: Store, token: str | None) -> None:
    if token:
        with store.session() as s:
            s.execute(delete(ReviewSession).where(ReviewSession.id == hash_key(token)))


def form_token(secret: bytes, session_token: str | None) -> str:
    """The anti-forgery token a session's forms carry: only a page of this server, read
    with the session cookie, can know it."""
    message = b"review-form:" + (session_token or "").encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> None:
        t = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.capacity, t))
            tokens = min(self.capacity, tokens + (t - last) * self.rate)
            if tokens < 1.0:
                wait = (1.0 - tokens) / self.rate
                self._buckets[key_id] = (tokens, t)
                raise RateLimitError(
                    f"Rate limit of {int(self.capacity)} requests per minute exceeded; "
                    f"retry in {math.ceil(wait)} s.",
                    retry_after=wait,
                )
            self._buckets[key_id] = (tokens - 1.0, t)
