"""Display series for sessions synced before boxes built them: computed once, in the
background, never inside a request.

A page that finds no ``session_series`` row for an ended session asks ``SERIES_JOBS`` for it
and shows a "preparing" state that reloads itself. Each web process has one worker thread that
computes one session at a time; a session asked for again while queued or computing is not
queued twice, and across processes (gunicorn workers) a PostgreSQL advisory lock lets only one
compute it: the others find the row when they next look. The computation streams the raw
chunks page by page through ``models.display_series.SeriesFeeder``, so its memory is bounded
by a window of samples whatever the session's length, and stores the record with
``source = 'web'`` (a record the box sends later replaces it).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from coach.review.raw_series import chunk_samples, iter_chunks
from models.display_series import RepSpan, SeriesBuilder, SeriesFeeder

log = logging.getLogger(__name__)

LOCK_SQL = "SELECT pg_try_advisory_xact_lock(hashtextextended('session_series:' || %s, 0))"


def _rep_spans(conn: Any, session_id: str, t0_ns: int) -> list[RepSpan]:
    """The session's reps: their stored monotonic span, else their start/end seconds from the
    first sample (what the box's analysis measures them from)."""
    with conn.cursor() as cur:
        cur.execute("SELECT rep_number, mono_start_ns, mono_end_ns, metrics->'start_s', "
                    "metrics->'end_s' FROM rep_metrics WHERE session_id = %s "
                    "ORDER BY rep_number", (session_id,))
        rows = cur.fetchall()
    spans = []
    for number, m0, m1, s0, s1 in rows:
        if m0 is None or m1 is None:
            if not isinstance(s0, (int, float)) or not isinstance(s1, (int, float)):
                continue
            m0, m1 = t0_ns + int(s0 * 1e9), t0_ns + int(s1 * 1e9)
        if m1 > m0 and number >= 1:
            spans.append(RepSpan(int(number), int(m0), int(m1)))
    return spans


def compute_series(conn: Any, session_id: str) -> dict[str, Any] | None:
    """The record of a session from its raw chunks (None without any)."""
    skipped: list[str] = []
    stream = chunk_samples(iter_chunks(conn, session_id), skipped)
    first = next(stream, None)
    if first is None:
        return None
    t0_ns = int(first[1].mono_ns[0])
    feeder = SeriesFeeder(SeriesBuilder(t0_ns), _rep_spans(conn, session_id, t0_ns))
    feeder.push(*first)
    for source, samples in stream:
        feeder.push(source, samples)
    doc = feeder.finish().as_json()
    if skipped:
        doc["notes"].append(f"{len(skipped)} raw chunk(s) could not be decoded and are left "
                            f"out (first: {skipped[0][:200]})")
    return doc


def compute_and_store(conn: Any, session_id: str) -> bool:
    """Compute and store the session's record unless it has one or another process is on it;
    True when this call stored it."""
    with conn.cursor() as cur:
        cur.execute(LOCK_SQL, (session_id,))
        if not cur.fetchone()[0]:
            conn.rollback()
            return False
        cur.execute("SELECT 1 FROM session_series WHERE session = %s", (session_id,))
        if cur.fetchone() is not None:
            conn.rollback()
            return False
    t0 = time.monotonic()
    doc = compute_series(conn, session_id)
    if doc is None:
        conn.rollback()
        return False
    with conn.cursor() as cur:
        cur.execute("INSERT INTO session_series (session, source, version, final, series) "
                    "VALUES (%s, 'web', 1, true, %s::jsonb) ON CONFLICT (session) DO NOTHING",
                    (session_id, json.dumps(doc, separators=(",", ":"))))
    conn.commit()
    log.info("session %s: display series computed from its raw data in %.1f s (synced before "
             "its box built one)", session_id, time.monotonic() - t0)
    return True


RETRY_AFTER_S = 60.0
RETRY_MAX_S = 3600.0
"""A failed computation is tried again when the session is next asked for, no sooner than
60 s after the failure, the wait doubling with each failure in a row up to an hour: a
transient database error clears itself, a session whose data cannot be computed costs one
attempt an hour per process."""


@dataclass
class _Failure:
    why: str
    count: int        # failures in a row
    retry_at: float   # on the jobs' clock


class SeriesJobs:
    """One worker thread per process (started on first use, again after a fork).
    ``clock``: monotonic seconds, for the retry delays."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Any, str]] = queue.Queue()
        self._wanted: set[str] = set()
        self._failed: dict[str, _Failure] = {}
        self._pid = 0
        self.computed = 0

    def request(self, database: Any, session_id: str) -> str | None:
        """Queue the session (once); while its last computation's failure is within its retry
        delay, returns why it failed and when it is tried again instead."""
        with self._lock:
            failure = self._failed.get(session_id)
            if failure is not None:
                wait = failure.retry_at - self.clock()
                if wait > 0:
                    return f"{failure.why} (tried {failure.count} time(s); trying again in {wait:.0f} s)"
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._wanted.clear()
                self._queue = queue.Queue()
                threading.Thread(target=self._run, args=(self._queue,), name="series-jobs",
                                 daemon=True).start()
            if session_id not in self._wanted:
                self._wanted.add(session_id)
                self._queue.put((database, session_id))
        return None

    def busy(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._wanted

    def _failed_now(self, session_id: str, exc: Exception) -> None:
        with self._lock:
            count = self._failed[session_id].count + 1 if session_id in self._failed else 1
            delay = min(RETRY_AFTER_S * 2 ** (count - 1), RETRY_MAX_S)
            self._failed[session_id] = _Failure(f"{type(exc).__name__}: {exc}"[:300], count,
                                                self.clock() + delay)
        log.warning("session %s: its display series is tried again when asked for after %.0f s "
                    "(%d failure(s) in a row)", session_id, delay, count)

    def _run(self, jobs: "queue.Queue[tuple[Any, str]]") -> None:
        while True:
            database, session_id = jobs.get()
            conn = None
            try:
                conn = database.getconn()
                if compute_and_store(conn, session_id):
                    self.computed += 1
                with self._lock:
                    self._failed.pop(session_id, None)
            except Exception as exc:  # one session must not stop the others
                log.exception("session %s: computing its display series failed", session_id)
                self._failed_now(session_id, exc)
                if conn is not None:
                    database.putconn(conn, broken=True)
                    conn = None
            finally:
                if conn is not None:
                    database.putconn(conn)
                with self._lock:
                    self._wanted.discard(session_id)


SERIES_JOBS = SeriesJobs()
