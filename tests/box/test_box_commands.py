"""The box acting on session commands (edge_agent/daemon/session_commands.py), on a real daemon's
session manager and local store: start/end, refusals with reasons, expiry, another device,
duplicates acting once, and bad payloads kept as dead letters without touching the session."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from edge_agent.daemon.session_commands import BoxCommands
from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from sync.session_commands import Command
from tests.support.daemon_helpers import NO_PINS, config

ATHLETE = str(uuid.uuid4())


@pytest.fixture
def box(tmp_path):
    daemon = box_daemon(config(tmp_path, feedback=NO_PINS),
                    sources=[SimulatorSource(reps=1, realtime=False)], api=False, console=False)
    commands = BoxCommands(daemon.sessions, "test-box", tmp_path)
    yield daemon, commands
    commands.close()
    daemon.close()


def start_cmd(device: str = "test-box", ttl: float = 30.0, **kw) -> Command:
    now = time.time()
    fields = dict(id=str(uuid.uuid4()), device_id=device, kind="start",
                  session_id=str(uuid.uuid4()), issued_at=now, expires_at=now + ttl,
                  athlete=ATHLETE, athlete_email="lifter@example.org", lift_type="squat")
    fields.update(kw)
    return Command(**fields)


def end_cmd(session_id: str, device: str = "test-box") -> Command:
    now = time.time()
    return Command(id=str(uuid.uuid4()), device_id=device, kind="end", session_id=session_id,
                   issued_at=now, expires_at=now + 30)


def test_start_makes_the_commands_session_active_and_end_ends_it(box):
    daemon, commands = box
    cmd = start_cmd()
    ack = commands.handle(cmd)
    assert (ack.status, ack.session_id) == ("done", cmd.session_id)
    assert daemon.sessions.active_id == cmd.session_id
    daemon.store.flush()
    row = daemon.store.get_session(cmd.session_id)
    assert row["athlete"] == "lifter@example.org" and row["lift_type"] == "squat"
    ack = commands.handle(end_cmd(cmd.session_id))
    assert ack.status == "done" and daemon.sessions.active_id is None
    daemon.sessions.wait_idle(60)
    daemon.store.flush()
    row = daemon.store.get_session(cmd.session_id)
    assert (row["status"], row["end_reason"]) == ("ended", "command")
    assert daemon.store.session_feedback(cmd.session_id), "the end queued the analysis"


def test_a_duplicate_command_acts_once(box):
    daemon, commands = box
    cmd = start_cmd()
    first = commands.handle(cmd)
    daemon.sessions.end(cmd.session_id, "api")
    again = commands.handle(cmd)
    assert again == first
    assert daemon.sessions.active_id is None, "the repeat did not start the session again"
    assert commands.acted == 1


def test_start_while_busy_is_refused_and_the_active_session_is_untouched(box):
    daemon, commands = box
    running = daemon.sessions.start("deadlift", "other@example.org", reason="button")
    ack = commands.handle(start_cmd())
    assert ack.status == "refused" and f"session {running} is still active" in ack.reason
    assert daemon.sessions.active_id == running and daemon.sessions.active_lift == "deadlift"


def test_expired_and_foreign_commands_are_not_acted_on(box):
    daemon, commands = box
    late = start_cmd(issued_at=time.time() - 60, expires_at=time.time() - 30)
    ack = commands.handle(late)
    assert ack.status == "expired" and "after its expiry" in ack.reason
    foreign = start_cmd(device="box-other")
    ack = commands.handle(foreign)
    assert ack.status == "refused" and "for device box-other, not test-box" in ack.reason
    assert daemon.sessions.active_id is None


def test_end_of_a_session_that_is_not_active_is_refused(box):
    daemon, commands = box
    running = daemon.sessions.start("squat", reason="button")
    ack = commands.handle(end_cmd(str(uuid.uuid4())))
    assert ack.status == "refused" and f"active: {running}" in ack.reason
    assert daemon.sessions.active_id == running


@pytest.mark.parametrize("payload, reason", [
    (b"\x00\xff garbage", "not valid JSON"),
    (b"{" + b" " * 5000 + b"}", "over the 4096-byte limit"),
    (json.dumps({"v": 1, "kind": "start"}).encode(), "'issued_at' must be"),
])
def test_bad_payloads_are_dead_letters_and_change_nothing(box, payload, reason):
    daemon, commands = box
    running = daemon.sessions.start("squat", reason="button")
    assert commands.handle_payload(payload) is None
    assert daemon.sessions.active_id == running
    (got, kept), = commands.dead_letters()
    assert reason in got and kept == payload[:8192]
    ok = start_cmd()
    daemon.sessions.end(running, "api")
    assert commands.handle_payload(ok.encode()).status == "done", "valid after bad still works"


def test_a_refused_payload_with_a_readable_id_is_acknowledged_as_refused(box):
    daemon, commands = box
    body = json.loads(start_cmd().encode())
    body["lift_type"] = "curl"
    ack = commands.handle_payload(json.dumps(body).encode())
    assert ack.status == "refused" and "'lift_type'" in ack.reason and ack.id == body["id"]
    assert daemon.sessions.active_id is None


def test_handled_commands_survive_a_restart(tmp_path, box):
    daemon, commands = box
    cmd = start_cmd()
    commands.handle(cmd)
    daemon.sessions.end(cmd.session_id, "api")
    again = BoxCommands(daemon.sessions, "test-box", tmp_path)
    try:
        assert again.handle(cmd).status == "done" and daemon.sessions.active_id is None
    finally:
        again.close()
