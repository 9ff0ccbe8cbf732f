"""MQTT topics and the versioned JSON payloads between boxes and the ingester.

Topics: ``liftguard/v1/<device_id>/<kind>`` where kind is a row kind (``sync.rows.KINDS``)
for data, ``status`` for the retained online/offline flag, ``ack`` for commit
acknowledgements sent back to the box.

Data message (box -> ingester), one kind per message::

    {"v": 1, "device_id": "box-17", "kind": "sensor_data", "sent_at": 1700000000.5,
     "items": [{"outbox_id": 42, "row": {...local store columns...}}, ...]}

``raw_data`` stays the chunk's JSON *text* inside the row (a string), so it is forwarded to
PostgreSQL without being decoded and re-encoded. Commit acknowledgement (ingester -> box)::

    {"v": 1, "device_id": "box-17", "outbox_ids": [42, 43], "retry_ids": [40]}

``retry_ids`` (optional): stored, but a row they point at (a session's metrics/feedback row)
has not arrived yet; the box sends them again after ``RETRY_DELAY_S``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from sync.chunks import COUNTS_VERSION, ChunkFormatError, check_chunk
from sync.json_values import INT64_MAX, ValueProblem, check_number_lists, check_value
from sync.rows import KINDS, ROW_FIELDS, RowError, SyncRecord, check_row

PAYLOAD_VERSION = 1
TOPIC_ROOT = "liftguard/v1"
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
"""Larger than any batch a box makes (``PublisherSettings.max_message_bytes``, 64 kB), far
below Mosquitto's 256 MB packet limit; anything bigger is refused unparsed."""
MAX_ITEMS = 1000

_DEVICE_ID = re.compile(r"^[^/+#\s\x00-\x1f\x7f]{1,128}$")
"""No control characters either: MQTT forbids NUL in topic names, PostgreSQL in text."""


class PayloadError(ValueError):
    """Why a message was refused; stored as the dead letter's reason."""


def check_device_id(device_id: str) -> str:
    if not isinstance(device_id, str) or not _DEVICE_ID.match(device_id):
        raise ValueError(f"device id {device_id!r} must be 1-128 characters without '/', '+', "
                         f"'#', whitespace or control characters (it is part of MQTT topics)")
    return device_id


def data_topic(device_id: str, kind: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/{kind}"


def ack_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/ack"


def status_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/status"


def subscription(group: str) -> str:
    """The ingesters' shared subscription: each message goes to one ingester of the group."""
    return f"$share/{group}/{TOPIC_ROOT}/+/+"


def parse_topic(topic: str) -> tuple[str, str]:
    """(device_id, kind) from a data topic; ``PayloadError`` for anything else, an empty or
    malformed device id included."""
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise PayloadError(f"topic {topic!r} is not {TOPIC_ROOT}/<device_id>/<kind>")
    try:
        check_device_id(parts[2])
    except ValueError as exc:
        raise PayloadError(f"topic {topic!r}: {exc}") from None
    return parts[2], parts[3]


def _loads(payload: bytes | str, what: str, skip: frozenset[str] = frozenset()) -> Any:
    """JSON -> value, every value checked (``sync.json_values``) but those under the keys in
    ``skip``; ``PayloadError`` naming the problem otherwise."""
    try:
        value = json.loads(payload, parse_constant=_reject_constant)
    except RecursionError:
        raise PayloadError(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"{what} is not valid JSON: {exc}") from None
    try:
        check_value(value, what, skip)
    except ValueProblem as exc:
        raise PayloadError(str(exc)) from None
    return value


# ---- building (box) ---------------------------------------------------------------------

def encode_item(outbox_id: int, row: dict[str, Any]) -> bytes:
    return json.dumps({"outbox_id": outbox_id, "row": row}, separators=(",", ":"),
                      allow_nan=False).encode()


def encode_message(device_id: str, kind: str, encoded_items: Sequence[bytes],
                   sent_at: float) -> bytes:
    """A data message from items already encoded with ``encode_item`` (so a publisher can
    size its batches without encoding twice)."""
    head = json.dumps({"v": PAYLOAD_VERSION, "device_id": device_id, "kind": kind,
                       "sent_at": sent_at}, separators=(",", ":"))
    return head[:-1].encode() + b',"items":[' + b",".join(encoded_items) + b"]}"


def encode_ack(device_id: str, outbox_ids: Sequence[int], retry_ids: Sequence[int] = ()
               ) -> bytes:
    """``outbox_ids``: committed (or dead-lettered), delete them; ``retry_ids``: stored but a
    row they refer to has not arrived yet, send them again soon."""
    msg: dict[str, Any] = {"v": PAYLOAD_VERSION, "device_id": device_id,
                           "outbox_ids": list(outbox_ids)}
    if retry_ids:
        msg["retry_ids"] = list(retry_ids)
    return json.dumps(msg, separators=(",", ":")).encode()


def decode_ack(payload: bytes, device_id: str) -> tuple[list[int], list[int]]:
    """(ids to delete, ids to send again soon) from a commit acknowledgement."""
    msg = _loads(payload, "ack")
    if not isinstance(msg, dict) or msg.get("v") != PAYLOAD_VERSION:
        raise PayloadError(f"ack must be an object with v={PAYLOAD_VERSION}")
    if msg.get("device_id") != device_id:
        raise PayloadError(f"ack is for device {msg.get('device_id')!r}, not {device_id!r}")
    return _int_list(msg, "outbox_ids"), _int_list(msg, "retry_ids", [])


def _int_list(msg: dict[str, Any], key: str, default: Any = None) -> list[int]:
    ids = msg.get(key, default)
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                            and 0 <= i <= INT64_MAX for i in ids):
        raise PayloadError(f"ack field {key!r} must be a list of outbox ids (integers "
                           f"0..{INT64_MAX})")
    return ids


