"""Box-side glue between the local store and ``sync``: builds the direct worker or the MQTT
publisher from the config and runs them over the store's outbox.

``OutboxFile`` reads the outbox through its own SQLite connection (WAL lets it run beside
the daemon's writer) and never opens a ``LocalStore``, whose crash recovery would end the
daemon's active session.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from edge_agent.settings import SecretLookup, Settings
from edge_agent.store import outbox as store_outbox
from edge_agent.store.db import DB_FILENAME, connect
from edge_agent.store.errors import StoreError
from edge_agent.store.outbox import OutboxItem
from sync import connect as pg_connect
from sync.direct import DirectSink, PgWriter
from sync.mqtt_publisher import MqttPublisher, MqttSettings
from sync.worker import Backoff, SyncWorker

log = logging.getLogger(__name__)

STATE_FILENAME = "sync-state.json"


class OutboxFile:
    """The outbox of ``<data_dir>/liftguard.db`` (satisfies ``sync.outbox.Outbox``)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / DB_FILENAME
        if not self.path.exists():
            raise StoreError(f"{self.path}: no local store here (check [device] data_dir)")
        self._conn = connect(self.path)
        self._lock = threading.Lock()

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        with self._lock:
            return store_outbox.pending(self._conn, limit)

    def ack(self, ids: Iterable[int]) -> int:
        with self._lock:
            return store_outbox.ack(self._conn, ids)

    def mark_failed(self, ids: Iterable[int], error: str) -> None:
        with self._lock:
            store_outbox.mark_failed(self._conn, ids, error, time.time())

    def backlog(self) -> dict[str, int]:
        with self._lock:
            return store_outbox.backlog(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def state_path(cfg: Settings) -> Path:
    return cfg.data_dir / STATE_FILENAME


def pg_connect_factory(cfg: Settings, secrets: SecretLookup,
                       dsn: str | None = None) -> Callable[[], Any]:
    """Connections to ``dsn`` or ``[database] dsn`` with the ``database_password`` secret."""
    return pg_connect.pg_connect_factory(dsn or cfg.get("database.dsn"),
                                      secrets.get("database_password"))


def mqtt_settings(cfg: Settings, secrets: SecretLookup) -> MqttSettings:
    return MqttSettings.from_section(cfg.section("mqtt"), secrets.get("mqtt_password"))


def direct_worker(cfg: Settings, secrets: SecretLookup, outbox: Any,
                  dsn: str | None = None) -> SyncWorker:
    s = cfg.section("sync")
    sink = DirectSink(PgWriter(pg_connect_factory(cfg, secrets, dsn)), cfg.get("device.id"))
    return SyncWorker(outbox, sink, batch_size=s["batch_size"], state_path=state_path(cfg),
                      backoff=Backoff(1.0, float(s["backoff_max_s"])))


def publisher(cfg: Settings, secrets: SecretLookup, outbox: Any) -> MqttPublisher:
    s = cfg.section("sync")
    return MqttPublisher(outbox, cfg.get("device.id"), mqtt_settings(cfg, secrets), window=s["window"],
                         resend_after_s=float(s["resend_after_s"]),
                         state_path=state_path(cfg))


def publish_until_stopped(pub: MqttPublisher, stop: threading.Event) -> None:
    """The daemon's MQTT sync loop: pump until ``stop``, then say offline and disconnect.
    When ``pub.run`` raises, the connection is kept for the supervisor's next start."""
    try:
        pub.run(stop)
    finally:
        if stop.is_set():
            pub.stop()


def publish_until_empty(pub: MqttPublisher, outbox: Any, timeout_s: float,
                        stop: threading.Event | None = None) -> bool:
    """Pump until every entry is acknowledged by the ingester; False on timeout."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        if not outbox.backlog():
            return True
        pub.pump()
        stop.wait(0.05)
    return not outbox.backlog()
