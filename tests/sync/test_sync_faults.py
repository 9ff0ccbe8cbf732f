"""Crashes (kill -9 of the ingester before its commit, of the box mid-sync) and hostile
input (malformed, oversize, spoofed payloads; a device writing another device's topic)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2

from edge_agent.store import LocalStore
from sync.direct import PgWriter
from sync.ingester import PAUSE_FILE_ENV, Ingester, IngestSettings
from sync.mqtt_publisher import MqttPublisher, MqttSettings
from sync.payloads import data_topic, encode_item, encode_message
from sync.worker import Backoff
from tests.support.sync_support import (
    DEVICE,
    assert_same_contents,
    box_counts,
    close,
    count,
    pg_counts,
    raw_client,
    record_session,
    wait_for,
)
from tests.support.systemd_support import FakeSystemd

REPO = Path(__file__).resolve().parents[2]


def _write_config(path: Path, data_dir: Path, broker=None, **sections) -> Path:
    lines = ["[device]", f'id = "{DEVICE}"', f'data_dir = "{data_dir}"',
             f'secrets_file = "{path.parent / "no-secrets.toml"}"']
    if broker is not None:
        lines += ["[mqtt]", f'host = "{broker.host}"', f"port = {broker.port}", "tls = false"]
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]  # JSON scalars are TOML
    path.write_text("\n".join(lines) + "\n")
    return path


def _liftguard(config: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "liftguard", "--config", str(config), *args],
                            cwd=REPO, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _assert_box_equals_pg(db_path: Path, pg_db) -> None:
    conn = psycopg2.connect(pg_db.dsn)
    try:
        assert pg_counts(conn) == {**box_counts(db_path), "duplicate_chunks": 0}
        assert_same_contents(db_path, conn)
    finally:
        conn.close()


def test_ingest_command_tells_systemd_ready_only_once_subscribed(pg, pg_db, mosquitto, tmp_path):
    """Type=notify: READY=1 means the shared subscription is granted, so a message published
    right after it reaches the ingester instead of being dropped by the broker."""
    config = _write_config(tmp_path / "ingest.toml", tmp_path / "srv", mosquitto,
                           ingest={"client_id": "ingest-ready"})
    fake = FakeSystemd()
    proc = _liftguard(config, "ingest", "--dsn", pg_db.dsn, env={"NOTIFY_SOCKET": str(fake.path)})
    try:
        wait_for(lambda: fake.lines("READY=1") or proc.poll() is not None, 60, "READY=1")
        assert proc.poll() is None, proc.communicate()[0]
        assert fake.lines("STATUS=ingesting $share/liftguard/liftguard/v1/+/+")
        with LocalStore(tmp_path / "box", DEVICE) as store:
            record_session(store, seconds=3, reps=0, end=False)
            entries = [e for e in store.pending(100) if e.kind in ("sessions", "sensor_data")]
            chunks = [e for e in entries if e.kind == "sensor_data"]
        sender = raw_client(mosquitto, "ready-probe")
        try:
            for entry in entries:  # the session first: chunks are stored only under it
                message = encode_message(DEVICE, entry.kind,
                                         [encode_item(entry.id, entry.payload)], 0.0)
                sender.publish(data_topic(DEVICE, entry.kind), message, qos=1)\
                    .wait_for_publish(5)
        finally:
            close(sender)
        wait_for(lambda: count(pg_db, "sensor_data") == len(chunks), 30, "the chunks in PostgreSQL")
    finally:
        proc.terminate()
        proc.wait(10)
        fake.close()


def test_ingester_killed_between_receiving_and_committing(pg, pg_db, mosquitto, tmp_path):
    config = _write_config(tmp_path / "ingest.toml", tmp_path / "srv", mosquitto,
                           ingest={"client_id": "ingest-k"})
    pause = tmp_path / "paused"
    proc = _liftguard(config, "ingest", "--dsn", pg_db.dsn, env={PAUSE_FILE_ENV: str(pause)})
    with LocalStore(tmp_path / "box", DEVICE) as store:
        record_session(store, seconds=10)
        pub = MqttPublisher(store, DEVICE, MqttSettings(mosquitto.host, mosquitto.port,
                                                        tls=False, keepalive=5),
                            resend_after_s=10)
        pub.start()
        try:
            assert pub.wait_ready(10)
            wait_for(lambda: (pub.pump(), pause.exists())[1], 30, "the ingester to pause")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert count(pg_db, "sensor_data") == 0          # nothing was committed
            assert sum(store.backlog().values()) == len(store.pending(10_000))
            assert store.backlog().get("sensor_data") == 20   # and nothing acked
            proc = _liftguard(config, "ingest", "--dsn", pg_db.dsn)
            # Mosquitto 2.0 drops shared-subscription messages in flight to a client that dies
            # (eclipse-mosquitto/mosquitto#2662) instead of redelivering them on resume: the
            # box's resend timer (resend_after_s) sends what got no commit ack again.
            wait_for(lambda: (pub.pump(), not store.backlog())[1], 60, "the outbox to drain")
        finally:
            pub.stop()
            proc.terminate()
            proc.wait(10)
        _assert_box_equals_pg(store.path, pg_db)


def _slow_down_inserts(conn, table: str, seconds_per_row: float) -> None:
    """A database that takes ``seconds_per_row`` per inserted row (a trigger), so a kill lands
    mid-drain however fast the machine is; 0 removes the trigger."""
    with conn.cursor() as cur:
        cur.execute(f"DROP TRIGGER IF EXISTS test_slow_insert ON {table}")
        if seconds_per_row > 0:
            cur.execute("CREATE OR REPLACE FUNCTION test_slow_insert() RETURNS trigger "
                        "LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(%s); RETURN NEW; END $$",
                        (seconds_per_row,))
            cur.execute(f"CREATE TRIGGER test_slow_insert BEFORE INSERT ON {table} "
                        "FOR EACH ROW EXECUTE FUNCTION test_slow_insert()")
    conn.commit()


def test_box_killed_mid_sync_then_synced_again(pg, pg_db, tmp_path):
    data = tmp_path / "box"
    with LocalStore(data, DEVICE) as store:
        record_session(store, seconds=60)
    total = box_counts(data / "liftguard.db")["sensor_data"]
    config = _write_config(tmp_path / "box.toml", data, database={"dsn": pg_db.dsn},
                           sync={"mode": "direct", "batch_size": 2})
    _slow_down_inserts(pg, "sensor_data", seconds_per_row=0.05)
    proc = _liftguard(config, "sync", "--once")
    wait_for(lambda: count(pg_db, "sensor_data") >= 10 or proc.poll() is not None, 60,
              "the sync to start")
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert count(pg_db, "sensor_data") < total, "killed too late to prove anything"
    _slow_down_inserts(pg, "sensor_data", seconds_per_row=0)
    done = subprocess.run([sys.executable, "-m", "liftguard", "--config", str(config), "sync",
                           "--once"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backlog now 0" in done.stdout
    status = subprocess.run([sys.executable, "-m", "liftguard", "--config", str(config), "sync",
                             "status"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "backlog: 0" in status.stdout and "last error: none" in status.stdout
    _assert_box_equals_pg(data / "liftguard.db", pg_db)


ACL = """user ingest
topic read liftguard/v1/+/+
topic write liftguard/v1/+/ack

