"""The boxes a coach can start a session on, and whether each is online now.

A box says so itself (docs/session-commands.md): over MQTT its retained ``status`` flag (``online``
at connect, ``offline`` at a clean stop or by the broker's last will), recorded by
`liftguard ingest`; in direct mode its first command poll and then a heartbeat every
``sync.device_status.DIRECT_HEARTBEAT_S`` mark it online, its clean stop offline. A direct-mode
box not heard from for ``DIRECT_STALE_S`` (power cut) counts as offline.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coach.db import query
from sync.device_status import DIRECT_STALE_S


@dataclass(frozen=True)
class Box:
    device_id: str
    online: bool
    status_at: datetime | None

    @property
    def label(self) -> str:
        if self.online:
            return f"{self.device_id} (online)"
        if self.status_at is None:
            return f"{self.device_id} (offline: not heard from yet)"
        return f"{self.device_id} (offline since {self.status_at.strftime('%Y-%m-%d %H:%M')})"


def boxes(conn: Any) -> list[Box]:
    """Every known box, online ones first."""
    rows = query(conn, """
        SELECT device_id, status_at,
               coalesce(online, false) AND (sync_mode IS DISTINCT FROM 'direct'
                   OR status_at > now() - make_interval(secs => %s)) AS online
          FROM devices ORDER BY 3 DESC, 1""", (DIRECT_STALE_S,))
    return [Box(r["device_id"], bool(r["online"]), r["status_at"]) for r in rows]
