"""The batch manifest: one SQLite row per (SKU, target), so a batch can stop and resume.

A row is written when its output file is in place (files are written atomically first),
so a crash leaves either a finished row with its file or no row at all. Re-running a batch
skips targets whose row says ``done`` and whose file still exists with the recorded size;
failed targets are tried again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packshot.errors import InputError
from packshot.pipeline import storage

MANIFEST_NAME = "manifest.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS targets (
    sku TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('done', 'failed', 'held')),
    output TEXT,
    bytes INTEGER,
    error TEXT,
    info TEXT NOT NULL DEFAULT '{}',
    updated REAL NOT NULL,
    PRIMARY KEY (sku, target)
)
"""


@dataclass(frozen=True)
class TargetRecord:
    """The recorded outcome of one (SKU, target)."""

    sku: str
    target: str
    source: str
    state: str
    output: str | None
    bytes: int | None
    error: str | None
    info: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.state == "done"

    @property
    def held(self) -> bool:
        """Written, but the quality gate held it for review (not delivered)."""
        return self.state == "held"


class Manifest:
    """A batch's state in ``<out_dir>/manifest.sqlite`` (single writer: the batch driver)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST_NAME
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot open the batch manifest ({exc})") from exc

    def _migrate(self) -> None:
        # Manifests from before the quality gate refuse the 'held' state: rebuild the table.
        row = self._db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'targets'"
        ).fetchone()
        if row is None or "'held'" in row[0]:
            return
        with self._db:
            self._db.execute("ALTER TABLE targets RENAME TO targets_old")
            self._db.execute(_SCHEMA)
            self._db.execute("INSERT INTO targets SELECT * FROM targets_old")
            self._db.execute("DROP TABLE targets_old")

    def close(self) -> None:
        self._db.close()

    def record(self, rec: TargetRecord) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO targets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.sku,
                    rec.target,
                    rec.source,
                    rec.state,
                    rec.output,
                    rec.bytes,
                    rec.error,
                    json.dumps(rec.info, sort_keys=True),
                    time.time(),
                ),
            )

    def is_done(self, sku: str, target: str, fingerprint: str | None = None) -> bool:
        """Done (or held for review: the same input gives the same verdict) with the same
        settings (``fingerprint``), its file there with its size.

        The fingerprint covers what the output depends on (the preset's fields, the model),
        so editing a preset or recipe and re-running re-renders the affected targets.
        """
        row = self._db.execute(
            "SELECT output, bytes, info FROM targets "
            "WHERE sku = ? AND target = ? AND state IN ('done', 'held')",
            (sku, target),
        ).fetchone()
        if row is None or row[0] is None:
            return False
        if fingerprint is not None and json.loads(row[2]).get("fingerprint") != fingerprint:
            return False
        recorded: int | None = row[1]
        return storage.size(row[0]) == recorded

    def records(self) -> list[TargetRecord]:
        rows = self._db.execute(
            "SELECT sku, target, source, state, output, bytes, error, info FROM targets "
            "ORDER BY sku, target"
        ).fetchall()
        return [
            TargetRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows
        ]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            with self._db:
                yield
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot update the batch manifest ({exc})") from exc
