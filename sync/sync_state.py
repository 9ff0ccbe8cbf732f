"""The sync state file (``<data_dir>/sync-state.json``): last success and last error of the
box's sync, written by the direct worker or the MQTT publisher, read by ``liftguard sync
status`` in another process."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class SyncState:
    """What ``liftguard sync status`` shows besides the backlog."""

    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    rows_synced: int = 0
    consecutive_failures: int = 0

    @classmethod
    def load(cls, path: Path | None) -> "SyncState":
        if path is None or not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text())
            return cls(**{k: data.get(k) for k in cls.__dataclass_fields__
                          if data.get(k) is not None})
        except (OSError, ValueError, TypeError) as exc:
            log.warning("%s: unreadable sync state (%s); starting afresh", path, exc)
            return cls()

    def save(self, path: Path | None) -> None:
        if path is None:
            return
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=1))
        os.replace(tmp, path)
