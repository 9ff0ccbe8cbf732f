"""The batched writer: a worker thread that owns the write connection.

The real-time path hands rows and frames over through ``submit_row`` / ``submit_frames``,
which only append to in-memory queues under a short lock and never touch the disk. The
worker commits everything queued at least every ``commit_interval_s`` (or at once on
``flush``), in one transaction per batch, with the outbox entry of every row in the same
transaction.

Drop policy when the box cannot keep up: raw frames are bounded (``max_queued_frames``, which
counts frames waiting and frames in a batch that failed to commit); a frame batch that would
exceed it is dropped whole and counted. Rows (sessions, metrics, feedback, reps) are never
dropped for lack of room: they are few (a handful per rep) and are what the athlete and coach
see.

One bad value never stops the worker: a row SQLite cannot take (a constraint, a lone surrogate
in a string, an integer beyond 64 bits) is rolled back to its savepoint, logged and counted in
``rejected_rows``; the rest of its batch commits. Only errors of the database itself
(``sqlite3.OperationalError``: disk full, I/O) keep a batch for retry. Anything else the
worker did not expect drops that tick's items, is logged and counted (``tick_failures``), and
the worker goes on with the next tick.
"""
from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from edge_agent.store.db import connect
from edge_agent.store.outbox import add_entry
from sensors.frame import Frame

log = logging.getLogger(__name__)

DROP_QUEUE_FULL = "raw_frames_queue_full"
DROP_DISK_CAP = "raw_frames_disk_cap"
DROP_TICK_FAILED = "items_unexpected_error"
RETRIED_SQLITE_ERRORS = (sqlite3.OperationalError,)
"""Database errors a batch is kept and retried for (the disk, not the row, is the trouble);
every other error refuses the one row that raised it."""


@dataclass(frozen=True)
class RowWrite:
    """One SQL statement that creates or changes the row ``table.row_id``.

    ``must_change``: the statement must affect a row (an UPDATE of a known row); when it does
    not, the write is logged and rejected instead of queueing a pointless outbox entry.
    """

    table: str
    row_id: str
    sql: str
    params: tuple[Any, ...]
    must_change: bool = False


@dataclass(frozen=True)
class FrameBatch:
    session_id: str
    frames: Sequence[Frame]


FrameEncoder = Callable[[list[FrameBatch]], list[RowWrite]]
"""Turns queued frame batches into ``sensor_data`` row writes (chunking policy lives there)."""

AfterTick = Callable[[sqlite3.Connection, bool], None]
"""Called by the worker after each tick with its connection and whether it committed."""


