"""The database and MQTT connections the commands open, from the config file and its secrets
(the server's ``ingest`` and ``web``, the box's ``sync``)."""
from __future__ import annotations

from typing import Any, Callable

from liftguard.config import Config
from liftguard.secrets import secrets_for
from sync.connect import pg_connect_factory
from sync.mqtt_publisher import MqttSettings


def database_connector(cfg: Config, dsn: str | None = None) -> Callable[[], Any]:
    """Connections to ``dsn`` or ``[database] dsn`` with the ``database_password`` secret."""
    return pg_connect_factory(dsn or cfg.get("database.dsn"),
                              secrets_for(cfg).get("database_password"))


def mqtt_settings(cfg: Config) -> MqttSettings:
    """``[mqtt]`` with the ``mqtt_password`` secret."""
    return MqttSettings.from_section(cfg.section("mqtt"), secrets_for(cfg).get("mqtt_password"))
