"""Session commands over MQTT: the box's subscriber, the web app's publisher, and the server's
recorders of the boxes' acknowledgements and online status (topics and payloads in
``sync.session_commands``; status in ``sync.device_status``).

All three use persistent MQTT v5 sessions and QoS 1: a command published while its box is
offline waits at the broker, and arrives, maybe late, when the box reconnects; the box then
reports it expired rather than acting on it.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import paho.mqtt.client as mqtt

from sync.device_status import parse_status, record_status
from sync.mqtt_publisher import MqttSettings, connect_async, make_client
from sync.payloads import TOPIC_ROOT, PayloadError, parse_topic
from sync.session_command_store import record_ack
from sync.session_commands import (
    Ack,
    Command,
    CommandError,
    ack_subscription,
    command_ack_topic,
    command_topic,
    device_of_topic,
    parse_ack,
)

log = logging.getLogger(__name__)


class _Connected:
    """A paho client that is ready once its one subscription is granted."""

    def __init__(self, settings: MqttSettings, client_id: str, topic: str | None) -> None:
        self.settings, self.topic = settings, topic
        self.ready = threading.Event()
        self.last_error: str | None = None
        self.client, self._props = make_client(settings, client_id)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda *a: self.ready.clear()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.error("MQTT %s:%d: %s", self.settings.host, self.settings.port, self.last_error)
        elif self.topic is None:
            self.ready.set()
        else:
            client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        if any(r.is_failure for r in reasons):
            self.last_error = f"subscription to {self.topic} refused: {reasons}"
            log.error("MQTT: %s (check the broker ACL)", self.last_error)
        else:
            log.info("MQTT %s:%d: subscribed to %s", self.settings.host, self.settings.port,
                     self.topic)
            self.ready.set()

    def start(self) -> None:
        connect_async(self.client, self.settings, self._props)

    def wait_ready(self, timeout: float) -> bool:
        return self.ready.wait(timeout)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class BoxCommandClient(_Connected):
    """The box side: hands each command payload to ``handle`` and publishes the
    acknowledgement it returns (None: nothing to acknowledge, e.g. an unreadable payload)."""

    def __init__(self, settings: MqttSettings, device_id: str,
                 handle: Callable[[bytes], Ack | None], client_id: str | None = None) -> None:
        super().__init__(settings, client_id or f"liftguard-box-{device_id}-cmd",
                         command_topic(device_id))
        self.device_id, self._handle = device_id, handle
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            ack = self._handle(msg.payload)
        except Exception:
            log.exception("command on %s could not be handled; the session is unchanged",
                          msg.topic)
            return
        if ack is not None:
            client.publish(command_ack_topic(self.device_id), ack.encode(), qos=1)


class CommandPublisher(_Connected):
    """The web app side: publishes commands (QoS 1; paho queues them while disconnected)."""

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        super().__init__(settings, client_id, None)

    def publish(self, cmd: Command) -> None:
        info = self.client.publish(command_topic(cmd.device_id), cmd.encode(), qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise OSError(f"MQTT publish of command {cmd.id} failed: "
                          f"{mqtt.error_string(info.rc)}")


class _DbRecorder(_Connected):
    """A subscriber that writes what it receives to PostgreSQL, reconnecting when needed."""

    def __init__(self, settings: MqttSettings, connect: Callable[[], Any], client_id: str,
                 topic: str) -> None:
        super().__init__(settings, client_id, topic)
        self._connect = connect
        self._conn: Any = None
        self.client.on_message = self._on_message

    def _db(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        super().stop()
        if self._conn is not None:
            self._conn.close()


class AckRecorder(_DbRecorder):
    """The server side: stores every box acknowledgement in ``session_commands`` (one
    recorder of the shared-subscription group gets each)."""

    def __init__(self, settings: MqttSettings, connect: Callable[[], Any], client_id: str,
                 group: str = "liftguard-cmd") -> None:
        super().__init__(settings, connect, client_id, ack_subscription(group))
        self.recorded = 0

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            ack = parse_ack(msg.payload, device_of_topic(msg.topic))
        except CommandError as exc:
            log.error("ignoring a command acknowledgement on %s: %s", msg.topic, exc)
            return
        try:
            if record_ack(self._db(), ack):
                self.recorded += 1
                log.info("command %s on %s: %s%s", ack.id, ack.device_id, ack.status,
                         f" ({ack.reason})" if ack.reason else "")
        except Exception as exc:   # the database is away: the next ack is tried afresh
            log.error("could not record the acknowledgement of command %s: %s", ack.id, exc)
            self._conn = None


class BoxStatusRecorder(_DbRecorder):
    """The server side: records every box's retained online/offline flag in its ``devices``
    row (a plain subscription, so each recorder also gets the flags retained before it
    started; the upsert makes several recorders harmless)."""

    def __init__(self, settings: MqttSettings, connect: Callable[[], Any],
                 client_id: str) -> None:
        super().__init__(settings, connect, client_id, f"{TOPIC_ROOT}/+/status")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            device_id, _ = parse_topic(msg.topic)
            online = parse_status(msg.payload)
        except (PayloadError, ValueError) as exc:
            log.error("ignoring a box status on %s: %s", msg.topic, exc)
            return
        try:
            record_status(self._db(), device_id, online, "mqtt")
            log.info("box %s is %s", device_id, "online" if online else "offline")
        except Exception as exc:   # the database is away: the box's next flag is tried afresh
            log.error("could not record that box %s is %s: %s", device_id,
                      "online" if online else "offline", exc)
            self._conn = None
