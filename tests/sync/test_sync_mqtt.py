"""MQTT path against a real Mosquitto and PostgreSQL: box publisher -> broker -> ingester(s)
-> PostgreSQL -> commit ack -> outbox deleted. Zero lost, zero duplicated, by counting."""
from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import psycopg2

from edge_agent.store import LocalStore
from sensors.frame import IMU_CHANNELS
from sync.direct import PgWriter
from sync.ingester import Ingester, IngestSettings
from sync.mqtt_publisher import MqttPublisher, MqttSettings
from sync.payloads import data_topic, encode_item, encode_message
from sync.worker import Backoff
from tests.support.sync_support import (
    DEVICE,
    assert_same_contents,
    box_counts,
    frames_for,
    pg_counts,
    record_session,
)


def _settings(broker, user="", password=None) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, username=user, password=password,
                        tls=False, keepalive=5)


def _ingester(broker, pg_db, client_id="ingest-a", **kw) -> Ingester:
    ing = Ingester(_settings(broker, *kw.pop("login", ())),
                   PgWriter(lambda: psycopg2.connect(pg_db.dsn)),
                   IngestSettings(client_id=client_id, **kw), backoff=Backoff(0.05, 0.5))
    ing.start()
    assert ing.wait_subscribed(10), "ingester did not subscribe"
    return ing


def _publisher(store, broker, **kw) -> MqttPublisher:
    login = kw.pop("login", ())
    pub = MqttPublisher(store, DEVICE, _settings(broker, *login), **kw)
    pub.start()
    assert pub.wait_ready(10), "publisher did not connect"
    return pub


def _pump_until_empty(pub, store, timeout_s=60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while store.backlog() and time.monotonic() < deadline:
        pub.pump()
        time.sleep(0.05)
    assert store.backlog() == {}, f"outbox not drained: {store.backlog()}"


def _assert_box_equals_pg(store, pg_db) -> None:
    conn = psycopg2.connect(pg_db.dsn)
    try:
        assert pg_counts(conn) == {**box_counts(store.path), "duplicate_chunks": 0}
        assert_same_contents(store.path, conn)
    finally:
        conn.close()


def test_full_session_via_mqtt_equals_the_box(pg, pg_db, mosquitto, tmp_path):
    ingesters = [_ingester(mosquitto, pg_db, "ingest-a"), _ingester(mosquitto, pg_db, "ingest-b")]
    with LocalStore(tmp_path / "box", DEVICE) as store:
        record_session(store, seconds=20, reps=3)
        pub = _publisher(store, mosquitto)
        try:
            _pump_until_empty(pub, store)
        finally:
            pub.stop()
        _assert_box_equals_pg(store, pg_db)
    rows = [i.stats["rows"] for i in ingesters]
    for i in ingesters:
        i.stop()
    assert all(r > 0 for r in rows), f"shared subscription did not split the load: {rows}"


def test_broker_down_30s_mid_session(pg, pg_db, mosquitto, tmp_path):
    ing = _ingester(mosquitto, pg_db)
    with LocalStore(tmp_path / "box", DEVICE) as store:
        sid = record_session(store, seconds=5, end=False)
        pub = _publisher(store, mosquitto, resend_after_s=20)
        try:
            _pump_until_empty(pub, store)
            mosquitto.stop(kill=True)          # a crash, not a clean shutdown
            t_end = time.monotonic() + 30
            s = 5
            while time.monotonic() < t_end:    # the session goes on while the broker is down
                if s < 15:
                    store.submit_frames(sid, frames_for("imu", IMU_CHANNELS, 200, 100.0 + s, 1,
                                                     s * 200))
                    store.flush()
                    s += 1
                pub.pump()
                time.sleep(0.5)
            assert sum(store.backlog().values()) >= 10
            store.end_session(sid, "button")
            store.flush()
            mosquitto.start()
            _pump_until_empty(pub, store, timeout_s=90)
        finally:
            pub.stop()
        _assert_box_equals_pg(store, pg_db)
    ing.stop()


def test_same_message_twice_and_out_of_order(pg, pg_db, mosquitto, tmp_path):
    """Children before their session, the session link before its target, and every
    message delivered twice: the stored rows equal the box's, each once."""
    ing = _ingester(mosquitto, pg_db)
    with LocalStore(tmp_path / "box", DEVICE) as store:
        record_session(store, seconds=3, reps=2)
        entries = store.pending(1000)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="raw-box",
                         protocol=mqtt.MQTTv5)
    acks: list[int] = []
    client.on_message = lambda c, u, m: acks.extend(json.loads(m.payload)["outbox_ids"])
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe(f"liftguard/v1/{DEVICE}/ack", qos=1)
    client.loop_start()
    time.sleep(0.3)
    for e in reversed(entries):            # newest first: chunks, reps, then the session
        msg = encode_message(DEVICE, e.kind, [encode_item(e.id, e.payload)], time.time())
        for _ in range(2):
            client.publish(data_topic(DEVICE, e.kind), msg, qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 30
    while set(acks) != {e.id for e in entries} and time.monotonic() < deadline:
        if time.monotonic() > deadline - 25:   # deferred session links: the box sends again
            for e in entries:
                if e.kind == "sessions" and e.id not in acks:
                    client.publish(data_topic(DEVICE, "sessions"), encode_message(
                        DEVICE, "sessions", [encode_item(e.id, e.payload)], time.time()), qos=1)
        time.sleep(0.5)
    client.loop_stop()
    client.disconnect()
    ing.stop()
    assert set(acks) == {e.id for e in entries}
    _assert_box_equals_pg(store, pg_db)
