"""Helpers for the session command tests and scripts/bench-commands: a broker with the shipped
ACL and per-login passwords, users and a device in PostgreSQL, a daemon on the simulator that
takes commands, and waiting for a command's acknowledgement in PostgreSQL."""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from edge_agent.daemon import Daemon
from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from sync.mqtt_publisher import MqttSettings
from sync.session_commands import Command
from tests.support.daemon_helpers import NO_PINS, config, wait_for

ACL_FILE = Path(__file__).resolve().parents[2] / "sync" / "mosquitto.acl.example"
BUNDLE = Path(__file__).resolve().parents[2] / "models" / "bundles" / "default"
DEVICE = "box-1"
# Test-only passwords for a throw-away broker, not secrets of anything real.
LOGINS = {DEVICE: "pw-box-1", "box-2": "pw-box-2", "liftguard-web": "pw-web",
          "liftguard-ingest-1": "pw-ingest"}


def shipped_broker(mosquitto_factory: Any) -> Any:
    return mosquitto_factory(users=LOGINS, acl=ACL_FILE.read_text())


def login(broker: Any, user: str) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, username=user,
                        password=LOGINS[user], tls=False, keepalive=5)


def add_user(conn: Any, role: str, email: str | None = None) -> dict[str, str]:
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (first_name, last_name, email, role) VALUES "
                    "(%s, 'Tester', %s, %s) RETURNING id::text", (role.capitalize(), email, role))
        uid = cur.fetchone()[0]
    conn.commit()
    return {"id": uid, "email": email, "role": role}


def add_device(conn: Any, device_id: str = DEVICE) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO devices (device_id) VALUES (%s) ON CONFLICT DO NOTHING",
                    (device_id,))
    conn.commit()


def start_command(athlete: dict[str, str], trainer: dict[str, str] | None = None,
                  device: str = DEVICE, ttl_s: float = 30.0, lift: str = "squat") -> Command:
    now = time.time()
    return Command(id=str(uuid.uuid4()), device_id=device, kind="start",
                   session_id=str(uuid.uuid4()), issued_at=now, expires_at=now + ttl_s,
                   athlete=athlete["id"], athlete_email=athlete["email"].lower(),
                   trainer=trainer and trainer["id"], lift_type=lift)


def end_command(session_id: str, device: str = DEVICE, ttl_s: float = 30.0) -> Command:
    now = time.time()
    return Command(id=str(uuid.uuid4()), device_id=device, kind="end", session_id=session_id,
                   issued_at=now, expires_at=now + ttl_s)


def command_box(tmp_path: Path, sync: dict[str, Any], *, reps: int = 3, bundle: bool = False,
                realtime: bool = True, **sections: Any) -> Daemon:
    """A started daemon on the simulator (paced: the set plays while a commanded session
    records it; no session until a command starts one)."""
    daemon_section = {"model_bundle": str(BUNDLE)} if bundle else {}
    cfg = config(tmp_path, feedback=NO_PINS, device={"id": DEVICE},
                 sync={"hold_unsynced_clock_s": 0, **sync}, daemon=daemon_section, **sections)
    daemon = box_daemon(cfg, sources=[SimulatorSource(reps=reps, realtime=realtime)], api=False,
                    console=False)
    daemon.start()
    return daemon


def pg_row(conn: Any, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """One row read in a transaction of its own (so later reads see new commits)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    conn.rollback()
    return row


def command_status(conn: Any, command_id: str) -> tuple[str, str | None]:
    return pg_row(conn, "SELECT status, ack_reason FROM session_commands WHERE id = %s",
                  (command_id,))


def stop_all(*parts: Any) -> None:
    """Stop clients, recorders and daemons in order (each has ``stop()``)."""
    for part in parts:
        part.stop()


def wait_settled(conn: Any, command_id: str, limit_s: float = 20.0) -> tuple[str, str | None]:
    return wait_for(lambda: (lambda r: r if r and r[0] != "pending" else None)(
        command_status(conn, command_id)), limit_s, f"command {command_id} to be acknowledged")


def mqtt_box(tmp_path: Path, broker: Any, monkeypatch: Any, reps: int = 2) -> Daemon:
    """A daemon syncing and taking commands over ``broker`` with box-1's login."""
    monkeypatch.setenv("LIFTGUARD_MQTT_PASSWORD", LOGINS[DEVICE])
    box = command_box(tmp_path, {"mode": "mqtt"}, reps=reps,
                      mqtt={"host": broker.host, "port": broker.port, "username": DEVICE,
                            "tls": False})
    assert box.command_runner.client.wait_ready(10), box.command_runner.client.last_error
    return box
