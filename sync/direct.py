"""PostgreSQL writer shared by the direct sink and the ingester, the direct sink itself, and
the plain ``COPY`` baseline used by the benchmark.

One ``PgWriter.write`` call is one transaction: dead letters and every record's upserts commit
together or not at all. Errors split in two:

* *transient* (connection lost, server restarting, deadlock, serialization failure): rolled
  back and raised as ``TransientDbError``; the caller keeps everything and retries later;
* *data* errors (a row PostgreSQL refuses, e.g. a CHECK violation): the batch is rolled back
  and written again record by record, each under a savepoint, so that only the refused rows
  go to ``dead_letters`` (with the database's reason) and the rest is stored.
"""
from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import psycopg2
import psycopg2.errors
from psycopg2.extras import execute_values

from sync.outbox import OutboxEntry
from sync.rows import RowError, SyncRecord, WriteOutcome, apply_records, check_row

log = logging.getLogger(__name__)

Connect = Callable[[], Any]
"""Returns a new psycopg2 connection."""


class TransientDbError(Exception):
    """The database could not be reached or asked for a retry; nothing was committed."""


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    payload: bytes
    topic: str | None = None
    device_id: str | None = None


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError,
                            psycopg2.errors.SerializationFailure,
                            psycopg2.errors.DeadlockDetected))


def record_dead_letter(rec: SyncRecord, reason: str, topic: str | None = None) -> DeadLetter:
    body = json.dumps({"kind": rec.kind, "outbox_id": rec.outbox_id, "row": rec.row},
                      separators=(",", ":"), default=str).encode()
    return DeadLetter(reason, body, topic, rec.device_id)


class PgWriter:
    """Writes records and dead letters in one transaction per call, reconnecting as needed."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = self._connect()
            except psycopg2.Error as exc:
                raise TransientDbError(f"cannot connect to PostgreSQL: {_one_line(exc)}") from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def write(self, records: Sequence[SyncRecord],
              dead_letters: Sequence[DeadLetter] = (),
              dead_topic: Callable[[SyncRecord], str | None] = lambda r: None,
              before_commit: Callable[[], None] | None = None) -> WriteOutcome:
        """Store ``records`` and ``dead_letters``; records PostgreSQL refuses become dead
        letters too (topic from ``dead_topic``). Raises ``TransientDbError``."""
        conn = self._connection()
        try:
            try:
                with conn.cursor() as cur:
                    outcome = apply_records(cur, records)
            except Exception as exc:  # any bad row: find it, store the rest
                if isinstance(exc, psycopg2.Error) and _is_transient(exc):
                    raise
                conn.rollback()
                log.warning("a batch of %d rows could not be stored (%s); storing them one by "
                            "one to find the bad ones", len(records), _describe(exc))
                outcome = self._write_one_by_one(conn, records)
            letters = list(dead_letters) + [record_dead_letter(rec, reason, dead_topic(rec))
                                            for rec, reason in outcome.dead]
            if letters:
                with conn.cursor() as cur:
                    execute_values(
                        cur, "INSERT INTO dead_letters (topic, device_id, reason, payload) "
                             "VALUES %s",
                        [(d.topic, d.device_id, d.reason[:2000], psycopg2.Binary(d.payload))
                         for d in letters], page_size=len(letters))
            if before_commit is not None:
                before_commit()
            conn.commit()
            return outcome
        except psycopg2.Error as exc:
            self._discard(conn)
            if _is_transient(exc):
                raise TransientDbError(f"PostgreSQL unavailable: {_one_line(exc)}") from exc
            raise
        except BaseException:
            self._discard(conn)
            raise

    def _write_one_by_one(self, conn: Any, records: Sequence[SyncRecord]) -> WriteOutcome:
        outcome = WriteOutcome()
        with conn.cursor() as cur:
            for rec in records:
                cur.execute("SAVEPOINT one_record")
                try:
                    outcome.extend(apply_records(cur, [rec]))
                    cur.execute("RELEASE SAVEPOINT one_record")
                except Exception as exc:  # this record only
                    if isinstance(exc, psycopg2.Error) and _is_transient(exc):
                        raise
                    if not isinstance(exc, psycopg2.Error):
                        log.error("%s row %s could not be stored", rec.kind, rec.row.get("id"),
                                  exc_info=True)
                    cur.execute("ROLLBACK TO SAVEPOINT one_record")
                    outcome.dead.append((rec, _describe(exc)))
        return outcome

    def _discard(self, conn: Any) -> None:
        try:
            conn.rollback()
        except psycopg2.Error:
            self.close()
        if conn.closed:
            self._conn = None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def _describe(exc: BaseException) -> str:
    """A dead letter's reason for a row that could not be stored."""
    if isinstance(exc, psycopg2.Error):
        return f"refused by PostgreSQL: {_one_line(exc)}"
    return f"cannot be stored ({type(exc).__name__}): {_one_line(exc)}"


