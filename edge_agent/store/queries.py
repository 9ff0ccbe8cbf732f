"""Read-only queries behind the local API. Rows come back as plain dicts; JSON columns decoded."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from sensors.frame import Frame
from sync.chunks import decode_chunk

MAX_PAGE = 1000


def _page(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}, got {limit}")
    return limit


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...],
          json_columns: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for r in conn.execute(sql, params):
        d = dict(r)
        for c in json_columns:
            if d.get(c) is not None:
                d[c] = json.loads(d[c])
        out.append(d)
    return out


def list_sessions(conn: sqlite3.Connection, limit: int = 50, status: str | None = None,
                  athlete: str | None = None) -> list[dict[str, Any]]:
    """Most recent first; ``status`` and ``athlete`` (exact match) filter when given."""
    filters = [(column, value) for column, value in (("status", status), ("athlete", athlete))
               if value is not None]
    where = ("WHERE " + " AND ".join(f"{c} = ?" for c, _ in filters)) if filters else ""
    return _rows(conn, f"SELECT * FROM sessions {where} ORDER BY start_mono_ns DESC, id DESC "
                       f"LIMIT ?", (*(v for _, v in filters), _page(limit)))


def get_session(conn: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
    rows = _rows(conn, "SELECT * FROM sessions WHERE id = ?", (session_id,))
    return rows[0] if rows else None


def sensor_chunks(conn: sqlite3.Connection, session_id: str, limit: int = 100,
                  after_id: str | None = None) -> list[dict[str, Any]]:
    """Chunks of one session in creation order, ``raw_data`` decoded to the chunk dict;
    pass the last ``id`` of a page as ``after_id`` for the next page."""
    return _rows(conn, "SELECT * FROM sensor_data WHERE session_id = ? AND id > ? "
                       "ORDER BY id LIMIT ?", (session_id, after_id or "", _page(limit)),
                 ("raw_data",))


def session_frames(conn: sqlite3.Connection, session_id: str,
                   source: str | None = None) -> list[Frame]:
    """All stored frames of a session (optionally one source), ordered by monotonic time."""
    sql = "SELECT raw_data FROM sensor_data WHERE session_id = ?"
    params: tuple[Any, ...] = (session_id,)
    if source is not None:
        sql, params = sql + " AND source = ?", (*params, source)
    frames = [f for (raw,) in conn.execute(sql + " ORDER BY id", params)
              for f in decode_chunk(raw)]
    frames.sort(key=lambda f: (f.mono_ns, f.source))
    return frames


def session_metrics(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT * FROM performance_metrics WHERE session_id = ? ORDER BY id",
                 (session_id,), ("details",))


def session_feedback(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT * FROM feedback WHERE session_id = ? ORDER BY id", (session_id,))


def session_reps(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT * FROM rep_metrics WHERE session_id = ? "
                       "ORDER BY rep_number, id", (session_id,), ("metrics",))


def session_series(conn: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
    """The session's display-series row (``series`` decoded), or None before its first rep."""
    rows = _rows(conn, "SELECT * FROM session_series WHERE id = ?", (session_id,), ("series",))
    return rows[0] if rows else None


def session_live_reps(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    """The reps as the live path finished them (``live_reps``), in rep order."""
    return _rows(conn, "SELECT * FROM live_reps WHERE session_id = ? "
                       "ORDER BY rep_number, id", (session_id,))
