"""Helpers for the sync tests: record sessions into a real LocalStore, and count/compare what
the box holds against what PostgreSQL holds (ground truth is always the box's SQLite file)."""
from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg2
import pytest

from edge_agent.store import LocalStore
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sync.migrate import migrate

TABLES = ("sessions", "sensor_data", "performance_metrics", "feedback", "rep_metrics",
          "session_series")
DEVICE = "box-1"


def migrated(pg_db: Any) -> Any:
    conn = psycopg2.connect(pg_db.dsn)
    migrate(conn)
    conn.autocommit = True
    return conn


@pytest.fixture
def pg(pg_db: Any) -> Any:
    """A connection to a freshly migrated test database (import this fixture by name)."""
    conn = migrated(pg_db)
    yield conn
    conn.close()


def frames_for(source: str, channels: tuple[str, ...], hz: int, t0_s: float, seconds: float,
            seq0: int) -> list[Frame]:
    n = int(round(hz * seconds))
    out = []
    for i in range(n):
        t = t0_s + i / hz
        values = tuple(round(math.sin(t * (k + 1)) * (k + 1), 3) for k in range(len(channels)))
        out.append(Frame(source, seq0 + i, int(t * 1e9), 1_700_000_000.0 + t, channels,
                         values))
    return out


def record_session(store: LocalStore, seconds: int, reps: int = 2, *, end: bool = True,
                   athlete: str | None = None, t0_s: float = 100.0) -> str:
    """A session with ``seconds`` of IMU (200 Hz) and platform (80 Hz) frames, one committed
    batch (one chunk per source) per second, per-rep rows, its display series (written twice:
    after the reps and, when ended, final), summary metrics and feedback."""
    from models.display_series import RepSpan, series_from_frames

    sid = store.start_session("squat", athlete=athlete, wall_clock_synced=True,
                              start_mono_ns=int(t0_s * 1e9),
                              start_wall_s=1_700_000_000.0 + t0_s)
    frames = []
    for s in range(seconds):
        frames += frames_for("imu", IMU_CHANNELS, 200, t0_s + s, 1, s * 200)
        store.submit_frames(sid, frames[-200:])
        frames += frames_for("platform", PLATFORM_CHANNELS, 80, t0_s + s, 1, s * 80)
        store.submit_frames(sid, frames[-80:])
        store.flush()
    spans = []
    for r in range(1, reps + 1):
        store.submit_rep(sid, r, int((t0_s + r) * 1e9), int((t0_s + r + 0.8) * 1e9),
                         {"rom_m": 0.5 + r / 100}, balance_score=0.9, stability_score=0.8,
                         injury_risk=0.1, feedback_text=f"rep {r} fine")
        spans.append(RepSpan(r, int((t0_s + r) * 1e9), int((t0_s + r + 0.8) * 1e9)))
    if frames:
        store.submit_series(sid, series_from_frames(frames, spans[:1]))
        store.submit_series(sid, series_from_frames(frames, spans), final=end)
    if end:
        store.submit_metrics(sid, 0.9, 0.8, 0.1, {"reps": reps})
        store.submit_feedback(sid, "good set", summary=True)
        store.end_session(sid, "button", end_mono_ns=int((t0_s + seconds) * 1e9),
                          end_wall_s=1_700_000_000.0 + t0_s + seconds)
    store.flush()
    return sid


def box_counts(db_path: Path) -> dict[str, int]:
    """Rows per table and raw frames in the box's SQLite file."""
    conn = sqlite3.connect(str(db_path))
    try:
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
        counts["frames"] = conn.execute(
            "SELECT COALESCE(SUM(n_frames), 0) FROM sensor_data").fetchone()[0]
    finally:
        conn.close()
    return counts


