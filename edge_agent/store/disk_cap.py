"""The disk cap: bounded local store, with a stated policy when the cap is reached.

Measured size is the pages in use in the main database file (page_count - freelist_count).
The WAL file comes on top, bounded by the auto-checkpoint (about 1000 pages, 4 MB) and
``journal_size_limit``.

Policy, applied by the writer after each commit:
1. above the cap: delete raw chunks (``sensor_data``) that are already synced (no outbox entry
   left), oldest first, down to ``resume_fraction`` of the cap, and hand the pages back to the
   filesystem (incremental vacuum);
2. still above the cap: pause raw capture (new frames are dropped and counted); sessions,
   metrics, feedback and reps are still written;
3. resume raw capture once the size is below ``resume_fraction`` of the cap (after the sync
   worker acknowledged chunks, which step 1 then deletes).
"""
from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

DELETE_GROUP = 32


def used_bytes(conn: sqlite3.Connection) -> int:
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * page_size


class DiskCap:
    def __init__(self, cap_bytes: int | None, resume_fraction: float = 0.9) -> None:
        if cap_bytes is not None and cap_bytes <= 0:
            raise ValueError(f"disk cap must be > 0 bytes, got {cap_bytes}")
        if not 0 < resume_fraction < 1:
            raise ValueError(f"resume_fraction must be in (0, 1), got {resume_fraction}")
        self.cap_bytes = cap_bytes
        self.resume_fraction = resume_fraction
        self.paused = False
        self.used_bytes = 0
        self.deleted_chunks = 0

    def enforce(self, conn: sqlite3.Connection) -> bool:
        """Apply the policy; returns whether raw capture must be paused."""
        self.used_bytes = used_bytes(conn)
        if self.cap_bytes is None:
            return False
        low_water = self.cap_bytes * self.resume_fraction
        if self.used_bytes > (low_water if self.paused else self.cap_bytes):
            deleted = self._delete_synced_chunks(conn, low_water)
            if deleted:
                conn.execute("PRAGMA incremental_vacuum")
                self.used_bytes = used_bytes(conn)
                self.deleted_chunks += deleted
                log.info("local store over its %.1f MB cap: deleted %d synced raw chunks, "
                         "now %.1f MB", self.cap_bytes / 1e6, deleted, self.used_bytes / 1e6)
        was_paused = self.paused
        if self.paused:
            self.paused = self.used_bytes >= low_water
        else:
            self.paused = self.used_bytes > self.cap_bytes
        if self.paused and not was_paused:
            log.warning("local store is full (%.1f MB, cap %.1f MB) and holds no more synced "
                        "raw data to delete: raw sensor capture paused until sync catches up; "
                        "metrics and feedback are still stored",
                        self.used_bytes / 1e6, self.cap_bytes / 1e6)
        elif was_paused and not self.paused:
            log.info("local store back under %.0f%% of its cap (%.1f MB): raw sensor capture "
                     "resumed", self.resume_fraction * 100, self.used_bytes / 1e6)
        return self.paused

    def _delete_synced_chunks(self, conn: sqlite3.Connection, target_bytes: float) -> int:
        deleted = 0
        while used_bytes(conn) > target_bytes:
            conn.execute("BEGIN IMMEDIATE")
            try:
                n = conn.execute(
                    "DELETE FROM sensor_data WHERE id IN (SELECT s.id FROM sensor_data s "
                    "WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'sensor_data' "
                    "AND o.row_id = s.id) ORDER BY s.id LIMIT ?)", (DELETE_GROUP,)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if n == 0:
                break
            deleted += n
        return deleted