# ---- validation (ingester) ----------------------------------------------------------------

@dataclass
class DataMessage:
    """A valid envelope: ``records`` to store and ``rejected`` items (outbox_id, reason,
    item JSON) that go to dead_letters; both are acknowledged to the box."""

    device_id: str
    kind: str
    sent_at: float | None
    records: list[SyncRecord]
    rejected: list[tuple[int, str, bytes]]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (PostgreSQL refuses it)")


def decode_message(topic: str, payload: bytes,
                   max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> DataMessage:
    """Validate a data message completely (size, JSON, version, device and kind against the
    topic, every row's fields and every value in them); ``PayloadError`` names the first
    problem of the envelope, ``rejected`` that of each bad item."""
    if len(payload) > max_bytes:
        raise PayloadError(f"payload is {len(payload)} bytes, over the {max_bytes}-byte limit")
    device_id, kind = parse_topic(topic)
    if kind not in KINDS:
        raise PayloadError(f"topic kind {kind!r} is not one of {', '.join(KINDS)}")
    msg = _loads(payload, "payload", frozenset({"items"}))  # items: checked one by one below
    if not isinstance(msg, dict):
        raise PayloadError(f"payload must be a JSON object, got {type(msg).__name__}")
    if msg.get("v") != PAYLOAD_VERSION:
        raise PayloadError(f"payload version 'v' is {msg.get('v')!r}; this ingester reads "
                           f"version {PAYLOAD_VERSION}")
    if msg.get("device_id") != device_id:
        raise PayloadError(f"payload device_id {msg.get('device_id')!r} does not match the "
                           f"topic's device {device_id!r}")
    if msg.get("kind") != kind:
        raise PayloadError(f"payload kind {msg.get('kind')!r} does not match the topic's "
                           f"kind {kind!r}")
    items = msg.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise PayloadError(f"payload field 'items' must be a list of 1..{MAX_ITEMS} items")
    records: list[SyncRecord] = []
    rejected: list[tuple[int, str, bytes]] = []
    for i, item in enumerate(items):
        where = f"items[{i}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{where} must be an object")
        outbox_id = item.get("outbox_id")
        if not isinstance(outbox_id, int) or isinstance(outbox_id, bool) \
                or not 0 <= outbox_id <= INT64_MAX:
            raise PayloadError(f"{where}.outbox_id must be an integer 0..{INT64_MAX}")
        try:
            records.append(_record(where, item.get("row"), kind, device_id, outbox_id))
        except PayloadError as exc:
            rejected.append((outbox_id, str(exc), json.dumps(item, default=str).encode()))
    sent_at = msg.get("sent_at")
    return DataMessage(device_id, kind,
                       float(sent_at) if isinstance(sent_at, (int, float)) else None,
                       records, rejected)


def _record(where: str, row: Any, kind: str, device_id: str, outbox_id: int) -> SyncRecord:
    try:
        check_row(kind, row)
    except RowError as exc:
        raise PayloadError(f"{where}: {exc}") from None
    if kind == "sessions" and row["device_id"] != device_id:
        raise PayloadError(f"{where}: sessions row device_id {row['device_id']!r} does not "
                           f"match the topic's device {device_id!r}")
    if kind == "sensor_data":
        _check_chunk_text(where, row["raw_data"])
    known = ROW_FIELDS[kind]   # fields nothing reads are not carried further (nor checked)
    return SyncRecord(kind, {k: v for k, v in row.items() if k in known}, device_id, outbox_id)


def _check_chunk_text(where: str, text: str) -> None:
    """PostgreSQL would refuse bad JSON for the whole batch: check it here, per message."""
    what = f"{where}: sensor_data raw_data"
    chunk = _loads(text, what, frozenset({"values"}))
    if isinstance(chunk, dict) and chunk.get("v") == COUNTS_VERSION:
        try:  # PostgreSQL would store any counts string: refuse a malformed chunk here
            check_chunk(chunk)
        except ChunkFormatError as exc:
            raise PayloadError(f"{what}: {exc}") from None
        return
    if not isinstance(chunk, dict) or "v" not in chunk or "values" not in chunk:
        raise PayloadError(f"{what} must be a chunk object with 'v' and 'values' "
                           f"(docs/local-store.md)")
    try:
        check_number_lists(chunk["values"], f"{what}.values")
    except ValueProblem as exc:
        raise PayloadError(str(exc)) from None
