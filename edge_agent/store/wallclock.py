"""Correct the wall-clock times of sessions recorded before the clock was NTP-synchronised.

A Raspberry Pi has no real-time clock: until NTP answers, ``time.time()`` is whatever
fake-hwclock saved at the last shutdown. The store keeps the monotonic time of everything
(``start_mono_ns``, ``end_mono_ns``, ``sensor_data.t_first_ns``) and each session's
``mono_to_wall_offset_s``, so once the clock is synchronised the wall times of such a session
are recomputed as ``new_offset + mono`` — exactly, because the monotonic clock never jumped.

That only holds within one boot (the monotonic clock restarts at boot), so each session
records the kernel's ``boot_id`` and only sessions of the current boot are corrected. Only
ended sessions are corrected (an active one is corrected once it ends), so every row of the
session is fixed in one transaction. The correction is recorded on the session row
(``wall_clock_previous_offset_s``, ``wall_clock_corrected_at``, the new offset) and the
session is queued for sync again, so PostgreSQL gets the corrected start/end times and the
offset that converts any chunk's ``mono_start_ns`` to true wall time.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from edge_agent.store.outbox import add_entry

log = logging.getLogger(__name__)

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
MIN_CORRECTION_S = 0.0005
"""Offsets closer than this are left alone (SQLite REAL rounding, not a clock step)."""


def current_boot_id(path: Path = BOOT_ID_FILE) -> str | None:
    """The kernel's id of this boot (changes at every boot), None where there is none."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class Correction:
    session_id: str
    old_offset_s: float
    new_offset_s: float
    chunks: int

    @property
    def shift_s(self) -> float:
        return self.new_offset_s - self.old_offset_s


_DUE = ("SELECT {} FROM sessions WHERE wall_clock_synced = 0 AND wall_clock_corrected_at IS NULL "
        "AND status = 'ended' AND boot_id = ?")


def correct_unsynced_sessions(conn: sqlite3.Connection, boot_id: str | None,
                              new_offset_s: float, now: float) -> list[Correction]:
    """Recompute the wall times of this boot's ended, never-synchronised, uncorrected
    sessions from their monotonic times and ``new_offset_s`` (wall − monotonic, seconds, of
    the now synchronised clock); returns what was corrected."""
    if boot_id is None or conn.execute(_DUE.format("1") + " LIMIT 1", (boot_id,)).fetchone() is None:
        return []  # the usual case: no write transaction, no contention with the writer
    corrections: list[Correction] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(_DUE.format("id, mono_to_wall_offset_s") + " ORDER BY start_mono_ns",
                            (boot_id,)).fetchall()
        for sid, old in rows:
            conn.execute(
                "UPDATE sessions SET start_time = ? + start_mono_ns / 1e9, "
                "end_time = CASE WHEN end_mono_ns IS NULL THEN end_time "
                "ELSE ? + end_mono_ns / 1e9 END, mono_to_wall_offset_s = ?, "
                "wall_clock_previous_offset_s = ?, wall_clock_corrected_at = ? WHERE id = ?",
                (new_offset_s, new_offset_s, new_offset_s, old, now, sid))
            chunks = conn.execute(
                'UPDATE sensor_data SET "timestamp" = ? + t_first_ns / 1e9 WHERE session_id = ?',
                (new_offset_s, sid)).rowcount
            add_entry(conn, "sessions", sid, now)
            corrections.append(Correction(sid, old, new_offset_s, chunks))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    for c in corrections:
        if abs(c.shift_s) >= MIN_CORRECTION_S:
            log.info("session %s: wall clock was not synchronised when it was recorded; its "
                     "times moved by %+.3f s (%d raw chunks) now that the clock is synchronised",
                     c.session_id, c.shift_s, c.chunks)
    return corrections
