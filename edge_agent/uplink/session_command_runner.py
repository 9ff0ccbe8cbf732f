"""Box-side glue for web app commands and coach labels, started by the daemon beside its sync.

* ``[sync] mode = "mqtt"``: commands arrive on the box's command topic and are acknowledged on
  its ack topic (``sync.session_command_mqtt.BoxCommandClient``), at once.
* ``[sync] mode = "direct"``: the box polls ``session_commands`` every ``[sync] interval_s``
  and settles each command it handled in the same table. The first poll (and the first after
  a lost connection) marks the box online in its ``devices`` row (created then, so a new box
  can be chosen in the web app at once), later polls only every ``DIRECT_HEARTBEAT_S`` (the
  web app shows a box silent for 60 s offline), not at each poll; a clean stop marks it
  offline. Over MQTT the ingester records the box's status.
* Whenever ``[database] dsn`` is set, the same poll pulls the coach labels of this box's
  sessions and refreshes the athletes' profiles from them (``edge_agent.daemon.profiles``, handed in by the daemon),
  reporting each refresh in ``athlete_profiles``.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

from edge_agent.settings import SecretLookup, Settings
from edge_agent.uplink import sync_runner
from sync.device_status import DIRECT_HEARTBEAT_S, record_status
from sync.labels import athlete_ids, fetch_labels, report_profile
from sync.session_command_store import pending_commands, record_ack

log = logging.getLogger(__name__)


class SessionCommandHandler(Protocol):
    """Acts on one session command (``edge_agent.daemon.session_commands.BoxCommands``)."""

    def handle(self, command: Any) -> Any: ...

    def handle_payload(self, payload: bytes) -> Any: ...

    def close(self) -> None: ...


class ProfileRefresh(Protocol):
    """Rebuilds athletes' profiles from coach labels (``edge_agent.daemon.profiles``, handed in by the daemon)."""

    def refresh(self, labels: Any) -> list[Any]: ...


class SessionCommandRunner:
    def __init__(self, cfg: Settings, secrets: SecretLookup, commands: SessionCommandHandler,
                 profiles: ProfileRefresh, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.secrets = cfg, secrets
        self._clock = clock
        self._online_at: float | None = None   # when this connection last wrote the online mark
        self.commands, self.profiles = commands, profiles
        self.device_id = cfg.get("device.id")
        self.mode = cfg.get("sync.mode")
        self._connect: Callable[[], Any] | None = None
        if cfg.get("database.dsn"):
            self._connect = sync_runner.pg_connect_factory(cfg, secrets)
        self._conn: Any = None
        self.client: Any = None
        self._thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        if self.mode == "mqtt" and self.cfg.get("mqtt.host"):
            from sync.session_command_mqtt import BoxCommandClient

            self.client = BoxCommandClient(sync_runner.mqtt_settings(self.cfg, self.secrets), self.device_id,
                                           self.commands.handle_payload)
            self.client.start()
        if self._connect is not None:
            self._thread = threading.Thread(target=self._run, args=(stop,), name="box-commands",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self.client is not None:
            self.client.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._conn is not None:
            if self.mode == "direct":
                try:
                    record_status(self._conn, self.device_id, False, "direct")
                except Exception as exc:   # the web app shows it offline after a minute
                    log.warning("could not mark this box offline in the database: %s", exc)
            self._conn.close()
        self.commands.close()

    def _run(self, stop: threading.Event) -> None:
        interval = float(self.cfg.get("sync.interval_s"))
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:   # the database is away: the next poll reconnects
                log.warning("command/label poll failed (%s); trying again in %.0f s", exc,
                            interval)
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                self._online_at = None
            stop.wait(interval)

    def poll_once(self) -> None:
        assert self._connect is not None
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._online_at = None
        if self.mode == "direct":
            now = self._clock()
            if self._online_at is None or now - self._online_at >= DIRECT_HEARTBEAT_S:
                record_status(self._conn, self.device_id, True, "direct")
                self._online_at = now
            for cmd in pending_commands(self._conn, self.device_id):
                record_ack(self._conn, self.commands.handle(cmd))
        labels = fetch_labels(self._conn, self.device_id)
        ids = athlete_ids(labels)
        for report in self.profiles.refresh(labels):
            report_profile(self._conn, ids[report.athlete_email], report.lift, self.device_id,
                           report.refreshed_at, report.rep_count, report.session_count)

