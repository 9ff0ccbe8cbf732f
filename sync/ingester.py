"""The MQTT -> PostgreSQL ingester (``liftguard ingest``).

Several ingesters share the load through the shared subscription
``$share/<group>/liftguard/v1/+/+`` (each message goes to one of them). For every batch of
messages:

1. validate each message (size, JSON, version, device in payload == device in topic, every
   row); a bad message, or a bad item in it, becomes a dead letter with the reason;
2. write the batch's rows and dead letters in one PostgreSQL transaction and commit;
3. only then acknowledge the MQTT messages (paho ``manual_ack=True`` + ``client.ack``) and
   publish the commit acknowledgement (stored outbox ids) to each device.

If the ingester dies before step 3 the broker still holds the messages in the ingester's
persistent session and delivers them again; the upserts make the repeat harmless. While
PostgreSQL is down the batch is retried with jittered backoff and nothing is acknowledged.

``LIFTGUARD_INGEST_PAUSE_FILE`` (tests only): before the first commit, write that file and
stop there until killed, so a test can SIGKILL the ingester between receiving and committing.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt

from sync.direct import DeadLetter, PgWriter, TransientDbError
from sync.mqtt_publisher import MqttSettings, connect_async, describe_disconnect, make_client
from sync.payloads import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    PayloadError,
    ack_topic,
    decode_message,
    encode_ack,
    parse_topic,
    subscription,
)
from sync.rows import SyncRecord, WriteOutcome
from sync.worker import Backoff

log = logging.getLogger(__name__)

PAUSE_FILE_ENV = "LIFTGUARD_INGEST_PAUSE_FILE"
WAIT_S, WAIT_TRIES = 0.25, 12
"""A row whose session has not arrived is tried again here every WAIT_S, WAIT_TRIES times,
before the box is asked to send it again (its message is acknowledged meanwhile: the box
keeps the row until a commit ack names it, so a crash here loses nothing)."""
IGNORED_KINDS = ("status", "ack")
"""Matched by the subscription but not data: boxes' status flags and our own acks."""


@dataclass(frozen=True)
class IngestSettings:
    group: str = "liftguard"
    client_id: str = "liftguard-ingest"
    batch_max_messages: int = 200
    batch_max_wait_s: float = 0.05
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    receive_maximum: int = 1000


@dataclass
class _Received:
    topic: str
    payload: bytes
    mid: int
    qos: int