def records_from_entries(entries: Iterable[OutboxEntry], device_id: str
                         ) -> tuple[list[SyncRecord], list[tuple[SyncRecord, str]]]:
    """Outbox entries (with a payload) as records; entries whose row fails ``check_row``
    come back separately with the reason."""
    good: list[SyncRecord] = []
    bad: list[tuple[SyncRecord, str]] = []
    for e in entries:
        rec = SyncRecord(e.kind, dict(e.payload or {}), device_id, e.id)
        try:
            check_row(e.kind, e.payload)
            if e.kind == "sessions" and e.payload["device_id"] != device_id:
                raise RowError(f"sessions row {e.row_id} belongs to device "
                               f"{e.payload['device_id']!r}, not this box ({device_id!r})")
        except RowError as exc:
            bad.append((rec, str(exc)))
            continue
        good.append(rec)
    return good, bad


class DirectSink:
    """Sends outbox entries straight to PostgreSQL (the box holds a database login)."""

    def __init__(self, writer: PgWriter, device_id: str) -> None:
        self.writer = writer
        self.device_id = device_id

    def send(self, entries: Sequence[OutboxEntry]) -> tuple[list[int], list[int]]:
        """Store entries in one transaction; returns (ids done, ids deferred). Done includes
        rows refused and kept in ``dead_letters``. Raises ``TransientDbError``."""
        good, bad = records_from_entries(entries, self.device_id)
        letters = [record_dead_letter(rec, reason) for rec, reason in bad]
        outcome = self.writer.write(good, letters)
        for rec, reason in [*bad, *outcome.dead]:
            log.error("outbox entry %d (%s %s) cannot be stored and went to dead_letters: %s",
                      rec.outbox_id, rec.kind, rec.row.get("id"), reason)
        done = [r.outbox_id for r in outcome.stored] + [r.outbox_id for r, _ in outcome.dead]
        done += [r.outbox_id for r, _ in bad]
        return done, [r.outbox_id for r in outcome.deferred]

    def close(self) -> None:
        self.writer.close()


def copy_sensor_rows(conn: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Plain ``COPY`` of sensor_data rows (local-store columns) in one transaction: the
    benchmark's upper bound for what PostgreSQL can ingest, with no upsert logic."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for r in rows:
        writer.writerow((r["id"], r["session_id"], _iso(r["timestamp"]), r["raw_data"],
                         "" if r.get("chunk_seq") is None else r["chunk_seq"],
                         r["t_first_ns"], r["t_last_ns"]))
    buf.seek(0)
    with conn.cursor() as cur:
        cur.copy_expert("COPY sensor_data (id, session, started_at, raw_data, chunk_seq, "
                        "mono_start_ns, mono_end_ns) FROM STDIN WITH (FORMAT csv)", buf)
    conn.commit()


def _iso(unix_s: float) -> str:
    """UTC wall time without zone, as the seed's TIMESTAMP columns hold it."""
    from datetime import datetime, timezone
    return datetime.fromtimestamp(unix_s, timezone.utc).replace(tzinfo=None).isoformat()
