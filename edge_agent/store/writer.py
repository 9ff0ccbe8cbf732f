"""The batched writer: a worker thread that owns the write connection.

The real-time path hands rows and frames over through ``submit_row`` / ``submit_frames``,
which only append to in-memory queues under a short lock and never touch the disk. The
worker commits everything queued at least every ``commit_interval_s`` (or at once on
``flush``), in one transaction per batch, with the outbox entry of every row in the same
transaction.

Drop policy when the box cannot keep up: raw frames are bounded (``max_queued_frames``, which
counts frames waiting and frames in a batch that failed to commit); a frame batch that would
exceed it is dropped whole and counted. Rows (sessions, metrics, feedback, reps) are never
dropped: they are few (a handful per rep) and are what the athlete and coach see.
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

from sensors.frame import Frame

from edge_agent.store.db import connect
from edge_agent.store.outbox import add_entry

log = logging.getLogger(__name__)

DROP_QUEUE_FULL = "raw_frames_queue_full"
DROP_DISK_CAP = "raw_frames_disk_cap"


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

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {
                "queue_frames": self._queued_frames,
                "queue_rows": len(self._rows),
                "dropped": dict(self.dropped),
                "rejected_rows": self.rejected,
                "commits": self.commits,
                "last_commit_wall": self.last_commit_wall,
                "last_error": self.last_error,
                "writer_alive": self._thread.is_alive(),
            }

    # ---- worker -------------------------------------------------------------------------

    def _run(self) -> None:
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
            writes = retry + rows + self._encode(batches)
            batch_frames = retry_frames + sum(len(b.frames) for b in batches)
            committed = bool(writes) and self._commit(writes)
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
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK TO row_write")
            self.rejected += 1
            log.error("local store refused a %s write for id %s: %s", w.table, w.row_id, exc)
        conn.execute("RELEASE row_write")
