"""A local SQLite copy of a practice's DrChrono lists, keyed by patient, written page by page.

Spooling the practice-wide lists once costs a few hundred requests where per-patient calls
would cost thousands (DrChrono allows 500 an hour). Each page is committed together with the
``next`` link that follows it, so an interrupted walk resumes at the page it stopped on, and
memory stays flat: nothing holds more than one page or one patient at a time.

The spool holds PHI: it lives in the export's staging directory and goes with it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS walks (
    name TEXT PRIMARY KEY,
    next_url TEXT,
    complete INTEGER NOT NULL DEFAULT 0,
    listed INTEGER
);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    patient_id TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, record_id)
);
CREATE INDEX IF NOT EXISTS records_by_patient ON records (kind, patient_id);
"""


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """One API object as DrChrono sent it, with the patient it belongs to (if any)."""

    record_id: str
    patient_id: str | None
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WalkState:
    """How far the paging of one list got: not started, mid-way (next_url), or complete."""

    started: bool
    next_url: str | None
    complete: bool


def spool_key(body: dict[str, Any]) -> str:
    """The object's id, or a stable stand-in for an object that lacks one (it still counts)."""
    value = body.get("id")
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
        return str(value)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return f"unidentified-{digest}"


class Spool:
    """The spool file. One writer at a time (the source that prepares it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        if self.meta("schema") not in (None, SCHEMA_VERSION):
            self.reset()
        self.set_meta("schema", SCHEMA_VERSION)

    def close(self) -> None:
        self._db.close()

    def reset(self) -> None:
        """Forget everything: the next prepare starts from scratch."""
        with self._transaction():
            for table in ("meta", "walks", "records"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names

    # -- Metadata ----------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- Writing -----------------------------------------------------------------------------

    def walk(self, name: str) -> WalkState:
        row = self._db.execute(
            "SELECT next_url, complete FROM walks WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return WalkState(started=False, next_url=None, complete=False)
        return WalkState(started=True, next_url=row[0], complete=bool(row[1]))

    def save_page(
        self,
        walk: str,
        records: Mapping[str, Iterable[SpooledRecord]],
        next_url: str | None,
        *,
        listed: int | None = None,
    ) -> None:
        """Store one page's records (by kind) and where the walk goes next, atomically.
        Re-saving is harmless. ``listed``: how many records the API said the whole list holds;
        the first page's figure is kept."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO records (kind, record_id, patient_id, body) "
                "VALUES (?, ?, ?, ?)",
                (
                    (kind, record.record_id, record.patient_id, json.dumps(record.body))
                    for kind, of_kind in records.items()
                    for record in of_kind
                ),
            )
            self._db.execute(
                "INSERT INTO walks (name, next_url, complete, listed) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET "
                "next_url = excluded.next_url, complete = excluded.complete, "
                "listed = coalesce(walks.listed, excluded.listed)",
                (walk, next_url, next_url is None, listed),
            )

    def listed(self, walk: str) -> int | None:
        """How many records the API said the walk's list holds, if it said."""
        row = self._db.execute("SELECT listed FROM walks WHERE name = ?", (walk,)).fetchone()
        return None if row is None else row[0]

    # -- Reading -----------------------------------------------------------------------------

    def get(self, kind: str, record_id: str) -> SpooledRecord | None:
        row = self._db.execute(
            "SELECT record_id, patient_id, body FROM records WHERE kind = ? AND record_id = ?",
            (kind, record_id),
        ).fetchone()
        return None if row is None else _record(row)

    def records_of(self, kind: str, patient_id: str) -> list[SpooledRecord]:
        """One patient's records of one kind, in id order."""
        rows = self._db.execute(
            "SELECT record_id, patient_id, body FROM records WHERE kind = ? AND patient_id = ? "
            "ORDER BY length(record_id), record_id",
            (kind, patient_id),
        )
        return [_record(row) for row in rows]

    def all_records(self, kind: str) -> Iterator[SpooledRecord]:
        """Every record of a kind, streamed."""
        rows = self._db.execute(
            "SELECT record_id, patient_id, body FROM records WHERE kind = ? "
            "ORDER BY length(record_id), record_id",
            (kind,),
        )
        for row in rows:
            yield _record(row)

    def unowned_records(self, kind: str, owner_kind: str) -> Iterator[SpooledRecord]:
        """Records of ``kind`` whose patient is missing or not among ``owner_kind`` records."""
        rows = self._db.execute(
            "SELECT record_id, patient_id, body FROM records WHERE kind = ? AND "
            "(patient_id IS NULL OR patient_id NOT IN "
            " (SELECT record_id FROM records WHERE kind = ?)) "
            "ORDER BY length(record_id), record_id",
            (kind, owner_kind),
        )
        for row in rows:
            yield _record(row)

    def repeated_values(self, kind: str, field: str) -> Iterator[str]:
        """Values of a top-level ``field`` that more than one record of ``kind`` holds."""
        rows = self._db.execute(
            "SELECT json_extract(body, ?) AS value FROM records WHERE kind = ? "
            "AND value IS NOT NULL GROUP BY value HAVING count(*) > 1",
            (f"$.{field}", kind),
        )
        for (value,) in rows:
            yield str(value)

    def record_ids(self, kind: str) -> Iterator[str]:
        rows = self._db.execute(
            "SELECT record_id FROM records WHERE kind = ? ORDER BY length(record_id), record_id",
            (kind,),
        )
        for (record_id,) in rows:
            yield record_id

    def count(self, kind: str) -> int:
        return self._db.execute("SELECT count(*) FROM records WHERE kind = ?", (kind,)).fetchone()[
            0
        ]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _record(row: tuple[str, str | None, str]) -> SpooledRecord:
    return SpooledRecord(record_id=row[0], patient_id=row[1], body=json.loads(row[2]))
