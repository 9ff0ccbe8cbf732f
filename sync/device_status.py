"""A box's own word on whether it is online, kept in its ``devices`` row (migration 0009) so the
web app can offer a newly installed box at once and say whether it is reachable.

Over MQTT the box's retained ``status`` flag (``online`` / ``offline``, the broker's last will
for a box that vanished) is recorded by `liftguard ingest`; in direct mode the box records it
itself at its first command poll, then every ``DIRECT_HEARTBEAT_S`` and at a clean stop
(docs/session-commands.md).
"""
from __future__ import annotations

from typing import Any

SYNC_MODES = ("direct", "mqtt")
DIRECT_STALE_S = 60
"""A direct-mode box not heard from for this long is shown offline (``coach.boxes``)."""
DIRECT_HEARTBEAT_S = 20
"""Between its start and stop, a direct-mode box writes its online mark this often (a third
of ``DIRECT_STALE_S``: two lost writes in a row still leave it online), not at every poll."""
STATUS_PAYLOADS = {b"online": True, b"offline": False}


def record_status(conn: Any, device_id: str, online: bool, sync_mode: str) -> None:
    """Create or update the box's row with its status now (commits)."""
    if sync_mode not in SYNC_MODES:
        raise ValueError(f"sync_mode must be one of {', '.join(SYNC_MODES)}")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO devices (device_id, online, status_at, sync_mode) "
                    "VALUES (%s, %s, now(), %s) ON CONFLICT (device_id) DO UPDATE SET "
                    "online = EXCLUDED.online, status_at = EXCLUDED.status_at, "
                    "sync_mode = EXCLUDED.sync_mode, last_seen = now()",
                    (device_id, online, sync_mode))
    conn.commit()


def parse_status(payload: bytes) -> bool:
    """True for ``online``, False for ``offline``; ``ValueError`` for anything else."""
    try:
        return STATUS_PAYLOADS[bytes(payload).strip()]
    except KeyError:
        raise ValueError(f"status payload must be online or offline, got "
                         f"{bytes(payload)[:40]!r}") from None