def pg_counts(conn: Any, device: str | None = None) -> dict[str, int]:
    """The same counts in PostgreSQL (rows of sessions recorded by ``device`` when given)."""
    def where(table: str) -> str:
        column = "session_id" if table == "rep_metrics" else "session"
        return "" if device is None else (f" WHERE {column} IN (SELECT id FROM sessions "
                                          "WHERE device_id = %(d)s)")
    with conn.cursor() as cur:
        counts = {}
        for t in TABLES:
            if t == "sessions":
                cur.execute("SELECT COUNT(*) FROM sessions" +
                            ("" if device is None else " WHERE device_id = %(d)s"), {"d": device})
            else:
                cur.execute(f"SELECT COUNT(*) FROM {t}{where(t)}", {"d": device})
            counts[t] = cur.fetchone()[0]
        cur.execute("SELECT COALESCE(SUM((raw_data->>'n')::int), 0), "
                    "COUNT(*) - COUNT(DISTINCT (session, raw_data->>'source', "
                    f"raw_data->>'seq0')) FROM sensor_data{where('sensor_data')}", {"d": device})
        counts["frames"], counts["duplicate_chunks"] = cur.fetchone()
    return counts


def assert_same_contents(db_path: Path, conn: Any) -> None:
    """Every box row is in PostgreSQL with the same content, and nothing else is."""
    box = sqlite3.connect(str(db_path))
    box.row_factory = sqlite3.Row
    with conn.cursor() as cur:
        cur.execute("SELECT id::text, raw_data, extract(epoch FROM started_at), "
                    "mono_start_ns, mono_end_ns FROM sensor_data")
        pg_chunks = {r[0]: r[1:] for r in cur.fetchall()}
        local = {r["id"]: r for r in box.execute("SELECT * FROM sensor_data")}
        assert set(pg_chunks) == set(local)
        for cid, r in local.items():
            raw, ts, m0, m1 = pg_chunks[cid]
            assert raw == json.loads(r["raw_data"])
            assert abs(float(ts) - r["timestamp"]) < 1e-5
            assert (m0, m1) == (r["t_first_ns"], r["t_last_ns"])
        cur.execute("SELECT id::text, device_id, status, lift_type::text, end_reason, "
                    "wall_clock_synced, performance_metric_id::text, feedback_id::text, "
                    "extract(epoch FROM started_at), extract(epoch FROM ended_at) "
                    "FROM sessions")
        pg_sessions = {r[0]: r[1:] for r in cur.fetchall()}
        for s in box.execute("SELECT * FROM sessions"):
            dev, status, lift, reason, synced, mid, fid, t0, t1 = pg_sessions[s["id"]]
            assert (dev, status, lift, reason, synced, mid, fid) == (
                s["device_id"], s["status"], s["lift_type"], s["end_reason"],
                bool(s["wall_clock_synced"]), s["metrics_id"], s["feedback_id"])
            assert abs(float(t0) - s["start_time"]) < 1e-5
            assert (t1 is None and s["end_time"] is None) or abs(float(t1) - s["end_time"]) < 1e-5
        cur.execute("SELECT id::text, rep_number, metrics, feedback_text FROM rep_metrics")
        pg_reps = {r[0]: r[1:] for r in cur.fetchall()}
        for r in box.execute("SELECT * FROM rep_metrics"):
            assert pg_reps[r["id"]] == (r["rep_number"], json.loads(r["metrics"]),
                                        r["feedback_text"])
        cur.execute("SELECT session::text, source, version, final, series FROM session_series")
        pg_series = {r[0]: r[1:] for r in cur.fetchall()}
        local_series = {r["id"]: r for r in box.execute("SELECT * FROM session_series")}
        assert set(pg_series) == set(local_series)
        for sid, r in local_series.items():
            assert pg_series[sid] == ("box", r["version"], bool(r["final"]),
                                      json.loads(r["series"]))
        for table, col in (("feedback", "feedback_text"), ("performance_metrics",
                                                            "injury_risk")):
            cur.execute(f"SELECT id::text, {col} FROM {table}")
            pg = dict(cur.fetchall())
            assert pg == {r["id"]: r[col] for r in box.execute(f"SELECT id, {col} FROM {table}")}
    box.close()


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def raw_client(broker, client_id: str, login: tuple[str, str] | None = None) -> mqtt.Client:
    """A bare MQTT v5 client, connected and looping: stop it with ``close(client)``."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    if login is not None:
        client.username_pw_set(*login)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def close(client: mqtt.Client) -> None:
    client.loop_stop()
    client.disconnect()


def count(pg_db, table: str) -> int:
    conn = psycopg2.connect(pg_db.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            return cur.fetchone()[0]
    finally:
        conn.close()
