"""The box's MQTT publisher: sends outbox entries to the broker and deletes them only when
the ingester confirms that PostgreSQL committed them.

* MQTT v5, persistent session (clean start off, session expiry ``session_expiry_s``), QoS 1,
  so messages queued while the box or the ingester is away are kept by the broker.
* Retained ``status`` = ``online`` on connect, ``offline`` by last will or clean stop.
* The ingester publishes ``{"outbox_ids": [...]}`` on ``liftguard/v1/<device_id>/ack`` after
  its database commit; only then are the entries acked in the outbox. The broker's PUBACK
  means nothing here: the broker is not the database.
* What stays unacknowledged for ``resend_after_s`` is published again (a lost ack, a message
  the broker dropped, a crashed ingester). Repeats are harmless: the upserts are idempotent.
"""
from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.outbox import Outbox
from sync.payloads import (
    PayloadError,
    ack_topic,
    check_device_id,
    data_topic,
    decode_ack,
    encode_item,
    encode_message,
    status_topic,
)
from sync.sync_state import SyncState

log = logging.getLogger(__name__)

STATE_SAVE_S = 2.0
RETRY_DELAY_S = 1.0
"""How soon an entry the ingester could not complete yet (``retry_ids``) is sent again."""


@dataclass(frozen=True)
class MqttSettings:
    """Broker connection ([mqtt] config section plus the mqtt_password secret)."""

    host: str
    port: int = 8883
    username: str = ""
    password: str | None = field(default=None, repr=False)
    tls: bool = True
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    keepalive: int = 30
    session_expiry_s: int = 7 * 24 * 3600

    @classmethod
    def from_section(cls, section: dict[str, Any], password: str | None) -> "MqttSettings":
        """From a validated ``[mqtt]`` config section and the ``mqtt_password`` secret."""
        if not section["host"]:
            raise ValueError("no MQTT broker given: set [mqtt] host")
        return cls(host=section["host"], port=section["port"], username=section["username"],
                   password=password, tls=section["tls"], ca_file=section["ca_file"],
                   client_cert=section["client_cert"], client_key=section["client_key"],
                   keepalive=section["keepalive"])


