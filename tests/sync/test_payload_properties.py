"""Property tests of the ingester's payload parsing and the box's ack parsing: structured
mutations of valid messages either decode to rows PostgreSQL can take, or raise PayloadError
(nothing else), and a valid message after a bad one is still decoded.

Examples per test come from the hypothesis profile (``LIFTGUARD_HYPOTHESIS_PROFILE=long`` in
tests/conftest.py); ``LIFTGUARD_HYPOTHESIS_EXAMPLES=5000`` overrides it for these tests."""
from __future__ import annotations

import json
import math
import os
import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync.payloads import (
    PayloadError,
    data_topic,
    decode_ack,
    decode_message,
    encode_ack,
    encode_item,
    encode_message,
)
from sync.rows import KINDS
from tests.support.payload_mutations import HOSTILE, _dump, _paths, _set, mutate

_EXAMPLES = os.environ.get("LIFTGUARD_HYPOTHESIS_EXAMPLES")
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    **({"max_examples": int(_EXAMPLES)} if _EXAMPLES else {}))
DEVICE = "box-7"
SID = str(uuid.uuid4())

CHUNK = json.dumps({"v": 1, "source": "imu", "channels": ["ax", "ay"], "n": 3, "seq0": 0,
                    "t0_ns": 0, "dt_ns": 5_000_000, "wall_t0": 1.7e9,
                    "values": [[0.1, None, 0.3], [1.0, 2.0, 3.0]]})
VALID_ROWS = {
    "sessions": {"id": SID, "device_id": DEVICE, "athlete": "ann@x.org", "trainer": None,
                 "lift_type": "squat", "status": "ended", "start_time": 1.7e9,
                 "end_time": 1.7e9 + 60, "end_reason": "button", "wall_clock_synced": 1,
                 "metrics_id": str(uuid.uuid4()), "feedback_id": str(uuid.uuid4()),
                 "mono_to_wall_offset_s": 1.6e9},
    "sensor_data": {"id": str(uuid.uuid4()), "session_id": SID, "timestamp": 1.7e9,
                    "t_first_ns": 0, "t_last_ns": 10_000_000, "n_frames": 3,
                    "raw_data": CHUNK},
    "performance_metrics": {"id": str(uuid.uuid4()), "session_id": SID, "balance_score": 0.9,
                            "stability_score": None, "injury_risk": 0.1},
    "feedback": {"id": str(uuid.uuid4()), "session_id": SID, "feedback_text": "good set"},
    "rep_metrics": {"id": str(uuid.uuid4()), "session_id": SID, "rep_number": 1,
                    "start_mono_ns": 0, "end_mono_ns": 800_000_000,
                    "metrics": {"rom_m": 0.5, "tilt": {"max_deg": [1.5, 2.0]},
                                "drift_cue": True},
                    "injury_risk": 0.2, "feedback_text": "rep 1 fine"},
    "live_reps": {"id": str(uuid.uuid4()), "session_id": SID, "rep_number": 2,
                  "ended_at": 1.7e9 + 5, "mean_velocity_mps": 0.55, "velocity_loss_pct": 8.3,
                  "alert": "the bar drifted 6 cm sideways",
                  "drift_cue": "the weight rocking towards the toes"},
    "session_series": {"id": SID, "session_id": SID, "version": 3, "final": 0, "series": {
        "v": 1, "t0_ns": 5_000_000_000, "duration_s": 12.5, "bucket_s": 0.1,
        "tilt_level_deg": -0.4, "envelopes": {"az": {"scale": 0.01, "min": [975, None, 979],
                                                     "max": [983, None, 990]}},
        "reps": [{"n": 1, "t0": 2.0, "t1": 4.5, "z_mm": [0, -300, -580, -290, 2],
                  "cop_mm": [[1, 2, 3, 2, 1], [-5, -4, -3, -4, -5]]}],
        "notes": ["no platform data (f_fl f_fr f_rl f_rr)"]}},
}


def _valid(kind: str, outbox_id: int = 1) -> bytes:
    return encode_message(DEVICE, kind, [encode_item(outbox_id, VALID_ROWS[kind])], 1.0)