class Ingester:
    def __init__(self, mqtt_settings: MqttSettings, writer: PgWriter,
                 settings: IngestSettings = IngestSettings(), *,
                 backoff: Backoff | None = None,
                 on_committed: Callable[[list[SyncRecord]], None] | None = None,
                 on_subscribed: Callable[[str], None] | None = None) -> None:
        """``on_subscribed(subscription)`` is called (from the network thread) each time the
        broker grants the subscription: only then do messages reach this ingester."""
        self.mqtt_settings, self.settings, self.writer = mqtt_settings, settings, writer
        self._on_subscribed = on_subscribed
        self._queue: "queue.Queue[_Received]" = queue.Queue()
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self._backoff = backoff or Backoff(0.5, 30.0)
        self._on_committed = on_committed
        self._pause_file = os.environ.get(PAUSE_FILE_ENV)
        self._waiting: dict[SyncRecord, tuple[float, int]] = {}
        """Deferred rows retried here first: record -> (when, tries so far)."""
        self.fatal: str | None = None
        """Why the writer thread died, if it did."""
        self.stats = {"messages": 0, "rows": 0, "dead_letters": 0, "batches": 0,
                      "db_retries": 0}
        self.client, self._props = make_client(mqtt_settings, settings.client_id,
                                               manual_ack=True,
                                               receive_maximum=settings.receive_maximum)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._thread: threading.Thread | None = None

    # ---- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%d refused the ingester: %s", self.mqtt_settings.host,
                      self.mqtt_settings.port, reason)
            return
        log.info("ingester %s connected to %s:%d (session %s); subscribing to %s",
                 self.settings.client_id, self.mqtt_settings.host, self.mqtt_settings.port,
                 "resumed" if flags.session_present else "new",
                 subscription(self.settings.group))
        client.subscribe(subscription(self.settings.group), qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        topic = subscription(self.settings.group)
        if any(r.is_failure for r in reasons):
            log.error("subscription %s refused: %s (check the broker ACL)", topic, reasons)
            return
        log.info("ingester %s subscribed to %s; ingesting", self.settings.client_id, topic)
        self._subscribed.set()
        if self._on_subscribed is not None:
            self._on_subscribed(topic)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._subscribed.clear()
        if reason.is_failure:
            level, words = describe_disconnect(flags, reason)
            log.log(level, "ingester: %s; reconnecting", words)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(_Received(msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    # ---- batches ----------------------------------------------------------------------------

    def start(self) -> None:
        connect_async(self.client, self.mqtt_settings, self._props)
        self._thread = threading.Thread(target=self._loop, name="ingest-writer", daemon=True)
        self._thread.start()

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def request_stop(self) -> None:
        """Ask the writer thread to stop after its current batch (signal-handler safe)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop after the current batch; unacknowledged messages stay with the broker."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()
        self.writer.close()

    def run_forever(self) -> bool:
        """Ingest until stopped; False when the writer thread died (``fatal`` says why), so
        that the command exits non-zero and systemd restarts it."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=60)
                log.info("ingester: %(messages)d messages, %(rows)d rows, %(dead_letters)d "
                         "dead letters, %(batches)d batches, %(db_retries)d database retries",
                         self.stats)
        finally:
            self.stop()
        return self.fatal is None

    def _take_batch(self) -> list[_Received]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_max_wait_s
        while len(batch) < self.settings.batch_max_messages:
            try:
                batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self._take_batch()
                if batch or self._due_waiting():
                    self._handle_safely(batch)
        except BaseException as exc:  # reported, then the process exits 1
            self.fatal = f"{type(exc).__name__}: {exc}"
            log.critical("ingester writer stopped: %s; nothing after it was acknowledged, the "
                         "broker keeps it; exiting non-zero so that systemd restarts the "
                         "ingester", self.fatal, exc_info=True)
            self._stop.set()

    def _handle_safely(self, batch: list[_Received]) -> None:
        """``_handle``, and when something unexpected breaks a batch, each message on its own;
        a message that breaks even alone is dead-lettered with the reason and acknowledged."""
        try:
            self._handle(batch)
            return
        except Exception:  # find the message, keep ingesting
            log.exception("ingester: unexpected error in a batch of %d messages; handling them "
                          "one by one", len(batch))
        for m in batch:
            try:
                self._handle([m])
            except Exception as exc:
                log.exception("ingester: unexpected error on the message from %s; "
                              "dead-lettering it", m.topic)
                self._commit_and_ack(
                    [], [DeadLetter(f"unexpected error in the ingester "
                                    f"({type(exc).__name__}): {exc}"[:2000], m.payload,
                                    m.topic, _claimed(m.topic))], [m])

    def _due_waiting(self) -> list[SyncRecord]:
        now = time.monotonic()
        return [rec for rec, (due, _) in self._waiting.items() if due <= now]

    def _handle(self, batch: list[_Received]) -> None:
        records: list[SyncRecord] = self._due_waiting()
        letters: list[DeadLetter] = []
        done_ids: dict[str, list[int]] = {}
        for m in batch:
            try:
                device_id, kind = parse_topic(m.topic)
                if kind in IGNORED_KINDS:
                    continue
                msg = decode_message(m.topic, m.payload, self.settings.max_payload_bytes)
            except PayloadError as exc:
                letters.append(DeadLetter(str(exc), m.payload, m.topic, _claimed(m.topic)))
                log.warning("dead letter from %s: %s", m.topic, exc)
                continue
            except Exception as exc:  # a validator bug must not stop ingestion
                log.exception("ingester: unexpected error validating the message from %s",
                              m.topic)
                letters.append(DeadLetter(f"unexpected error validating it "
                                          f"({type(exc).__name__}): {exc}"[:2000], m.payload,
                                          m.topic, _claimed(m.topic)))
                continue
            for rec in msg.records:
                rec.origin = m.topic
            records += msg.records
            for outbox_id, reason, item in msg.rejected:
                letters.append(DeadLetter(reason, item, m.topic, device_id))
                done_ids.setdefault(device_id, []).append(outbox_id)
                log.warning("dead letter from %s: %s", m.topic, reason)
        outcome = self._commit_and_ack(records, letters, batch)
        if outcome is None:
            return
        for rec in outcome.stored:
            done_ids.setdefault(rec.device_id, []).append(rec.outbox_id)
        for rec, reason in outcome.dead:
            done_ids.setdefault(rec.device_id, []).append(rec.outbox_id)
            log.warning("dead letter from %s: %s", rec.origin, reason)
        retry_ids: dict[str, list[int]] = {}
        tries = {rec: self._waiting.pop(rec, (0.0, 0))[1] for rec in records}
        for rec in outcome.deferred:
            if rec.kind != "sessions" and tries.get(rec, 0) < WAIT_TRIES:
                # its session (or metrics) is probably being committed by another ingester
                self._waiting[rec] = (time.monotonic() + WAIT_S, tries.get(rec, 0) + 1)
            else:
                retry_ids.setdefault(rec.device_id, []).append(rec.outbox_id)
        for device_id in done_ids.keys() | retry_ids.keys():
            self.client.publish(ack_topic(device_id), encode_ack(
                device_id, done_ids.get(device_id, []), retry_ids.get(device_id, [])), qos=1)
        self.stats["messages"] += len(batch)
        self.stats["rows"] += len(outcome.stored)
        self.stats["dead_letters"] += len(letters) + len(outcome.dead)
        self.stats["batches"] += 1
        if self._on_committed is not None:
            self._on_committed(outcome.stored)

    def _commit_and_ack(self, records: list[SyncRecord], letters: list[DeadLetter],
                        batch: list[_Received]) -> WriteOutcome | None:
        """Commit, retrying while PostgreSQL is unavailable, then acknowledge the messages;
        None when stopping first (nothing acknowledged: the broker delivers them again)."""
        while not self._stop.is_set():
            try:
                outcome = self.writer.write(records, letters, lambda r: r.origin,
                                            self._pause_before_commit)
                break
            except TransientDbError as exc:
                self.stats["db_retries"] += 1
                delay = self._backoff.next_delay()
                log.warning("ingester: %s; %d messages held (not acknowledged), retry in "
                            "%.1f s", exc, len(batch), delay)
                self._stop.wait(delay)
        else:
            return None
        self._backoff.reset()
        for m in batch:
            self.client.ack(m.mid, m.qos)
        return outcome

    def _pause_before_commit(self) -> None:
        if self._pause_file:
            Path(self._pause_file).write_text(f"{os.getpid()}\n")
            log.warning("%s set: paused before commit until killed", PAUSE_FILE_ENV)
            while True:
                time.sleep(1)


def _claimed(topic: str) -> str | None:
    try:
        return parse_topic(topic)[0]
    except PayloadError:
        return None
