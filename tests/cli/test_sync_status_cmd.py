"""`liftguard sync status`: right in MQTT mode (a daemon synced through a real broker and
ingester), and the daemon's NTP hold with its remaining time."""
from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import pytest

from edge_agent.store import LocalStore
from liftguard.box import box_daemon
from liftguard.commands import sync_cmd
from sensors.simulator import SimulatorSource
from sync.direct import PgWriter
from sync.ingester import Ingester, IngestSettings
from sync.mqtt_publisher import MqttSettings
from tests.support.daemon_helpers import NO_PINS, config, record_set_and_drain
from tests.support.sync_support import migrated

pytestmark = pytest.mark.integration


def _status_lines(cfg, capsys) -> list[str]:
    assert sync_cmd.run(argparse.Namespace(cfg=cfg, action="status", once=False)) == 0
    return capsys.readouterr().out.splitlines()


def test_sync_status_after_a_daemon_synced_through_mqtt(tmp_path, pg_db, mosquitto, capsys):
    migrated(pg_db).close()
    ing = Ingester(MqttSettings(mosquitto.host, mosquitto.port, tls=False),
                   PgWriter(lambda: psycopg2.connect(pg_db.dsn)),
                   IngestSettings(client_id="ingest-status"))
    ing.start()
    assert ing.wait_subscribed(10)
    cfg = config(tmp_path, feedback=NO_PINS,
                 mqtt={"host": mosquitto.host, "port": mosquitto.port, "tls": False},
                 sync={"mode": "mqtt", "hold_unsynced_clock_s": 0},
                 api={"port": 1})   # nothing listens there: "daemon not answering" below
    daemon = box_daemon(cfg, sources=[SimulatorSource(reps=1, realtime=False)], api=False)
    try:
        daemon.start()
        record_set_and_drain(daemon)
    finally:
        daemon.stop()
        ing.stop()
    lines = _status_lines(cfg, capsys)
    assert "mode: mqtt" in lines
    success = next(line for line in lines if line.startswith("last success:"))
    assert "never" not in success and "last commit ack" in success
    assert any(line.startswith("NTP hold: unknown: the daemon does not answer") for line in lines)
    state = json.loads(lines[-1])
    assert state["rows_synced"] >= ing.stats["rows"] > 0


class _FakeDaemon(BaseHTTPRequestHandler):
    """The daemon's GET /status as far as sync status reads it (the clock gate's hold)."""

    hold: dict = {}

    def do_GET(self) -> None:
        body = json.dumps({"sync": "mqtt", "sync_hold": self.hold}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("hold, shown", [
    ({"waiting_for_ntp": True, "hold_unsynced_clock_s": 900.0, "remaining_s": 612.4,
      "gave_up_waiting": False},
     "NTP hold: waiting for NTP: 612 s left of the 900 s hold ([sync] hold_unsynced_clock_s); "
     "nothing is sent until then"),
    ({"waiting_for_ntp": False, "hold_unsynced_clock_s": 900.0, "remaining_s": None,
      "gave_up_waiting": True},
     "NTP hold: clock still not NTP-synchronised: sending anyway after the 900 s hold"),
    ({"waiting_for_ntp": False, "hold_unsynced_clock_s": 900.0, "remaining_s": None,
      "gave_up_waiting": False}, "NTP hold: not waiting for NTP (clock synchronised)"),
])
def test_sync_status_shows_the_daemons_ntp_hold(tmp_path, capsys, hold, shown):
    handler = type("Handler", (_FakeDaemon,), {"hold": hold})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        LocalStore(tmp_path, "box-1").close()
        cfg = config(tmp_path, sync={"mode": "mqtt"},
                     api={"bind": "127.0.0.1", "port": server.server_address[1]})
        lines = _status_lines(cfg, capsys)
    finally:
        server.shutdown()
        server.server_close()
    assert shown in lines
    assert json.loads(lines[-1])["sync_hold"] == hold
