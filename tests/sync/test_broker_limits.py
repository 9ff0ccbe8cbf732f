"""The shipped Mosquitto example's size limit on a real broker, and how the ingester reports a
broker that stops."""
from __future__ import annotations

import logging
from pathlib import Path

import psycopg2
import pytest

from sync.direct import PgWriter
from sync.ingester import Ingester, IngestSettings
from sync.mqtt_publisher import MqttSettings
from sync.payloads import DEFAULT_MAX_PAYLOAD_BYTES, data_topic
from sync.worker import Backoff
from tests.support.sync_support import close, count, migrated, raw_client, wait_for

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "sync" / "mosquitto.conf.example"


def _example_settings() -> dict[str, str]:
    settings = {}
    for line in EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings[key] = value.strip()
    return settings


def _ingester(broker, pg_db) -> Ingester:
    ing = Ingester(MqttSettings(broker.host, broker.port, tls=False),
                   PgWriter(lambda: psycopg2.connect(pg_db.dsn)),
                   IngestSettings(client_id="ingest-limits"), backoff=Backoff(0.05, 0.5))
    ing.start()
    assert ing.wait_subscribed(10)
    return ing


def test_example_limit_is_above_the_ingesters_so_oversize_reaches_dead_letters(
        pg_db, mosquitto_factory):
    settings = _example_settings()
    assert "message_size_limit" not in settings          # deprecated in Mosquitto
    limit = int(settings["max_packet_size"])
    assert limit > DEFAULT_MAX_PAYLOAD_BYTES + 64 * 1024   # payload limit + topic/headers
    broker = mosquitto_factory(extra_conf=(f"max_packet_size {limit}",))
    conn = migrated(pg_db)
    ing = _ingester(broker, pg_db)
    sender = raw_client(broker, "big-sender")
    try:
        sender.publish(data_topic("box-1", "sensor_data"), b"x" * (DEFAULT_MAX_PAYLOAD_BYTES + 1),
                       qos=1).wait_for_publish(5)
        wait_for(lambda: count(pg_db, "dead_letters") == 1, 20, "the oversize dead letter")
    finally:
        close(sender)
        ing.stop()
    with conn.cursor() as cur:
        cur.execute("SELECT reason, length(payload) FROM dead_letters")
        (reason, size), = cur.fetchall()
    conn.close()
    assert f"over the {DEFAULT_MAX_PAYLOAD_BYTES}-byte limit" in reason
    assert size == DEFAULT_MAX_PAYLOAD_BYTES + 1


def test_a_broker_that_stops_is_not_logged_as_an_unspecified_error(pg_db, mosquitto, caplog):
    migrated(pg_db).close()
    ing = _ingester(mosquitto, pg_db)
    try:
        with caplog.at_level(logging.INFO, logger="sync.ingester"):
            mosquitto.stop()
            wait_for(lambda: not ing.wait_subscribed(0), 10, "the ingester to notice")
            wait_for(lambda: any("reconnecting" in r.getMessage() for r in caplog.records), 10,
                     "the disconnect log line")
    finally:
        ing.stop()
    lines = [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]
    assert lines and not any("Unspecified error" in line for line in lines)
    assert any("broker stopped or restarted" in line or "shutting down" in line
               for line in lines)
