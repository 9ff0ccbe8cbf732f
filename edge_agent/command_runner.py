"""Box-side glue for web app commands and coach labels, started by the daemon beside its sync.

* ``[sync] mode = "mqtt"``: commands arrive on the box's command topic and are acknowledged on
  its ack topic (``sync.command_mqtt.BoxCommandClient``), at once.
* ``[sync] mode = "direct"``: the box polls ``session_commands`` every ``[sync] interval_s``
  and settles each command it handled in the same table. Each poll also marks the box online
  in its ``devices`` row (created at the first poll, so a new box can be chosen in the web app
  at once); a clean stop marks it offline. Over MQTT the ingester records the box's status.
* Whenever ``[database] dsn`` is set, the same poll pulls the coach labels of this box's
  sessions and refreshes the athletes' profiles from them (``edge_agent.daemon.profiles``),
  reporting each refresh in ``athlete_profiles``.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from sync.command_store import pending_commands, record_ack
from sync.device_status import record_status
from sync.labels import athlete_ids, fetch_labels, report_profile

from edge_agent import sync_runner
from edge_agent.config import Config
from edge_agent.daemon.commands import BoxCommands
from edge_agent.daemon.profiles import ProfileRefresher

log = logging.getLogger(__name__)


class CommandRunner:
    def __init__(self, cfg: Config, commands: BoxCommands, profiles: ProfileRefresher) -> None:
        self.cfg, self.commands, self.profiles = cfg, commands, profiles
        self.device_id = cfg.get("device.id")
        self.mode = cfg.get("sync.mode")
        self._connect: Callable[[], Any] | None = None
        if cfg.get("database.dsn"):
            self._connect = sync_runner.pg_connect_factory(cfg)
        self._conn: Any = None
        self.client: Any = None
        self._thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        if self.mode == "mqtt" and self.cfg.get("mqtt.host"):
            from sync.command_mqtt import BoxCommandClient

            self.client = BoxCommandClient(sync_runner.mqtt_settings(self.cfg), self.device_id,
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
            stop.wait(interval)

    def poll_once(self) -> None:
        assert self._connect is not None
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        if self.mode == "direct":
            record_status(self._conn, self.device_id, True, "direct")
            for cmd in pending_commands(self._conn, self.device_id):
                record_ack(self._conn, self.commands.handle(cmd))
        labels = fetch_labels(self._conn, self.device_id)
        ids = athlete_ids(labels)
        for report in self.profiles.refresh(labels):
            report_profile(self._conn, ids[report.athlete_email], report.lift, self.device_id,
                           report.refreshed_at, report.rep_count, report.session_count)


def start(cfg: Config, daemon: Any, stop: threading.Event) -> CommandRunner | None:
    """The daemon's hook: commands and labels over whatever sync is configured, or None."""
    if cfg.get("sync.mode") == "off":
        return None
    runner = CommandRunner(cfg, BoxCommands(daemon.sessions, cfg.get("device.id"), cfg.data_dir),
                           ProfileRefresher(daemon.store, lambda: getattr(daemon.scorer, "model",
                                                                           None), cfg.data_dir))
    runner.start(stop)
    return runner
