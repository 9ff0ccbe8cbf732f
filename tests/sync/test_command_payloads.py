"""Session command and acknowledgement payloads (sync.session_commands): valid ones round-trip, and
structured mutations of valid ones give only CommandError, naming what was wrong."""
from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync.session_commands import (
    MAX_COMMAND_BYTES,
    Ack,
    Command,
    CommandError,
    command_topic,
    device_of_topic,
    parse_ack,
    parse_command,
    peek_id,
)

uuids = st.uuids().map(str)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
limits = st.floats(min_value=1.0, max_value=90.0)
devices = st.text(st.characters(min_codepoint=33, max_codepoint=126,
                                blacklist_characters="/+#"), min_size=1, max_size=20)


@st.composite
def commands(draw: st.DrawFn) -> Command:
    issued = draw(times)
    expires = issued + draw(st.floats(min_value=0.001, max_value=3600))
    common = dict(id=draw(uuids), device_id=draw(devices), session_id=draw(uuids),
                  issued_at=issued, expires_at=expires)
    if draw(st.booleans()):
        return Command(kind="start", athlete=draw(uuids),
                       athlete_email=draw(st.none() | st.just("a.b@example.org")),
                       trainer=draw(st.none() | uuids),
                       lift_type=draw(st.sampled_from(["squat", "bench_press", "deadlift"])),
                       velocity_loss_limit_pct=draw(st.none() | limits),
                       bar_load_kg=draw(st.none() | st.floats(0.001, 500, allow_nan=False)),
                       **common)
    return Command(kind="end", **common)


@given(commands())
def test_valid_commands_round_trip(cmd):
    assert parse_command(cmd.encode()) == cmd


# 10**400 decodes from JSON to an int no float holds (math.isfinite raises OverflowError on it)
BAD_VALUES = [None, "", "x" * 300, 1.5, -1, True, [], {}, "not-a-uuid", float("inf"),
              10**400, -10**400]


@settings(max_examples=300)
@given(commands(), st.data())
def test_mutated_commands_give_only_command_error(cmd, data):
    body = json.loads(cmd.encode())
    mutation = data.draw(st.sampled_from(["drop", "replace", "extra_big", "truncate", "wrap",
                                          "version"]))
    key = data.draw(st.sampled_from(sorted(body)))
    if mutation == "drop":
        body.pop(key)
        payload = json.dumps(body).encode()
    elif mutation == "replace":
        body[key] = data.draw(st.sampled_from(BAD_VALUES))
        payload = json.dumps(body).encode()
    elif mutation == "extra_big":
        body["padding"] = "p" * MAX_COMMAND_BYTES
        payload = json.dumps(body).encode()
    elif mutation == "truncate":
        raw = cmd.encode()
        payload = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif mutation == "wrap":
        payload = json.dumps([body]).encode()
    else:
        body["v"] = data.draw(st.sampled_from([0, 2, "1", None]))
        payload = json.dumps(body).encode()
    try:
        parsed = parse_command(payload)
    except CommandError as exc:
        assert str(exc)
    else:
        # a mutation that leaves a valid command (an optional field dropped, another valid
        # device name) changes nothing but the mutated field
        assert mutation in ("drop", "replace")
        assert {k: v for k, v in vars(parsed).items() if k != key} == \
            {k: v for k, v in vars(cmd).items() if k != key}
        assert key in ("athlete_email", "trainer", "device_id", "velocity_loss_limit_pct",
                       "bar_load_kg") \
            or parsed.kind == "end" or (
            key in ("issued_at", "expires_at") and parsed.expires_at > parsed.issued_at >= 0)
    assert parse_command(cmd.encode()) == cmd, "a valid command after a bad one still parses"


START = {"v": 1, "id": str(uuid.uuid4()), "device_id": "box-1", "kind": "start",
         "session_id": str(uuid.uuid4()), "athlete": str(uuid.uuid4()), "lift_type": "squat",
         "issued_at": 100.0, "expires_at": 130.0}


@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.booleans(),
                 st.text(max_size=5), st.lists(st.integers(), max_size=2)))
