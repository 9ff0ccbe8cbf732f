"""Payload validation and the roster, without servers."""
from __future__ import annotations

import json
import uuid

import pytest

from sync.payloads import (
    PayloadError,
    data_topic,
    decode_ack,
    decode_message,
    encode_ack,
    encode_item,
    encode_message,
)
from sync.roster import Roster, RosterEntry

SID = str(uuid.uuid4())


def _chunk_row(**over):
    row = {"id": str(uuid.uuid4()), "session_id": SID, "timestamp": 1.7e9, "t_first_ns": 0,
           "t_last_ns": 5, "n_frames": 2, "raw_data": '{"v":1,"values":[[1,2]]}'}
    return {**row, **over}


def _msg(device="box-1", kind="sensor_data", rows=None):
    rows = rows or [_chunk_row()]
    return encode_message(device, kind, [encode_item(i, r) for i, r in enumerate(rows)], 0.0)


def test_a_valid_message_round_trips():
    row = _chunk_row()
    msg = decode_message(data_topic("box-1", "sensor_data"), _msg(rows=[row]))
    assert [r.row for r in msg.records] == [row] and msg.rejected == []
    assert msg.records[0].device_id == "box-1"


@pytest.mark.parametrize("topic, payload, reason", [
    (data_topic("box-2", "sensor_data"), _msg(), "does not match the topic's device"),
    (data_topic("box-1", "feedback"), _msg(), "does not match the topic's kind"),
    (data_topic("box-1", "sensor_data"), b"[1,", "not valid JSON"),
    (data_topic("box-1", "sensor_data"), b'{"v":2}', "version"),
    (data_topic("box-1", "sensor_data"), b"x" * 2000, "over the 1024-byte limit"),
    ("other/box-1/x", _msg(), "is not liftguard/v1"),
    (data_topic("box-1", "sensor_data"), _msg().replace(b'"v":1', b'"v":NaN', 1), "NaN"),
])
def test_bad_envelopes_are_refused_with_the_reason(topic, payload, reason):
    with pytest.raises(PayloadError, match=reason):
        decode_message(topic, payload, max_bytes=1024)


def test_a_bad_item_is_rejected_alone():
    good, bad = _chunk_row(), _chunk_row(raw_data="{not json")
    msg = decode_message(data_topic("box-1", "sensor_data"), _msg(rows=[good, bad]))
    assert [r.row["id"] for r in msg.records] == [good["id"]]
    (outbox_id, reason, item), = msg.rejected
    assert outbox_id == 1 and "raw_data is not valid JSON" in reason
    assert json.loads(item)["row"]["id"] == bad["id"]


def test_a_session_row_of_another_device_is_rejected():
    row = {"id": SID, "device_id": "box-2", "lift_type": "squat", "status": "active",
           "start_time": 1.0}
    msg = decode_message(data_topic("box-1", "sessions"), _msg(kind="sessions", rows=[row]))
    assert msg.records == [] and "device_id 'box-2'" in msg.rejected[0][1]


def test_acks_round_trip_and_are_checked():
    assert decode_ack(encode_ack("b", [1, 2], [3]), "b") == ([1, 2], [3])
    with pytest.raises(PayloadError, match="not 'c'"):
        decode_ack(encode_ack("b", [1]), "c")


def test_roster_resolves_by_id_or_email_and_survives_a_save(tmp_path):
    ann = RosterEntry(str(uuid.uuid4()), "Ann@Example.org", "Ann", "Lee", "athlete")
    boss = RosterEntry(str(uuid.uuid4()), "boss@x.org", "Ada", "Min", "admin")
    roster = Roster([ann, boss, RosterEntry(str(uuid.uuid4()), "coach@x.org", "Cy", "Ho",
                                            "trainer")], 5.0)
    roster.save(tmp_path / "r.json")
    loaded = Roster.load(tmp_path / "r.json")
    assert loaded.resolve("ann@example.org") == ann and ann.name == "Ann Lee"
    assert loaded.resolve(boss.id, role="admin") == boss
    assert loaded.resolve(ann.id.upper()) == ann
    assert loaded.resolve("coach@x.org", role="athlete") is None
    assert loaded.resolve("nobody@x.org") is None and loaded.fetched_at == 5.0
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        Roster.load(tmp_path / "bad.json")
