"""Session lifecycle rows: start, end, summary links, and crash recovery at open."""
from __future__ import annotations

import logging
import sqlite3

from edge_agent.store.outbox import add_entry
from edge_agent.store.writer import RowWrite
from sync.lifts import LIFT_TYPES

log = logging.getLogger(__name__)

END_REASONS: tuple[str, ...] = ("api", "button", "idle_timeout", "shutdown", "error",
                                "crash_recovery", "command")
"""Why a session ended; ``crash_recovery`` is set only by ``recover_interrupted_sessions``,
``command`` by a web app command (edge_agent/daemon/session_commands.py)."""


def start_write(session_id: str, device_id: str, lift_type: str, athlete: str | None,
                trainer: str | None, start_wall_s: float, start_mono_ns: int,
                wall_clock_synced: bool, now: float, boot_id: str | None = None) -> RowWrite:
    if lift_type not in LIFT_TYPES:
        raise ValueError(f"lift_type {lift_type!r} must be one of {', '.join(LIFT_TYPES)}")
    return RowWrite(
        "sessions", session_id,
        "INSERT INTO sessions (id, device_id, athlete, trainer, lift_type, status, start_time, "
        "start_mono_ns, wall_clock_synced, mono_to_wall_offset_s, created_at, boot_id) "
        "VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)",
        (session_id, device_id, athlete, trainer, lift_type, start_wall_s, start_mono_ns,
         int(bool(wall_clock_synced)), start_wall_s - start_mono_ns / 1e9, now, boot_id),
    )


def end_write(session_id: str, end_reason: str, end_wall_s: float,
              end_mono_ns: int) -> RowWrite:
    if end_reason not in END_REASONS or end_reason == "crash_recovery":
        raise ValueError(f"end_reason {end_reason!r} must be one of "
                         f"{', '.join(r for r in END_REASONS if r != 'crash_recovery')}")
    return RowWrite(
        "sessions", session_id,
        "UPDATE sessions SET status = 'ended', end_time = ?, end_mono_ns = ?, end_reason = ? "
        "WHERE id = ? AND status = 'active'",
        (end_wall_s, end_mono_ns, end_reason, session_id),
        must_change=True,
    )


def link_write(session_id: str, column: str, row_id: str) -> RowWrite:
    """Point the session's ``metrics_id`` or ``feedback_id`` at its summary row."""
    if column not in ("metrics_id", "feedback_id"):
        raise ValueError(f"cannot link sessions.{column}")
    return RowWrite("sessions", session_id,
                    f"UPDATE sessions SET {column} = ? WHERE id = ?", (row_id, session_id),
                    must_change=True)


def recover_interrupted_sessions(conn: sqlite3.Connection, now: float) -> list[str]:
    """End every session left ``active`` by a crash; returns their ids, oldest first.

    The end time is that of the last stored frame of the session (its start when none was
    stored), so the session covers exactly the data that survived.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        active = conn.execute("SELECT id, start_time, start_mono_ns FROM sessions "
                              "WHERE status = 'active' ORDER BY start_mono_ns").fetchall()
        for s in active:
            last = conn.execute(
                "SELECT timestamp, t_first_ns, t_last_ns FROM sensor_data WHERE session_id = ? "
                "ORDER BY t_last_ns DESC LIMIT 1", (s["id"],)).fetchone()
            if last is None:
                end_mono, end_wall = s["start_mono_ns"], s["start_time"]
            else:
                end_mono = last["t_last_ns"]
                end_wall = last["timestamp"] + (last["t_last_ns"] - last["t_first_ns"]) / 1e9
            conn.execute("UPDATE sessions SET status = 'ended', end_time = ?, end_mono_ns = ?, "
                         "end_reason = 'crash_recovery' WHERE id = ?",
                         (end_wall, end_mono, s["id"]))
            add_entry(conn, "sessions", s["id"], now)
            log.warning("session %s was still active when liftguard stopped unexpectedly; "
                        "ended it at its last stored frame (reason crash_recovery)", s["id"])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return [s["id"] for s in active]