@example(10**400)
def test_velocity_loss_limit_is_a_percentage_or_refused_by_name(value):
    payload = json.dumps({**START, "velocity_loss_limit_pct": value}).encode()
    valid = (not isinstance(value, bool) and isinstance(value, (int, float))
             and 1 <= value <= 90)
    if valid:
        assert parse_command(payload).velocity_loss_limit_pct == float(value)
    else:
        with pytest.raises(CommandError, match="'velocity_loss_limit_pct'"):
            parse_command(payload)
    assert parse_command(json.dumps(START).encode()).velocity_loss_limit_pct is None


@given(st.binary(max_size=600))
def test_arbitrary_bytes_give_only_command_error(payload):
    with pytest.raises(CommandError):
        parse_command(payload)


@pytest.mark.parametrize("change, message", [
    ({"kind": "reboot"}, "'kind' must be one of start, end"),
    ({"lift_type": "curl"}, "'lift_type' must be one of"),
    ({"expires_at": 10.0}, "'expires_at' must be after 'issued_at'"),
    ({"device_id": "a/b"}, "'device_id'"),
    ({"athlete": "nobody"}, "'athlete' is not a UUID"),
    ({"athlete_email": "no-at-sign"}, "not an e-mail address"),
    ({"velocity_loss_limit_pct": 0}, "'velocity_loss_limit_pct' is 0 %, outside 1..90 %"),
    ({"velocity_loss_limit_pct": "20"}, "'velocity_loss_limit_pct' must be a number of percent"),
    ({"velocity_loss_limit_pct": True}, "'velocity_loss_limit_pct' must be a number of percent"),
    ({"velocity_loss_limit_pct": 10**400}, "'velocity_loss_limit_pct' must be a number of percent"),
    ({"bar_load_kg": 10**400}, "'bar_load_kg' must be a number of kg"),
    ({"issued_at": 10**400}, "'issued_at' must be a non-negative number"),
])
def test_refusals_name_the_field(change, message):
    body = {"v": 1, "id": str(uuid.uuid4()), "device_id": "box-1", "kind": "start",
            "session_id": str(uuid.uuid4()), "athlete": str(uuid.uuid4()), "lift_type": "squat",
            "issued_at": 100.0, "expires_at": 130.0, **change}
    with pytest.raises(CommandError, match=message):
        parse_command(json.dumps(body).encode())


def test_oversized_payload_is_refused_unparsed():
    with pytest.raises(CommandError, match="over the 4096-byte limit"):
        parse_command(b"{" + b" " * MAX_COMMAND_BYTES + b"}")


def test_peek_id_reads_the_id_of_an_invalid_command():
    cid = str(uuid.uuid4())
    assert peek_id(json.dumps({"id": cid, "kind": "nonsense"}).encode()) == cid
    assert peek_id(b"\xff\xfe") is None and peek_id(b"[1]") is None


@given(uuids, devices, st.sampled_from(["done", "refused", "expired"]), st.text(max_size=50),
       st.none() | uuids, times)
def test_acks_round_trip_and_must_match_their_topic(cid, device, status, reason, sid, at):
    ack = Ack(cid, device, status, reason, sid, at)
    assert parse_ack(ack.encode(), device) == ack
    with pytest.raises(CommandError, match="came on the topic of"):
        parse_ack(ack.encode(), device + "x")


@settings(max_examples=200)
@given(uuids, st.data())
def test_mutated_acks_give_only_command_error(cid, data):
    body = json.loads(Ack(cid, "box-1", "done", "ok", None, 5.0).encode())
    key = data.draw(st.sampled_from(sorted(body)))
    body[key] = data.draw(st.sampled_from(BAD_VALUES))
    try:
        parse_ack(json.dumps(body).encode(), "box-1")
    except CommandError:
        pass
    else:   # still a valid acknowledgement: an optional field emptied, or another valid time
        value = body[key]
        assert (key == "reason" and isinstance(value, str) and len(value) <= 500) or \
            (key == "session_id" and value is None) or (key == "at" and value == 1.5)


def test_topics():
    assert command_topic("box-7") == "liftguard/v1/box-7/cmd/session"
    assert device_of_topic("liftguard/v1/box-7/cmd/ack") == "box-7"
    with pytest.raises(CommandError):
        device_of_topic("liftguard/v1/box-7/ack")
