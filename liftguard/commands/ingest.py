"""`liftguard ingest --config FILE`: the server-side MQTT -> PostgreSQL ingester, and the
recorders of the boxes' session-command acknowledgements and online status
(docs/session-commands.md); all three run in this one process, with the same login."""
from __future__ import annotations

import argparse
import signal
import socket

from liftguard.connections import database_connector, mqtt_settings
from liftguard.errors import EXIT_OK, EXIT_RUNTIME, UsageError
from sync.direct import PgWriter
from sync.ingester import Ingester, IngestSettings
from sync.session_command_mqtt import AckRecorder, BoxStatusRecorder
from sync.systemd_notify import SystemdNotifier


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="server: store MQTT messages from boxes in PostgreSQL")
    # Also accepted after the subcommand (`liftguard ingest --config FILE`); SUPPRESS keeps
    # the global --config when this one is not given.
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="TOML config file (same as the global --config)")
    p.add_argument("--dsn", default=None, help="override [database] dsn (no password in it)")
    p.set_defaults(func=run)


def settings_from(cfg) -> IngestSettings:
    s = cfg.section("ingest")
    return IngestSettings(group=s["group"],
                          client_id=s["client_id"] or f"liftguard-ingest-{socket.gethostname()}",
                          batch_max_messages=s["batch_max_messages"],
                          batch_max_wait_s=float(s["batch_max_wait_s"]),
                          max_payload_bytes=s["max_payload_bytes"],
                          receive_maximum=s["receive_maximum"])


def run(args: argparse.Namespace) -> int:
    try:
        connect = database_connector(args.cfg, args.dsn)
        mqtt = mqtt_settings(args.cfg)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    notifier = SystemdNotifier()
    settings = settings_from(args.cfg)
    ingester = Ingester(mqtt, PgWriter(connect), settings,
                        on_subscribed=lambda topic: notifier.ready(f"ingesting {topic}"))
    recorders = [AckRecorder(mqtt, connect, f"{settings.client_id}-acks"),
                 BoxStatusRecorder(mqtt, connect, f"{settings.client_id}-status")]
    for recorder in recorders:
        recorder.start()
    signal.signal(signal.SIGTERM, lambda signum, frame: ingester.request_stop())
    try:
        return EXIT_OK if ingester.run_forever() else EXIT_RUNTIME
    finally:
        for recorder in recorders:
            recorder.stop()
