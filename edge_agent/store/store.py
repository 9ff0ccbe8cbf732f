"""``LocalStore``: the box's SQLite store, composed of the writer, outbox, disk cap and queries.

Threads: the real-time loop calls the ``submit_*`` / ``start_session`` / ``end_session``
methods (memory only, never disk); the writer thread commits; the sync worker and the local
API use ``pending``/``ack``/queries on a second connection (WAL lets reads run beside writes).
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from edge_agent.store import outbox, queries, records, sessions, wallclock
from edge_agent.store.db import DB_FILENAME, SYNCHRONOUS_LEVELS, connect
from edge_agent.store.disk_cap import DiskCap
from edge_agent.store.errors import StoreError
from edge_agent.store.ids import new_id
from edge_agent.store.lock import StoreLock
from edge_agent.store.outbox import OutboxItem
from edge_agent.store.schema import migrate
from edge_agent.store.writer import BatchWriter, FrameBatch, RowWrite
from sensors.clock import SYSTEM_CLOCK, Clock
from sensors.frame import Frame
from sync.chunks import DEFAULT_RESOLUTION

log = logging.getLogger(__name__)


class LocalStore:
    """Open (creating and migrating) ``<data_dir>/liftguard.db`` and start the writer.

    Sessions left active by a crash are ended at open; their ids are in
    ``recovered_session_ids`` so the daemon can run their analysis.

    ``synchronous`` applies to the writer's connection: ``FULL`` (default) makes every
    committed batch survive a power cut; ``NORMAL`` saves one fsync a second but a power cut
    may then lose up to the last ~30 s of commits (see docs/local-store.md). Acks and other
    outbox updates always use ``NORMAL``: losing one only means sending a row again.

    ``resolution`` (channel -> sensor resolution) makes raw chunks version 2, counts of that
    resolution (``sync.chunks.encode_counts_chunk``); None keeps every float exactly (version 1).
    """

    def __init__(self, data_dir: str | os.PathLike[str], device_id: str, *,
                 cap_mb: float | None = None, commit_interval_s: float = 1.0,
                 max_queued_frames: int = 10_000, max_chunk_s: float = 2.0,
                 resolution: Mapping[str, float] | None = DEFAULT_RESOLUTION,
                 synchronous: str = "FULL", clock: Clock = SYSTEM_CLOCK) -> None:
        if synchronous not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_LEVELS}, "
                             f"got {synchronous!r}")
        if not 0 < max_chunk_s <= 10:
            raise ValueError(f"max_chunk_s must be in (0, 10], got {max_chunk_s}")
        self.device_id = device_id
        self.path = Path(data_dir) / DB_FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot create the data directory: "
                             f"{exc}") from exc
        self._clock = clock
        self.boot_id = wallclock.current_boot_id()
        self._resolution = resolution
        self._max_chunk_ns = int(max_chunk_s * 1e9)
        self._conn = connect(self.path)
        self._conn_lock = threading.Lock()
        migrate(self._conn, str(self.path))
        self._lock = StoreLock(self.path)
        if self._lock.acquire():
            self.recovered_session_ids = sessions.recover_interrupted_sessions(
                self._conn, clock.wall_s())
        else:
            self.recovered_session_ids = []
            log.info("%s is held by another liftguard process (%s); its active session is "
                     "left alone", self.path, self._lock.path)
        self._cap = DiskCap(None if cap_mb is None else int(cap_mb * 1_000_000))
        paused = self._cap.enforce(self._conn)
        self._writer = BatchWriter(self.path, self._encode_frames, self._after_tick,
                                   commit_interval_s, max_queued_frames, synchronous)
        self._writer.set_raw_paused(paused)
        self._session_lock = threading.Lock()
        self._active_session: str | None = None
        self._writer.start()
        log.info("local store %s open (cap %s, %d interrupted sessions recovered)", self.path,
                 "none" if cap_mb is None else f"{cap_mb:g} MB", len(self.recovered_session_ids))

    # ---- writer callbacks (writer thread) -----------------------------------------------

    def _encode_frames(self, batches: list[FrameBatch]) -> list[RowWrite]:
        return records.sensor_chunk_writes(batches, self._max_chunk_ns, self._resolution, new_id,
                                           self._clock.wall_s())

    def _after_tick(self, conn: sqlite3.Connection, committed: bool) -> None:
        if committed or self._cap.paused:
            self._writer.set_raw_paused(self._cap.enforce(conn))

    # ---- sessions (real-time path: memory only) -----------------------------------------

    @property
    def active_session_id(self) -> str | None:
        return self._active_session

    def start_session(self, lift_type: str, athlete: str | None = None,
                      trainer: str | None = None, *, wall_clock_synced: bool = False,
                      start_mono_ns: int | None = None,
                      start_wall_s: float | None = None, session_id: str | None = None) -> str:
        """Start the box's one active session; returns its id (``session_id`` when given: a
        web app command's). ``wall_clock_synced`` says whether the wall clock was
        NTP-synchronised (it may be corrected later)."""
        with self._session_lock:
            if self._active_session is not None:
                raise StoreError(f"session {self._active_session} is still active; end it "
                                 f"before starting another (one active session per box)")
            session_id = session_id or new_id()
            self._writer.submit_row(sessions.start_write(
                session_id, self.device_id, lift_type, athlete, trainer,
                self._clock.wall_s() if start_wall_s is None else start_wall_s,
                self._clock.mono_ns() if start_mono_ns is None else start_mono_ns,
                wall_clock_synced, self._clock.wall_s(), self.boot_id))
            self._active_session = session_id
        return session_id

    def end_session(self, session_id: str, end_reason: str, *, end_mono_ns: int | None = None,
                    end_wall_s: float | None = None) -> None:
        with self._session_lock:
            if session_id != self._active_session:
                raise StoreError(f"session {session_id} is not the active session "
                                 f"({self._active_session or 'none active'})")
            self._writer.submit_row(sessions.end_write(
                session_id, end_reason,
                self._clock.wall_s() if end_wall_s is None else end_wall_s,
                self._clock.mono_ns() if end_mono_ns is None else end_mono_ns))
            self._active_session = None

    # ---- data (real-time path: memory only) ---------------------------------------------

    def submit_frames(self, session_id: str, frames: Sequence[Frame]) -> bool:
        """Queue raw frames of a session; False when they were dropped and counted (queue
        full or raw capture paused by the disk cap). Never waits on disk."""
        return self._writer.submit_frames(session_id, list(frames))

    def submit_rep(self, session_id: str, rep_number: int, start_mono_ns: int,
                   end_mono_ns: int, metrics: Mapping[str, Any], *,
                   balance_score: float | None = None, stability_score: float | None = None,
                   injury_risk: float | None = None, feedback_text: str | None = None) -> str:
        row_id = new_id()
        self._writer.submit_row(records.rep_write(
            row_id, session_id, rep_number, start_mono_ns, end_mono_ns, metrics, balance_score,
            stability_score, injury_risk, feedback_text, self._clock.wall_s()))
        return row_id

    def submit_metrics(self, session_id: str, balance_score: float | None,
                       stability_score: float | None, injury_risk: float | None,
                       details: Mapping[str, Any] | None = None) -> str:
        """The session's summary metrics; also sets ``sessions.metrics_id``."""
        row_id = new_id()
        self._writer.submit_row(records.metrics_write(
            row_id, session_id, balance_score, stability_score, injury_risk, details,
            self._clock.wall_s()))
        self._writer.submit_row(sessions.link_write(session_id, "metrics_id", row_id))
        return row_id

    def submit_feedback(self, session_id: str, text: str, *, summary: bool = False) -> str:
        """A feedback text; ``summary=True`` also sets ``sessions.feedback_id`` to it."""
        row_id = new_id()
        self._writer.submit_row(records.feedback_write(row_id, session_id, text,
                                                       self._clock.wall_s()))
        if summary:
            self._writer.submit_row(sessions.link_write(session_id, "feedback_id", row_id))
        return row_id

    def submit_live_rep(self, session_id: str, rep_number: int,
                        mean_velocity_mps: float | None, velocity_loss_pct: float | None,
                        alert: str | None, *, drift_cue: str | None = None) -> str:
        """A rep the live path just finished (its end is now, give or take the analysis);
        ``drift_cue``: what drifted, on the rep where the technique-drift cue fired."""
        row_id = new_id()
        now = self._clock.wall_s()
        self._writer.submit_row(records.live_rep_write(row_id, session_id, rep_number, now,
                                                       mean_velocity_mps, velocity_loss_pct,
                                                       alert, now, drift_cue))
        return row_id

    def submit_series(self, session_id: str, series: Mapping[str, Any], *,
                      final: bool = False) -> None:
        """The session's display series so far (``final``: built at the session's end)."""
        self._writer.submit_row(records.series_write(session_id, series, final,
                                                     self._clock.wall_s()))

    @property
    def writer_alive(self) -> bool:
        return self._writer.alive

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed; False on timeout."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        """Commit what is queued and close. An active session stays active (it is recovered
        at the next open); end it first on a clean shutdown."""
        self._writer.close()
        with self._conn_lock:
            self._conn.close()
        self._lock.release()

    def __enter__(self) -> "LocalStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- outbox (sync worker) -----------------------------------------------------------

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        with self._conn_lock:
            return outbox.pending(self._conn, limit)

    def ack(self, ids: Iterable[int]) -> int:
        """Delete these outbox entries, once the database holds their rows."""
        with self._conn_lock:
            return outbox.ack(self._conn, ids)

    def mark_failed(self, ids: Iterable[int], error: str) -> None:
        with self._conn_lock:
            outbox.mark_failed(self._conn, ids, error, self._clock.wall_s())

    def backlog(self) -> dict[str, int]:
        with self._conn_lock:
            return outbox.backlog(self._conn)

    def correct_wall_clock(self, new_offset_s: float) -> list[wallclock.Correction]:
        """Recompute the wall times of this boot's ended sessions recorded before NTP sync
        (see ``edge_agent.store.wallclock``); ``new_offset_s`` = synchronised wall − mono."""
        with self._conn_lock:
            return wallclock.correct_unsynced_sessions(self._conn, self.boot_id, new_offset_s,
                                                       self._clock.wall_s())

    # ---- queries (local API, analysis of recovered sessions) ----------------------------

    def list_sessions(self, limit: int = 50, status: str | None = None,
                      athlete: str | None = None) -> list[dict[str, Any]]:
        with self._conn_lock:
            return queries.list_sessions(self._conn, limit, status, athlete)

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        with self._conn_lock:
            return queries.get_session(self._conn, session_id)

    def sensor_chunks(self, session_id: str, limit: int = 100,
                      after_id: str | None = None) -> list[dict[str, Any]]:
        with self._conn_lock:
            return queries.sensor_chunks(self._conn, session_id, limit, after_id)

    def session_frames(self, session_id: str, source: str | None = None) -> list[Frame]:
        with self._conn_lock:
            return queries.session_frames(self._conn, session_id, source)

    def session_metrics(self, session_id: str) -> list[dict[str, Any]]:
        with self._conn_lock:
            return queries.session_metrics(self._conn, session_id)

    def session_feedback(self, session_id: str) -> list[dict[str, Any]]:
        with self._conn_lock:
            return queries.session_feedback(self._conn, session_id)

    def session_reps(self, session_id: str) -> list[dict[str, Any]]:
        with self._conn_lock:
            return queries.session_reps(self._conn, session_id)

    def session_series(self, session_id: str) -> dict[str, Any] | None:
        with self._conn_lock:
            return queries.session_series(self._conn, session_id)

    def session_live_reps(self, session_id: str) -> list[dict[str, Any]]:
        with self._conn_lock:
            return queries.session_live_reps(self._conn, session_id)

    # ---- health ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Counters for ``/status`` and the periodic health log line."""
        w = self._writer.stats()
        wal = self.path.with_name(self.path.name + "-wal")
        file_bytes = sum(p.stat().st_size for p in (self.path, wal) if p.exists())
        return {
            "queue_depth": w["queue_frames"] + w["queue_rows"],
            "queue_frames": w["queue_frames"],
            "queue_rows": w["queue_rows"],
            "dropped": w["dropped"],
            "rejected_rows": w["rejected_rows"],
            "last_rejected": w["last_rejected"],
            "writer_tick_failures": w["tick_failures"],
            "last_commit_wall": w["last_commit_wall"],
            "last_error": w["last_error"],
            "writer_alive": w["writer_alive"],
            "db_bytes": file_bytes,
            "db_used_bytes": self._cap.used_bytes,
            "cap_bytes": self._cap.cap_bytes,
            "raw_capture_paused": self._writer.raw_paused,
            "deleted_synced_chunks": self._cap.deleted_chunks,
            "outbox_backlog": self.backlog(),
            "active_session_id": self._active_session,
        }