pattern write liftguard/v1/%u/#
pattern read liftguard/v1/%u/ack
"""


def test_bad_payloads_become_dead_letters_and_acl_blocks_other_devices(pg, pg_db,
                                                                      mosquitto_factory,
                                                                      tmp_path):
    broker = mosquitto_factory(users={"ingest": "pw-i", DEVICE: "pw-1", "box-2": "pw-2"},
                               acl=ACL)
    ing = Ingester(MqttSettings(broker.host, broker.port, "ingest", "pw-i", tls=False),
                   PgWriter(lambda: psycopg2.connect(pg_db.dsn)),
                   IngestSettings(client_id="ingest-acl", max_payload_bytes=64 * 1024),
                   backoff=Backoff(0.05, 0.5))
    ing.start()
    assert ing.wait_subscribed(10)
    with LocalStore(tmp_path / "box", DEVICE) as store:
        record_session(store, seconds=2, reps=0, end=False)
        entries = store.pending(100)
    chunk = next(e for e in entries if e.kind == "sensor_data")
    good = encode_message(DEVICE, "sensor_data", [encode_item(chunk.id, chunk.payload)], 0.0)

    intruder = raw_client(broker, "box-2", ("box-2", "pw-2"))
    try:
        # Another device's topic: the broker's ACL refuses it, the ingester never sees it
        # (a forged chunk with its own id, so that storing it would show).
        forged = encode_message(DEVICE, "sensor_data", [encode_item(
            chunk.id, {**chunk.payload, "id": str(uuid.uuid4())})], 0.0)
        intruder.publish(data_topic(DEVICE, "sensor_data"), forged, qos=1).wait_for_publish(5)
        # Its own topic, claiming to be box-1 in the payload: spoofed.
        spoof = encode_message(DEVICE, "sensor_data", [encode_item(chunk.id, chunk.payload)],
                               0.0)
        intruder.publish(data_topic("box-2", "sensor_data"), spoof, qos=1).wait_for_publish(5)
        intruder.publish(data_topic("box-2", "sensor_data"), b'{"v":1,', qos=1)\
            .wait_for_publish(5)
        intruder.publish(data_topic("box-2", "sensor_data"), b"x" * (65 * 1024), qos=1)\
            .wait_for_publish(5)
    finally:
        close(intruder)
    wait_for(lambda: count(pg_db, "dead_letters") >= 3, 20, "three dead letters")

    box = raw_client(broker, DEVICE, (DEVICE, "pw-1"))
    session = next(e for e in entries if e.kind == "sessions")
    box.publish(data_topic(DEVICE, "sessions"), encode_message(
        DEVICE, "sessions", [encode_item(session.id, session.payload)], 0.0), qos=1)\
        .wait_for_publish(5)
    box.publish(data_topic(DEVICE, "sensor_data"), good, qos=1).wait_for_publish(5)
    wait_for(lambda: count(pg_db, "sensor_data") == 1, 20, "the good chunk")
    close(box)
    ing.stop()
    with pg.cursor() as cur:
        cur.execute("SELECT topic, device_id, reason FROM dead_letters ORDER BY received_at")
        letters = cur.fetchall()
        cur.execute("SELECT id::text FROM sensor_data")
        assert [r[0] for r in cur.fetchall()] == [chunk.row_id]
    assert len(letters) == 3
    assert all(t == data_topic("box-2", "sensor_data") and d == "box-2" for t, d, _ in letters)
    reasons = " | ".join(r for _, _, r in letters)
    assert "does not match the topic's device 'box-2'" in reasons
    assert "not valid JSON" in reasons
    assert "over the 65536-byte limit" in reasons
