"""The job store: API keys, jobs and batches, webhook events and their deliveries, reviews.

One SQLAlchemy database (SQLite file by default for one server; PostgreSQL for several
servers sharing the work). Everything a restart needs is here: a job is ``queued`` until a
server claims it under a lease (:mod:`packshot.service.claims`), a job whose server died
is taken over when its lease expires, and a webhook
event is written in the same transaction as the job state it reports (an outbox), keyed
by ``<job>:<state>`` so each state produces exactly one event, however often the job is
re-run after a crash.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Boolean,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    false,
    inspect,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from packshot.errors import PackshotError

JOB_STATES = ("queued", "running", "done", "failed", "held")
FINAL_STATES = frozenset({"done", "failed"})


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[str | None] = mapped_column(
        ForeignKey("batches.id"), nullable=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    solution: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)
    """JSON: the request's fields, with images as {"file": name} or {"url": ...}."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    """How many times a server started the job (1, or 2 after a takeover)."""
    synchronous: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Run inside its HTTP request: never re-run after a crash (its client is gone)."""
    owner: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    """The server holding the job while it runs (see :mod:`packshot.service.claims`)."""
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "batch_id": self.batch_id,
            "ref": json.loads(self.params).get("ref"),
            "solution": self.solution,
            "state": self.state,
            "result": json.loads(self.result) if self.result else None,
            "error": (
                {"code": self.error_code, "message": self.error_message}
                if self.error_code
                else None
            ),
            "runs": self.runs,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    """The idempotency key: ``<job id>:<state>``."""
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    url: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    """The exact bytes sent (and signed) on every attempt."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    owner: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    """The server sending the event right now (see :mod:`packshot.service.claims`)."""
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)


class Delivery(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)


class Review(Base):
    __tablename__ = "reviews"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    output: Mapped[str] = mapped_column(String(200))
    """Result file name (under the job's result folder)."""
    source: Mapped[str] = mapped_column(String(200))
    """Input file name (under the job's input folder)."""
    gate: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    """held, approved, rejected or rerun."""
    rerun_job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ReviewSession(Base):
    """A signed-in review page: the browser holds a random token, the store its hash."""

    __tablename__ = "review_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the cookie's token."""
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; NORMAL sync is durable across a
    # process kill (only an OS crash can lose the last transaction).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Any fixed number: the PostgreSQL advisory lock servers starting together take while
# they create or upgrade the tables (CREATE TABLE is not safe to race).
_SCHEMA_LOCK = 0x7061636B


def _create_schema(engine: Engine) -> None:
    """Create missing tables and add columns a newer release introduced (all nullable
    or defaulted), so an existing database keeps working after an upgrade."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
        Base.metadata.create_all(conn)
        found = inspect(conn)
        for table in Base.metadata.sorted_tables:
            have = {c["name"] for c in found.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = ""
                if column.server_default is not None:
                    clause = getattr(column.server_default, "arg", None)
                    if clause is not None:
                        compiled = clause.compile(dialect=engine.dialect)
                        default = f" NOT NULL DEFAULT {compiled}"
                conn.execute(
                    text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{default}')
                )


class Store:
    """The database behind one server (several threads share it). :attr:`owner` names
    this server on the rows it claims."""

    def __init__(self, url: str) -> None:
        if url.startswith(("postgresql://", "postgres://")):
            # The driver this package installs (SQLAlchemy's default would be psycopg2).
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        sqlite = url.startswith("sqlite")
        self.sqlite = sqlite
        self.engine: Engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {},
            pool_pre_ping=not sqlite,
        )
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            _create_schema(self.engine)
        except (SQLAlchemyError, ImportError) as exc:
            self.engine.dispose()
            where = self.engine.url.render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise PackshotError(f"Cannot use the database {where}: {reason}") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Unique per start, readable in the rows: host, process, and a random tail.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        """Raises when the database cannot be reached (the readiness probe)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def now() -> float:
    return time.time()
