"""The ``session_commands`` table (migration 0006): the web app inserts commands, a box in
direct mode polls its pending ones, and acknowledgements (from the box directly, or from the
MQTT ack recorder) settle them. A command is settled once: a repeated or late acknowledgement
changes nothing.
"""
from __future__ import annotations

from typing import Any

from sync.session_commands import Ack, Command

_COLUMNS = ("c.id::text, c.device_id, c.kind, c.session_id::text, extract(epoch FROM c.issued_at), "
            "extract(epoch FROM c.expires_at), c.athlete::text, u.email, c.issued_by::text, "
            "c.lift_type::text, c.velocity_loss_limit_pct, c.bar_load_kg")


def insert_command(conn: Any, cmd: Command, issued_by: str) -> None:
    """Store a new pending command (the caller commits)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO session_commands (id, device_id, kind, session_id, athlete, lift_type, "
            "issued_by, issued_at, expires_at, velocity_loss_limit_pct, bar_load_kg) VALUES "
            "(%s, %s, %s, %s, %s, %s::lift_type, %s, to_timestamp(%s), to_timestamp(%s), %s, %s)",
            (cmd.id, cmd.device_id, cmd.kind, cmd.session_id, cmd.athlete, cmd.lift_type,
             issued_by, cmd.issued_at, cmd.expires_at, cmd.velocity_loss_limit_pct,
             cmd.bar_load_kg))


def _command(row: tuple[Any, ...]) -> Command:
    cid, device, kind, sid, issued, expires, athlete, email, trainer, lift, limit, load = row
    start = kind == "start"
    return Command(id=cid, device_id=device, kind=kind, session_id=sid, issued_at=float(issued),
                   expires_at=float(expires), athlete=athlete if start else None,
                   athlete_email=email.lower() if start and email else None,
                   trainer=trainer if start else None, lift_type=lift if start else None,
                   velocity_loss_limit_pct=float(limit) if start and limit is not None else None,
                   bar_load_kg=float(load) if start and load is not None else None)


def pending_commands(conn: Any, device_id: str, limit: int = 20) -> list[Command]:
    """This box's unacknowledged commands, oldest first."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM session_commands c LEFT JOIN users u "
                    "ON u.id = c.athlete WHERE c.device_id = %s AND c.status = 'pending' "
                    "ORDER BY c.issued_at, c.id LIMIT %s", (device_id, limit))
        rows = cur.fetchall()
    conn.rollback()
    return [_command(r) for r in rows]


def get_command(conn: Any, command_id: str) -> Command | None:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM session_commands c LEFT JOIN users u "
                    "ON u.id = c.athlete WHERE c.id = %s", (command_id,))
        row = cur.fetchone()
    conn.rollback()
    return None if row is None else _command(row)


def record_ack(conn: Any, ack: Ack) -> bool:
    """Settle the pending command ``ack`` answers; False when it was settled already, or is
    not a command of that device. A box's ``done`` also replaces ``cancelled`` (the coach's
    cancel crossed the box's start) and the web app's ``expired`` (a box whose clock runs
    behind acted late): the box did act, and the page must say so. A box never says ``done``
    after saying ``expired`` for one command (it acts on each id once)."""
    with conn.cursor() as cur:
        cur.execute("UPDATE session_commands SET status = %s, ack_reason = %s, "
                    "acked_at = to_timestamp(%s) WHERE id = %s AND device_id = %s "
                    "AND (status = 'pending' OR (%s = 'done' AND status IN "
                    "('cancelled', 'expired')))",
                    (ack.status, ack.reason or None, ack.at, ack.id, ack.device_id,
                     ack.status))
        changed = cur.rowcount == 1
    conn.commit()
    return changed
