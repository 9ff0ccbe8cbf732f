"""The boxes a coach can start a session on, and whether each is online now.

A box says so itself (docs/session-commands.md): over MQTT its retained ``status`` flag (``online``
at connect, ``offline`` at a clean stop or by the broker's last will), recorded by
`liftguard ingest`; in direct mode its start and every command poll (``[sync] interval_s``)
mark it online, its clean stop offline. A direct-mode box that stopped polling (power cut)
counts as offline after ``DIRECT_STALE_S``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coach.db import query

DIRECT_STALE_S = 60
"""A direct-mode box whose last poll is older than this is shown offline."""


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
