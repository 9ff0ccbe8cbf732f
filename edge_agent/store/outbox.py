"""The sync outbox: one entry per row (version) that still has to reach PostgreSQL.

An entry is written in the same transaction as its row, read by the sync worker with
``pending``, and deleted by ``ack`` only after the database confirmed the upsert. Delivery is
at-least-once: a row may be sent twice (crash between upsert and ack, or one entry per change
of a session row); the ids are box-made UUIDs, so the upserts are idempotent.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable

SYNCED_TABLES: tuple[str, ...] = (
    "sessions", "sensor_data", "performance_metrics", "feedback", "rep_metrics", "live_reps",
    "session_series",
)
"""Outbox ``kind`` is the table name."""

_JSON_COLUMNS = {"performance_metrics": ("details",), "rep_metrics": ("metrics",),
                 "session_series": ("series",)}
_REWRITTEN = frozenset({"session_series"})
"""Rows rewritten whole many times (a series at every rep): one pending entry is enough, since
an entry sends the row's content at the time it is read."""


@dataclass(frozen=True)
class OutboxItem:
    """One pending entry with the current content of its row.

    ``payload`` is the row as a dict (column -> value; JSON columns decoded, except
    ``sensor_data.raw_data`` which stays the exact JSON text to forward as ``raw_data``), or
    None when the row no longer exists (ack such entries; nothing to send).
    """

    id: int
    kind: str
    row_id: str
    created_at: float
    attempts: int
    last_error: str | None
    payload: dict[str, Any] | None


def add_entry(conn: sqlite3.Connection, kind: str, row_id: str, now: float) -> None:
    if kind not in SYNCED_TABLES:
        raise ValueError(f"outbox kind {kind!r} is not one of {SYNCED_TABLES}")
    if kind in _REWRITTEN:
        conn.execute("DELETE FROM outbox WHERE kind = ? AND row_id = ?", (kind, row_id))
    conn.execute("INSERT INTO outbox (kind, row_id, created_at) VALUES (?, ?, ?)",
                 (kind, row_id, now))


def row_payload(conn: sqlite3.Connection, kind: str, row_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT * FROM {kind} WHERE id = ?", (row_id,)).fetchone()
    if row is None:
        return None
    payload = dict(row)
    for column in _JSON_COLUMNS.get(kind, ()):
        if payload[column] is not None:
            payload[column] = json.loads(payload[column])
    return payload


def pending(conn: sqlite3.Connection, limit: int) -> list[OutboxItem]:
    """The oldest ``limit`` entries, oldest first, each with its row's current content."""
    if limit < 1:
        raise ValueError(f"pending(limit={limit}): limit must be >= 1")
    rows = conn.execute("SELECT * FROM outbox ORDER BY id LIMIT ?", (limit,)).fetchall()
    return [OutboxItem(id=r["id"], kind=r["kind"], row_id=r["row_id"],
                       created_at=r["created_at"], attempts=r["attempts"],
                       last_error=r["last_error"],
                       payload=row_payload(conn, r["kind"], r["row_id"]))
            for r in rows]


def ack(conn: sqlite3.Connection, ids: Iterable[int]) -> int:
    """Delete exactly these entries; returns how many existed."""
    ids = list(ids)
    conn.execute("BEGIN IMMEDIATE")
    try:
        deleted = sum(conn.execute("DELETE FROM outbox WHERE id = ?", (i,)).rowcount
                      for i in ids)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return deleted


def mark_failed(conn: sqlite3.Connection, ids: Iterable[int], error: str, now: float) -> None:
    """Count one failed attempt on each entry and keep the error text for the operator."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?, "
                         "last_error = ? WHERE id = ?", [(now, error[:1000], i) for i in ids])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def backlog(conn: sqlite3.Connection) -> dict[str, int]:
    """Pending entries per kind (kinds with none are left out)."""
    return {r[0]: r[1] for r in
            conn.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind ORDER BY kind")}
