"""SQLite connection setup: WAL, synchronous level, foreign keys, busy timeout.

Durability (see docs/local-store.md): in WAL mode a committed transaction survives a crash or
``kill -9`` of the process at either level, because it is already in the WAL file. On a power
cut, ``synchronous=NORMAL`` can lose every commit since the last WAL fsync (checkpoints, every
~4 MB of WAL, and the kernel's dirty-page writeback, up to ~30 s by default), while ``FULL``
fsyncs the WAL at each commit, so only what was not committed yet is lost. The writer
commits once a second, so ``FULL`` costs one fsync a second; that connection uses it by default.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from edge_agent.store.errors import StoreError

DB_FILENAME = "liftguard.db"
BUSY_TIMEOUT_MS = 5000
JOURNAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024


SYNCHRONOUS_LEVELS = ("NORMAL", "FULL")


def connect(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit ``BEGIN``/``COMMIT``)."""
    if synchronous not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS_LEVELS}, got {synchronous!r}")
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        # Takes effect only on a new, empty file (before WAL mode and the first table); lets
        # the disk cap hand freed pages back to the filesystem. A no-op on existing files.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise StoreError(f"{path}: SQLite refused WAL mode (got {mode!r}); "
                             f"is the data directory on a filesystem without shared-memory "
                             f"support?")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the local store: {exc}") from exc
    conn.row_factory = sqlite3.Row
    return conn