class BatchWriter:
    def __init__(self, db_path: Path, encode_frames: FrameEncoder, after_tick: AfterTick,
                 commit_interval_s: float = 1.0, max_queued_frames: int = 10_000,
                 synchronous: str = "FULL") -> None:
        if commit_interval_s <= 0:
            raise ValueError(f"commit_interval_s must be > 0, got {commit_interval_s}")
        if max_queued_frames < 1:
            raise ValueError(f"max_queued_frames must be >= 1, got {max_queued_frames}")
        self._encode_frames = encode_frames
        self._after_tick = after_tick
        self._interval_s = commit_interval_s
        self._max_frames = max_queued_frames
        self._conn = connect(db_path, synchronous)
        self._cond = threading.Condition()
        self._rows: collections.deque[RowWrite] = collections.deque()
        self._frames: collections.deque[FrameBatch] = collections.deque()
        self._queued_frames = 0      # waiting in _frames or in a batch not yet committed
        self._submitted = 0          # items accepted so far (rows + frame batches)
        self._committed = 0          # every item numbered <= this is committed (or rejected)
        self._ticks_started = 0
        self._ticks_done = 0
        self._flush_requested = False
        self._stopping = False
        self._raw_paused = False
        self.dropped: collections.Counter[str] = collections.Counter()
        self.rejected = 0
        self.last_rejected: str | None = None
        self.tick_failures = 0
        self.commits = 0
        self.last_commit_wall: float | None = None
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # ---- producer side (real-time path) -------------------------------------------------

    def submit_row(self, write: RowWrite) -> None:
        with self._cond:
            self._check_open()
            self._rows.append(write)
            self._submitted += 1

    def submit_frames(self, session_id: str, frames: Sequence[Frame]) -> bool:
        """Queue frames; False when they were dropped (disk cap reached or queue full)."""
        n = len(frames)
        if n == 0:
            return True
        with self._cond:
            self._check_open()
            if self._raw_paused:
                self.dropped[DROP_DISK_CAP] += n
                return False
            full = self._queued_frames + n > self._max_frames
            if not full:
                self._frames.append(FrameBatch(session_id, frames))
                self._queued_frames += n
                self._submitted += 1
                return True
            first_drop = self.dropped[DROP_QUEUE_FULL] == 0
            self.dropped[DROP_QUEUE_FULL] += n
        if first_drop:
            log.warning("local store cannot keep up: dropping raw frames (queue limit %d "
                        "frames); metrics and feedback are still kept", self._max_frames)
        return False

    def _check_open(self) -> None:
        if self._stopping:
            raise RuntimeError("local store is closed; nothing more can be submitted")

    def set_raw_paused(self, paused: bool) -> None:
        with self._cond:
            self._raw_paused = paused

    @property
    def raw_paused(self) -> bool:
        return self._raw_paused

    # ---- control ------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for a writer tick that starts after this call: everything submitted before it
        is then committed and the disk cap applied. False on timeout (e.g. disk failing)."""
        with self._cond:
            target, tick = self._submitted, self._ticks_started + 1
            self._flush_requested = True
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: (self._committed >= target and self._ticks_done >= tick)
                or not self._thread.is_alive(), timeout
            ) and self._committed >= target

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit what is queued, stop the worker and close the connection."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("local store writer did not stop within %.0f s; %d frames and %d rows "
                      "may not be stored", timeout or 0, self._queued_frames, len(self._rows))
            return
        self._conn.close()

    @property
    def alive(self) -> bool:
        """False once the worker thread has ended (closed, or died)."""
        return self._thread.is_alive()

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {
                "queue_frames": self._queued_frames,
                "queue_rows": len(self._rows),
                "dropped": dict(self.dropped),
                "rejected_rows": self.rejected,
                "last_rejected": self.last_rejected,
                "tick_failures": self.tick_failures,
                "commits": self.commits,
                "last_commit_wall": self.last_commit_wall,
                "last_error": self.last_error,
                "writer_alive": self._thread.is_alive(),
            }

    # ---- worker -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as exc:
            log.critical("local store writer stopped on %s: nothing more is stored (%d rows, %d "
                         "raw frames queued); the daemon exits so that systemd restarts it",
                         type(exc).__name__, len(self._rows), self._queued_frames)
            raise

    def _work(self) -> None:
        retry: list[RowWrite] = []   # writes of a batch whose commit failed (disk full, I/O)
        retry_frames = 0
        next_commit = time.monotonic() + self._interval_s
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._flush_requested or self._stopping,
                                    max(0.0, next_commit - time.monotonic()))
                stopping = self._stopping
                self._flush_requested = False
                rows, self._rows = list(self._rows), collections.deque()
                batches, self._frames = list(self._frames), collections.deque()
                upto = self._submitted
                self._ticks_started += 1
            next_commit = time.monotonic() + self._interval_s
            batch_frames = retry_frames + sum(len(b.frames) for b in batches)
            try:
                writes = retry + rows + self._encode(batches)
                committed = bool(writes) and self._commit(writes)
            except Exception:  # the worker outlives any one tick
                writes, committed = [], False
                self._tick_failed(len(retry) + len(rows), batch_frames)
            try:
                self._after_tick(self._conn, committed)
            except Exception:
                log.exception("local store housekeeping failed (will retry next tick)")
            with self._cond:
                if committed or not writes:
                    self._queued_frames -= batch_frames
                    self._committed = upto
                    retry, retry_frames = [], 0
                else:
                    retry, retry_frames = writes, batch_frames
                self._ticks_done += 1
                self._cond.notify_all()
            if stopping:
                if retry:
                    log.error("local store is closing with %d writes it could not commit "
                              "(last error: %s)", len(retry), self.last_error)
                return

    def _tick_failed(self, rows: int, frames: int) -> None:
        log.exception("local store writer: unexpected error; dropping this tick's %d rows and "
                      "%d raw frames and going on with the next", rows, frames)
        conn = self._conn
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("local store writer: rollback after the error failed too")
        with self._cond:
            self.tick_failures += 1
            self.dropped[DROP_TICK_FAILED] += rows + frames

    def _encode(self, batches: list[FrameBatch]) -> list[RowWrite]:
        try:
            return self._encode_frames(batches)
        except Exception:  # a bug in encoding must not stop rows from being stored
            n = sum(len(b.frames) for b in batches)
            log.exception("local store could not encode %d raw frames; dropping them", n)
            with self._cond:
                self.dropped["raw_frames_encode_error"] += n
            return []

    def _commit(self, writes: list[RowWrite]) -> bool:
        now = time.time()
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for w in writes:
                self._apply(conn, w, now)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self.last_error is None:
                log.error("local store commit of %d rows failed, keeping them to retry: %s",
                          len(writes), exc)
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        if self.last_error is not None:
            log.info("local store commits again after: %s", self.last_error)
        self.last_error = None
        self.commits += 1
        self.last_commit_wall = now
        return True

    def _apply(self, conn: sqlite3.Connection, w: RowWrite, now: float) -> None:
        """One write inside a savepoint: a row the schema refuses is logged and skipped
        without losing the rest of the batch."""
        conn.execute("SAVEPOINT row_write")
        try:
            changed = conn.execute(w.sql, w.params).rowcount
            if w.must_change and changed == 0:
                raise sqlite3.IntegrityError("no such row to update")
            add_entry(conn, w.table, w.row_id, now)
        except RETRIED_SQLITE_ERRORS:
            raise
        except Exception as exc:  # one bad row must not cost its batch
            conn.execute("ROLLBACK TO row_write")
            self.rejected += 1
            self.last_rejected = (f"{w.table} {w.row_id}: {type(exc).__name__}: "
                                  f"{_printable(str(exc))}")
            log.error("local store refused a %s write for id %s: %s: %s", w.table, w.row_id,
                      type(exc).__name__, _printable(str(exc)))
        conn.execute("RELEASE row_write")


def _printable(text: str, limit: int = 200) -> str:
    """Error text safe for a log line and JSON: no lone surrogates, bounded length."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."
