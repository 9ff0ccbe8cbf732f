"""The box acting on session commands from the web app (``sync.session_commands``).

``start`` makes the command's session id the box's active session, for the command's athlete
and lift; it is refused, with the reason, while another session is active. ``end`` ends that
session, which queues its analysis; the sync thread then sends the result. Every command is
acted on at most once: its id and acknowledgement are kept in ``<data_dir>/commands.db``, and a
repeat (an MQTT redelivery, the direct poll seeing it again) only gets the same
acknowledgement again. A command past its expiry, or for another box, is never acted on.
Unreadable payloads are kept in that file's ``dead_letters`` table with the reason; none of
this can end or change the active session.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

from edge_agent.daemon.errors import SessionError
from edge_agent.daemon.sessions import SessionManager
from sync.session_commands import Ack, Command, CommandError, parse_command, peek_id

log = logging.getLogger(__name__)

COMMANDS_DB = "commands.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS handled (
    id TEXT PRIMARY KEY, device_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
    session_id TEXT, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    received_at REAL NOT NULL, reason TEXT NOT NULL, payload BLOB NOT NULL);
"""
MAX_DEAD_LETTERS = 1000


class BoxCommands:
    def __init__(self, sessions: SessionManager, device_id: str, data_dir: Path, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.sessions, self.device_id, self._clock = sessions, device_id, clock
        self._lock = threading.Lock()
        self._path = Path(data_dir) / COMMANDS_DB
        self._conn: sqlite3.Connection | None = None
        self.acted = 0

    @property
    def _db(self) -> sqlite3.Connection:
        """Opened at the first command, not while the daemon starts its readers."""
        if self._conn is None:
            self._conn = sqlite3.connect(str(self._path), check_same_thread=False,
                                         isolation_level=None)
            self._conn.executescript(_SCHEMA)
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ---- entry points ---------------------------------------------------------------------

    def handle_payload(self, payload: bytes) -> Ack | None:
        """An MQTT command payload; a refused payload's ack when its id can be read."""
        try:
            cmd = parse_command(payload)
        except CommandError as exc:
            self._dead_letter(str(exc), payload)
            cid = peek_id(payload)
            return None if cid is None else self._ack_once(cid, "refused", str(exc), None)
        return self.handle(cmd)

    def handle(self, cmd: Command) -> Ack:
        """Act on ``cmd`` unless it was handled before; returns its acknowledgement."""
        with self._lock:
            earlier = self._handled(cmd.id)
            if earlier is not None:
                log.info("command %s arrived again; already %s, not acting twice", cmd.id,
                         earlier.status)
                return earlier
            status, reason = self._act(cmd)
            return self._record(Ack(cmd.id, self.device_id, status, reason, cmd.session_id,
                                    self._clock()))

    # ---- acting ---------------------------------------------------------------------------

    def _act(self, cmd: Command) -> tuple[str, str]:
        if cmd.device_id != self.device_id:
            log.warning("refused command %s: it is for device %s, this box is %s", cmd.id,
                        cmd.device_id, self.device_id)
            return "refused", f"command is for device {cmd.device_id}, not {self.device_id}"
        now = self._clock()
        if cmd.expired(now):
            log.warning("ignored %s command %s: it expired %.1f s before it arrived", cmd.kind,
                        cmd.id, now - cmd.expires_at)
            return "expired", f"arrived {now - cmd.expires_at:.1f} s after its expiry"
        try:
            if cmd.kind == "start":
                self.sessions.start(cmd.lift_type or "", cmd.athlete_email or cmd.athlete,
                                    cmd.trainer, reason="command", session_id=cmd.session_id,
                                    velocity_loss_limit_pct=cmd.velocity_loss_limit_pct,
                                    bar_load_kg=cmd.bar_load_kg)
                self.acted += 1
                return "done", f"session {cmd.session_id} started"
            active = self.sessions.active_id
            if active != cmd.session_id:
                return "refused", (f"session {cmd.session_id} is not active on this box "
                                   f"({'active: ' + active if active else 'none active'})")
            self.sessions.end(cmd.session_id, "command")
            self.acted += 1
            return "done", f"session {cmd.session_id} ended; analysing it"
        except SessionError as exc:
            log.warning("refused %s command %s: %s", cmd.kind, cmd.id, exc)
            return "refused", str(exc)

    # ---- bookkeeping ----------------------------------------------------------------------

    def _handled(self, command_id: str) -> Ack | None:
        row = self._db.execute("SELECT id, device_id, status, reason, session_id, at FROM "
                               "handled WHERE id = ?", (command_id,)).fetchone()
        return None if row is None else Ack(*row)

    def _record(self, ack: Ack) -> Ack:
        self._db.execute("INSERT OR IGNORE INTO handled VALUES (?, ?, ?, ?, ?, ?)",
                         (ack.id, ack.device_id, ack.status, ack.reason, ack.session_id, ack.at))
        return ack

    def _ack_once(self, cid: str, status: str, reason: str, session_id: str | None) -> Ack:
        with self._lock:
            return self._handled(cid) or self._record(
                Ack(cid, self.device_id, status, reason, session_id, self._clock()))

    def _dead_letter(self, reason: str, payload: bytes) -> None:
        log.error("command refused and kept as a dead letter in %s: %s", COMMANDS_DB, reason)
        with self._lock:
            self._db.execute("INSERT INTO dead_letters VALUES (?, ?, ?)",
                             (self._clock(), reason, bytes(payload[:8192])))
            self._db.execute("DELETE FROM dead_letters WHERE rowid <= (SELECT max(rowid) FROM "
                             "dead_letters) - ?", (MAX_DEAD_LETTERS,))

    def dead_letters(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return [(r, bytes(p)) for r, p in
                    self._db.execute("SELECT reason, payload FROM dead_letters ORDER BY rowid")]
