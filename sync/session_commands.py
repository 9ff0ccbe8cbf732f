"""Session commands between the web app and a box: topics, payloads, acknowledgements.

Topics (five levels, so the ingesters' ``liftguard/v1/+/+`` subscription never sees them)::

    liftguard/v1/<device_id>/cmd/session   web app -> box (QoS 1), only the web app may publish
    liftguard/v1/<device_id>/cmd/ack       box -> server (QoS 1), what the box did

Command (JSON object, at most ``MAX_COMMAND_BYTES``)::

    {"v": 1, "id": "<uuid>", "device_id": "box-17", "kind": "start", "session_id": "<uuid>",
     "athlete": "<users.id>", "athlete_email": "a@example.org", "trainer": "<users.id>",
     "lift_type": "squat", "velocity_loss_limit_pct": 20, "bar_load_kg": 100.0,
     "issued_at": 1700000000.0, "expires_at": 1700000030.0}

``velocity_loss_limit_pct`` (optional, 1..90): the session's stop-the-set cue; absent or null
means the box's ``[feedback] velocity_loss_limit_pct``. ``bar_load_kg`` (optional,
0 < kg <= 500): the load entered in the web app; the box records it with each rep (absent: the
platform weighs the bar).

``end`` carries ``id``, ``device_id``, ``kind``, ``session_id``, ``issued_at``, ``expires_at``.
Times are Unix seconds. Acknowledgement::

    {"v": 1, "id": "<command uuid>", "device_id": "box-17", "status": "done",
     "reason": "...", "session_id": "<uuid>", "at": 1700000001.2}

status is ``done``, ``refused`` (reason says why) or ``expired``.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sync.entered_load import check_bar_load_kg
from sync.json_values import is_finite_number
from sync.lifts import LIFT_TYPES
from sync.payloads import TOPIC_ROOT, check_device_id
from sync.velocity_limit import check_limit_pct

COMMAND_VERSION = 1
MAX_COMMAND_BYTES = 4096
KINDS = ("start", "end")

ACK_STATUSES = ("done", "refused", "expired")
MAX_REASON_CHARS = 500


class CommandError(ValueError):
    """Why a command or acknowledgement payload was refused (names the field)."""


def command_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{check_device_id(device_id)}/cmd/session"


def command_ack_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{check_device_id(device_id)}/cmd/ack"


def ack_subscription(group: str) -> str:
    """Shared subscription for the servers recording acknowledgements in PostgreSQL."""
    return f"$share/{group}/{TOPIC_ROOT}/+/cmd/ack"


def device_of_topic(topic: str) -> str:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or parts[3] != "cmd":
        raise CommandError(f"topic {topic!r} is not {TOPIC_ROOT}/<device_id>/cmd/<what>")
    return parts[2]


@dataclass(frozen=True)
class Command:
    id: str
    device_id: str
    kind: str
    session_id: str
    issued_at: float
    expires_at: float
    athlete: str | None = None
    athlete_email: str | None = None
    trainer: str | None = None
    lift_type: str | None = None
    velocity_loss_limit_pct: float | None = None
    bar_load_kg: float | None = None

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def encode(self) -> bytes:
        body = {"v": COMMAND_VERSION, **{k: v for k, v in asdict(self).items() if v is not None}}
        return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Ack:
    id: str
    device_id: str
    status: str
    reason: str
    session_id: str | None
    at: float

    def encode(self) -> bytes:
        return json.dumps({"v": COMMAND_VERSION, **asdict(self)}, separators=(",", ":")).encode()


def _load(payload: bytes, what: str, max_bytes: int) -> dict[str, Any]:
    if not isinstance(payload, (bytes, bytearray)):
        raise CommandError(f"{what} payload must be bytes")
    if len(payload) > max_bytes:
        raise CommandError(f"{what} is {len(payload)} bytes, over the {max_bytes}-byte limit")
    try:
        msg = json.loads(payload, parse_constant=lambda c: _raise(f"{c} is not allowed"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise CommandError(f"{what} must be a JSON object, got {type(msg).__name__}")
    if type(msg.get("v")) is not int or msg["v"] != COMMAND_VERSION:
        raise CommandError(f"{what} field 'v' is {msg.get('v')!r}; this box reads version "
                           f"{COMMAND_VERSION}")
    return msg


def _raise(message: str) -> Any:
    raise ValueError(message)


def _uuid(msg: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = msg.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise CommandError(f"field {key!r} must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(f"field {key!r} is not a UUID: {value[:60]!r}") from None


def _time(msg: dict[str, Any], key: str) -> float:
    value = msg.get(key)
    if not is_finite_number(value) or value < 0:
        raise CommandError(f"field {key!r} must be a non-negative number of Unix seconds")
    return float(value)


def _text(msg: dict[str, Any], key: str, limit: int, required: bool = False) -> str | None:
    value = msg.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise CommandError(f"field {key!r} must be a string of 1..{limit} characters")
    return value


def _bar_load(msg: dict[str, Any]) -> float | None:
    try:
        return check_bar_load_kg(msg.get("bar_load_kg"), "field 'bar_load_kg'")
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _device(msg: dict[str, Any]) -> str:
    try:
        return check_device_id(msg.get("device_id"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise CommandError(f"field 'device_id': {exc}") from None


def peek_id(payload: bytes) -> str | None:
    """The command id of a payload that is otherwise refused, so the refusal can be acked."""
    try:
        msg = json.loads(payload)
        return str(uuid.UUID(msg["id"])) if isinstance(msg, dict) else None
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        return None


def parse_command(payload: bytes, max_bytes: int = MAX_COMMAND_BYTES) -> Command:
    """Validate a command completely; ``CommandError`` names the first problem."""
    msg = _load(payload, "command", max_bytes)
    kind = msg.get("kind")
    if kind not in KINDS:
        raise CommandError(f"field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}"[:200])
    issued, expires = _time(msg, "issued_at"), _time(msg, "expires_at")
    if expires <= issued:
        raise CommandError("field 'expires_at' must be after 'issued_at'")
    fields: dict[str, Any] = {}
    if kind == "start":
        lift = msg.get("lift_type")
        if lift not in LIFT_TYPES:
            raise CommandError(f"field 'lift_type' must be one of {', '.join(LIFT_TYPES)}, "
                               f"got {lift!r}"[:200])
        email = _text(msg, "athlete_email", 255)
        if email is not None and "@" not in email:
            raise CommandError("field 'athlete_email' is not an e-mail address")
        try:
            limit = check_limit_pct(msg.get("velocity_loss_limit_pct"),
                                    "field 'velocity_loss_limit_pct'")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        fields = {"athlete": _uuid(msg, "athlete"), "athlete_email": email,
                  "trainer": _uuid(msg, "trainer", required=False), "lift_type": lift,
                  "velocity_loss_limit_pct": limit, "bar_load_kg": _bar_load(msg)}
    return Command(id=_uuid(msg, "id"), device_id=_device(msg), kind=kind,  # type: ignore[arg-type]
                   session_id=_uuid(msg, "session_id"), issued_at=issued,  # type: ignore[arg-type]
                   expires_at=expires, **fields)


def parse_ack(payload: bytes, topic_device: str, max_bytes: int = MAX_COMMAND_BYTES) -> Ack:
    """Validate a box's acknowledgement; its device must be the topic's."""
    msg = _load(payload, "acknowledgement", max_bytes)
    device = _device(msg)
    if device != topic_device:
        raise CommandError(f"acknowledgement names device {device!r} but came on the topic of "
                           f"{topic_device!r}")
    status = msg.get("status")
    if status not in ACK_STATUSES:
        raise CommandError(f"field 'status' must be one of {', '.join(ACK_STATUSES)}")
    reason = msg.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise CommandError(f"field 'reason' must be a string of at most {MAX_REASON_CHARS} "
                           f"characters")
    return Ack(id=_uuid(msg, "id"), device_id=device, status=status,  # type: ignore[arg-type]
               reason=reason, session_id=_uuid(msg, "session_id", required=False),
               at=_time(msg, "at"))