@st.composite
def mutated_messages(draw):
    kind = draw(st.sampled_from(KINDS))
    message = json.loads(_valid(kind))
    if draw(st.booleans()):  # mutate inside the chunk text too
        message["items"][0]["row"]["raw_data"] = json.loads(CHUNK) if kind == "sensor_data" \
            else message["items"][0]["row"].get("raw_data")
    how = draw(st.sampled_from(("replace", "delete", "add", "bytes")))
    message = mutate(draw, message, how)
    items = message.get("items") if isinstance(message, dict) else None
    item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    if isinstance(item.get("row"), dict) and isinstance(item["row"].get("raw_data"),
                                                        (dict, list)):
        item["row"]["raw_data"] = _dump(item["row"]["raw_data"]).decode()
    payload = _dump(message)
    if how == "bytes":
        cut = draw(st.integers(0, len(payload)))
        payload = payload[:cut] + draw(st.binary(max_size=8)) + payload[cut:]
    topic_device = draw(st.sampled_from((DEVICE, DEVICE, "", "box 8", "other")))
    return data_topic(topic_device, kind), payload, kind


def _storable(value) -> None:
    """What PostgreSQL needs of anything the decoder lets through."""
    text = json.dumps(value, allow_nan=False)   # raises on inf/nan
    assert "\\u0000" not in text
    text.encode("utf-8")                         # raises on lone surrogates (ensure_ascii off)
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    for path in _paths(value):
        node = value
        for step in path:
            node = node[step]
        if isinstance(node, int) and not isinstance(node, bool):
            assert -2**63 <= node < 2**63
        if isinstance(node, float):
            assert math.isfinite(node)
        assert len(path) <= 40


_MIXED_BIG_INT = (  # a float sum once hid the integer past 64 bits (found by this test)
    "liftguard/v1/box-7/sensor_data",
    json.dumps({"v": 1, "device_id": "box-7", "kind": "sensor_data", "sent_at": 1.0, "items": [
        {"outbox_id": 1, "row": {
            "id": "60455dbb-3b7d-4096-bd7a-f609b35d5af9",
            "session_id": "a336ea87-105f-4864-b94a-01ba85ba4aa4", "timestamp": 1700000000.0,
            "t_first_ns": 0, "t_last_ns": 10000000, "n_frames": 3,
            "raw_data": json.dumps({"v": 1, "source": "imu", "channels": ["ax", "ay"], "n": 3,
                                    "seq0": 0, "t0_ns": 0, "dt_ns": 5000000,
                                    "wall_t0": 1700000000.0,
                                    "values": [[0.1, None, 0.3], [-2**63 - 1, 2.0, 3.0]]})}}]
    }).encode(),
    "sensor_data")


@SETTINGS
@given(mutated_messages())
@example(_MIXED_BIG_INT)
def test_mutated_messages_decode_to_storable_rows_or_raise_payload_error(case):
    topic, payload, kind = case
    try:
        msg = decode_message(topic, payload)
    except PayloadError as exc:
        assert str(exc)
    else:
        for rec in msg.records:
            _storable(rec.row)
            if rec.kind == "sensor_data":
                _storable(json.loads(rec.row["raw_data"]))
        for outbox_id, reason, _ in msg.rejected:
            assert reason and 0 <= outbox_id < 2**63
    good = decode_message(data_topic(DEVICE, kind), _valid(kind, 2))
    assert [r.outbox_id for r in good.records] == [2] and good.rejected == []


@st.composite
def mutated_acks(draw):
    ack = {"v": 1, "device_id": DEVICE, "outbox_ids": [1, 2, 3], "retry_ids": [4]}
    paths = list(_paths(ack))
    ack = _set(ack, draw(st.sampled_from(paths)), draw(HOSTILE))
    payload = _dump(ack)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(payload)))
        payload = payload[:cut] + draw(st.binary(max_size=6)) + payload[cut:]
    return payload


@SETTINGS
@given(mutated_acks())
def test_mutated_acks_give_outbox_ids_or_raise_payload_error(payload):
    try:
        done, retry = decode_ack(payload, DEVICE)
    except PayloadError as exc:
        assert str(exc)
    else:
        assert all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**63
                   for i in done + retry)
    assert decode_ack(encode_ack(DEVICE, [5, 6], [7]), DEVICE) == ([5, 6], [7])
