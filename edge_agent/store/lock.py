"""Who may recover interrupted sessions: the process holding ``liftguard.db.lock``.

A ``LocalStore`` takes an exclusive ``flock`` on the lock file beside the database for as long
as it is open; the kernel drops it when the process dies, so a crash never leaves a stale lock.
Only the holder ends sessions left ``active`` (``crash_recovery``); a second process opening
the store while a daemon records (``sync --once``, tests) leaves them alone. Read-only
commands do not take it at all (edge_agent.store.reader).
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StoreLock:
    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True when this process now holds the lock (never waits)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