def make_client(settings: MqttSettings, client_id: str, *, manual_ack: bool = False,
                receive_maximum: int | None = None) -> tuple[mqtt.Client, Properties]:
    """A paho 2.x client (MQTT v5, callback API v2) and its CONNECT properties."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file or None,
                       certfile=settings.client_cert or None,
                       keyfile=settings.client_key or None,
                       cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.reconnect_delay_set(1, 30)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = settings.session_expiry_s
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    return client, props


SERVER_SHUTTING_DOWN = 139
"""MQTT v5 DISCONNECT reason code a broker sends when it stops cleanly."""


def describe_disconnect(flags: Any, reason: Any) -> tuple[int, str]:
    """(log level, words) for a paho ``on_disconnect``: a broker that stops cleanly is not a
    "lost connection (Unspecified error)". Mosquitto 2.0 closes the socket without a
    DISCONNECT packet when it stops, so that case is named for what it may be."""
    if not reason.is_failure:
        return logging.INFO, "disconnected"
    if getattr(reason, "value", None) == SERVER_SHUTTING_DOWN:
        return logging.INFO, "the broker is shutting down"
    if not getattr(flags, "is_disconnect_packet_from_server", False):
        return (logging.WARNING, "the connection closed without a DISCONNECT from the broker "
                                 "(broker stopped or restarted, or the network failed)")
    return logging.WARNING, f"the broker disconnected us: {reason}"


def connect_async(client: mqtt.Client, settings: MqttSettings, props: Properties) -> None:
    client.connect_async(settings.host, settings.port, keepalive=settings.keepalive,
                         clean_start=False, properties=props)
    client.loop_start()


class MqttPublisher:
    """Publishes ``outbox`` entries of box ``device_id``; call ``start()``, then ``pump()``
    periodically (or ``run(stop)``), and ``stop()`` at the end."""

    def __init__(self, outbox: Outbox, device_id: str, settings: MqttSettings, *,
                 window: int = 400, max_message_bytes: int = 64 * 1024,
                 resend_after_s: float = 60.0,
                 on_acked: Callable[[list[int], float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 state_path: str | os.PathLike[str] | None = None) -> None:
        """``state_path``: the sync state file ``liftguard sync status`` reads (commit acks
        are this mode's successes), written at most every ``STATE_SAVE_S``."""
        self.outbox = outbox
        self.device_id = check_device_id(device_id)
        self.settings = settings
        self.window, self.max_message_bytes = window, max_message_bytes
        self.resend_after_s = resend_after_s
        self._on_acked = on_acked
        self._clock = clock
        self._lock = threading.Lock()
        self._inflight: dict[int, float] = {}
        self._retry: set[int] = set()   # the ingester asked for these again (retry_ids)
        self._ready = threading.Event()
        self.last_ack_at: float | None = None
        self.last_error: str | None = None
        self.acked = 0
        self.published_messages = 0
        self.state_path = None if state_path is None else Path(state_path)
        self.state = SyncState.load(self.state_path)
        self._state_saved_at = 0.0
        self.client, self._props = make_client(settings, f"liftguard-box-{device_id}")
        self.client.max_inflight_messages_set(100)
        self.client.will_set(status_topic(device_id), b"offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # ---- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.error("MQTT %s:%d: %s", self.settings.host, self.settings.port, self.last_error)
            return
        log.info("MQTT connected to %s:%d as %s (session %s)", self.settings.host,
                 self.settings.port, self.device_id,
                 "resumed" if flags.session_present else "new")
        client.publish(status_topic(self.device_id), b"online", qos=1, retain=True)
        client.subscribe(ack_topic(self.device_id), qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        if any(r.is_failure for r in reasons):
            self.last_error = f"subscription to {ack_topic(self.device_id)} refused: {reasons}"
            log.error("MQTT: %s (check the broker ACL)", self.last_error)
            return
        self._ready.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._ready.clear()
        if reason.is_failure:
            level, words = describe_disconnect(flags, reason)
            self.last_error = f"disconnected: {words}"
            log.log(level, "MQTT %s:%d: %s; %d entries await an ack, reconnecting",
                    self.settings.host, self.settings.port, words, len(self._inflight))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            ids, retry = decode_ack(msg.payload, self.device_id)
        except PayloadError as exc:
            log.error("ignoring a malformed ack on %s: %s", msg.topic, exc)
            return
        self.outbox.ack(ids)
        self._record_acks(len(ids))
        now = self._clock()
        with self._lock:
            for i in ids:
                self._inflight.pop(i, None)
                self._retry.discard(i)
            for i in retry:
                if i in self._inflight:  # expire RETRY_DELAY_S from now
                    self._inflight[i] = now - self.resend_after_s + RETRY_DELAY_S
                    self._retry.add(i)
            self.acked += len(ids)
            self.last_ack_at = now
        if self._on_acked is not None:
            self._on_acked(ids, now)

    # ---- sending ------------------------------------------------------------------------

    def start(self) -> None:
        connect_async(self.client, self.settings, self._props)

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def pump(self) -> int:
        """Publish pending entries not already awaiting an ack; returns messages published."""
        if not self._ready.is_set():
            return 0
        now = self._clock()
        with self._lock:
            expired = [i for i, t in self._inflight.items() if now - t > self.resend_after_s]
            for i in expired:
                del self._inflight[i]
            asked = self._retry.intersection(expired)
            self._retry.difference_update(expired)
            if len(self._inflight) > self.window // 2:
                return 0
            busy = set(self._inflight)
        if len(expired) > len(asked):
            log.warning("%d outbox entries got no commit ack within %.0f s; sending them "
                        "again", len(expired) - len(asked), self.resend_after_s)
        if asked:
            log.debug("sending %d entries again that the ingester could not complete yet "
                      "(their session or metrics row had not arrived)", len(asked))
        entries = [e for e in self.outbox.pending(self.window) if e.id not in busy]
        gone = [e.id for e in entries if e.payload is None]
        if gone:
            self.outbox.ack(gone)
        groups: list[tuple[str, list[int], list[bytes]]] = []
        size = 0
        for e in entries:
            if e.payload is None:
                continue
            item = encode_item(e.id, e.payload)
            if (not groups or groups[-1][0] != e.kind
                    or size + len(item) > self.max_message_bytes):
                groups.append((e.kind, [], []))
                size = 0
            groups[-1][1].append(e.id)
            groups[-1][2].append(item)
            size += len(item) + 1
        wall = time.time()
        for kind, ids, items in groups:
            info = self.client.publish(data_topic(self.device_id, kind),
                                       encode_message(self.device_id, kind, items, wall), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
                self.last_error = f"publish failed: {mqtt.error_string(info.rc)}"
                break
            with self._lock:
                for i in ids:
                    self._inflight[i] = now
            self.published_messages += 1
        return len(groups)

    def run(self, stop: threading.Event, interval_s: float = 0.2) -> None:
        while not stop.is_set():
            self.pump()
            stop.wait(interval_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Say ``offline`` (retained) and disconnect; unacked entries stay in the outbox."""
        if self.client.is_connected():
            info = self.client.publish(status_topic(self.device_id), b"offline", qos=1,
                                       retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self.save_state()

    def status(self) -> dict[str, Any]:
        return {"connected": self.connected, "awaiting_ack": self.inflight(),
                "acked": self.acked, "last_error": self.last_error}

    def _record_acks(self, n: int) -> None:
        with self._lock:
            self.state.last_success = time.time()
            self.state.rows_synced += n
            self.state.consecutive_failures = 0
        self.save_state(force=False)

    def record_error(self, error: str) -> None:
        """Note a failure (e.g. acks that never came) in the sync state file."""
        with self._lock:
            self.state.last_error, self.state.last_error_at = error, time.time()
            self.state.consecutive_failures += 1
        self.save_state()

    def save_state(self, force: bool = True) -> None:
        now = time.monotonic()
        if self.state_path is None or (not force and now - self._state_saved_at < STATE_SAVE_S):
            return
        with self._lock:
            self._state_saved_at = now
            try:
                self.state.save(self.state_path)
            except OSError as exc:
                log.warning("cannot write the sync state file %s: %s", self.state_path, exc)
