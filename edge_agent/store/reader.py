"""Read-only access to the local store for commands that only look (``sessions``, ``export``).

The file is opened with SQLite's ``mode=ro`` URI: nothing is created, migrated or recovered,
and a daemon recording at the same time is not disturbed (WAL lets readers run beside its
writer). A missing store is a :class:`StoreError` naming the path, never a new empty file.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from edge_agent.store import queries
from edge_agent.store.db import BUSY_TIMEOUT_MS, DB_FILENAME
from edge_agent.store.errors import StoreError
from sensors.frame import Frame


def committed_seq(db_path: Path, session_id: str) -> dict[str, int]:
    """Highest committed ``seq`` per source of one session, through a read-only connection
    of its own (it sees only committed transactions); {} when the file cannot be read."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(db_path))}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return {}
    try:
        rows = conn.execute("SELECT source, MAX(seq_last) FROM sensor_data WHERE session_id = ? "
                            "GROUP BY source", (session_id,)).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {source: int(seq) for source, seq in rows}


class StoreReader:
    """Queries on ``<data_dir>/liftguard.db`` through a read-only connection."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / DB_FILENAME
        if not self.path.is_file():
            raise StoreError(f"no local store at {self.path} (nothing recorded there yet; "
                             f"--data-dir or [device] data_dir says where to look)")
        try:
            self._conn = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro",
                                         uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("SELECT 1 FROM sessions LIMIT 1")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot read the local store: {exc}") from exc

    def list_sessions(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        return queries.list_sessions(self._conn, limit, status)

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        return queries.get_session(self._conn, session_id)

    def session_frames(self, session_id: str, source: str | None = None) -> list[Frame]:
        return queries.session_frames(self._conn, session_id, source)

    def session_metrics(self, session_id: str) -> list[dict[str, Any]]:
        return queries.session_metrics(self._conn, session_id)

    def session_feedback(self, session_id: str) -> list[dict[str, Any]]:
        return queries.session_feedback(self._conn, session_id)

    def session_reps(self, session_id: str) -> list[dict[str, Any]]:
        return queries.session_reps(self._conn, session_id)

    def session_series(self, session_id: str) -> dict[str, Any] | None:
        return queries.session_series(self._conn, session_id)

    def rep_counts(self) -> dict[str, int]:
        """Stored reps per session id."""
        rows = self._conn.execute("SELECT session_id, COUNT(*) FROM rep_metrics "
                                  "GROUP BY session_id").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
