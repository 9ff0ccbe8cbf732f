"""Sync waits for NTP, so sessions recorded with a stale clock leave the box corrected."""
from __future__ import annotations

from edge_agent.uplink.clock_gate import ClockGatedOutbox
from edge_agent.uplink.timesync import ClockWatch
from tests.support.clock_jumps import NTP_STEP_S, STALE_WALL_S, record


class Seconds:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_outbox_is_held_until_ntp_corrects_the_session(stale_clock_box):
    store, clock = stale_clock_box
    synced = {"now": False}
    watch = ClockWatch(store, synchronized=lambda: synced["now"],
                       offset_s=lambda: clock.wall_s() - clock.mono_ns() / 1e9)
    watch.check()
    sid = record(store, clock, synced=False)
    gate = ClockGatedOutbox(store, watch, max_hold_s=900, monotonic=Seconds())
    assert store.backlog() and gate.pending() == []          # held: the times are a guess

    clock.jump_wall(NTP_STEP_S)                               # NTP answers
    synced["now"] = True
    watch.check()                                             # corrects the stored session
    items = gate.pending(1000)
    session_rows = [i for i in items if i.kind == "sessions" and i.row_id == sid]
    assert session_rows, "the corrected session is released to the sync"
    row = store.get_session(sid)
    true_offset = clock.wall_s() - clock.mono_ns() / 1e9
    assert abs(row["mono_to_wall_offset_s"] - true_offset) < 1e-3
    assert row["mono_to_wall_offset_s"] - (STALE_WALL_S - 30.0) > NTP_STEP_S - 1


def test_a_clock_that_never_synchronises_is_released_after_the_hold(stale_clock_box):
    store, clock = stale_clock_box
    watch = ClockWatch(store, synchronized=lambda: False)
    watch.check()
    record(store, clock, synced=False)
    seconds = Seconds()
    gate = ClockGatedOutbox(store, watch, max_hold_s=600, monotonic=seconds)
    assert gate.pending() == []
    seconds.now = 599.0
    assert gate.pending() == []
    seconds.now = 600.0
    assert gate.pending() == store.pending()


def test_nothing_is_held_when_the_clock_was_never_probed_or_is_synced(stale_clock_box):
    store, clock = stale_clock_box
    record(store, clock, synced=True)
    watch = ClockWatch(store, synchronized=lambda: True)
    gate = ClockGatedOutbox(store, watch, max_hold_s=600, monotonic=Seconds())
    assert gate.pending() == store.pending()                  # never probed: synced is None
    watch.check()
    assert gate.pending() == store.pending() != []
