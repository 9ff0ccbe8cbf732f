"""What the command line builds from the config file and its secrets: the box's daemon and
sessions (secrets resolved here, in the shell, and handed to ``edge_agent``), and the
database and MQTT connections of the server commands."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edge_agent.daemon.app import Daemon
from edge_agent.daemon.oneshot import SessionRun, run_session
from edge_agent.daemon.wiring import build_daemon
from liftguard.config import Config
from liftguard.secrets import Secrets, load_secrets
from sensors.source import FrameSource
from sync.connect import pg_connect_factory
from sync.mqtt_publisher import MqttSettings


def secrets_for(cfg: Config) -> Secrets:
    """The environment's secrets and those of ``[device] secrets_file`` when it is a file."""
    path = cfg.get("device.secrets_file")
    return load_secrets(path if path and Path(path).is_file() else None)


def box_daemon(cfg: Config, **options: Any) -> Daemon:
    """The daemon for ``cfg`` with its secrets (options as ``build_daemon`` takes them)."""
    return build_daemon(cfg, secrets_for(cfg), **options)


def run_box_session(cfg: Config, source: FrameSource, lift: str, **options: Any) -> SessionRun:
    """One session over ``source`` through the full daemon path (``run_session``)."""
    return run_session(cfg, secrets_for(cfg), source, lift, **options)


def database_connector(cfg: Config, dsn: str | None = None) -> Callable[[], Any]:
    """Connections to ``dsn`` or ``[database] dsn`` with the ``database_password`` secret."""
    return pg_connect_factory(dsn or cfg.get("database.dsn"),
                              secrets_for(cfg).get("database_password"))


def mqtt_settings(cfg: Config) -> MqttSettings:
    """``[mqtt]`` with the ``mqtt_password`` secret."""
    return MqttSettings.from_section(cfg.section("mqtt"), secrets_for(cfg).get("mqtt_password"))
