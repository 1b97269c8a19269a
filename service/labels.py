"""Labels people give catalogue objects ("anomaly" / "normal"), kept in SQLite.

Durable (every write is committed before the answer; the file survives restarts) and safe
with concurrent writers (several workers or processes on one file: SQLite's write lock, WAL,
a busy timeout). One row per object and catalogue: the latest label wins; when and a note
are kept with it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from lcad.models.catalogue import LABELS

SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    catalogue TEXT NOT NULL,
    object_id TEXT NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('anomaly', 'normal')),
    note TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL,
    PRIMARY KEY (catalogue, object_id)
)
"""


class LabelStore:
    def __init__(self, path: str | Path, catalogue: str = "") -> None:
        self.path = Path(path)
        self.catalogue = catalogue
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30.0)

    def put(self, object_id: str, label: str, note: str = "") -> dict[str, Any]:
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
        row = {"object_id": object_id, "label": label, "note": note, "updated": time.time()}
        db = self._connect()
        try:
            with db:  # one transaction, committed before we answer
                db.execute(
                    "INSERT INTO labels (catalogue, object_id, label, note, updated) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (catalogue, object_id) DO UPDATE SET "
                    "label = excluded.label, note = excluded.note, updated = excluded.updated",
                    (self.catalogue, object_id, label, note, row["updated"]))
        finally:
            db.close()
        return row

    def delete(self, object_id: str) -> bool:
        db = self._connect()
        try:
            with db:
                cur = db.execute("DELETE FROM labels WHERE catalogue = ? AND object_id = ?",
                                 (self.catalogue, object_id))
        finally:
            db.close()
        return cur.rowcount > 0

    def all(self) -> list[dict[str, Any]]:
        db = self._connect()
        try:
            rows = db.execute("SELECT object_id, label, note, updated FROM labels "
                              "WHERE catalogue = ? ORDER BY updated", (self.catalogue,))
            return [dict(zip(("object_id", "label", "note", "updated"), r, strict=True))
                    for r in rows]
        finally:
            db.close()

    def mapping(self) -> dict[str, str]:
        return {r["object_id"]: r["label"] for r in self.all()}
