"""Time without an RTC: sessions recorded before NTP sync get their wall times recomputed from
monotonic time once the clock is synchronised, the correction is recorded and synced."""
from __future__ import annotations

import sqlite3

import pytest

from edge_agent.store import LocalStore
from edge_agent.store.wallclock import current_boot_id
from edge_agent.uplink import timesync
from edge_agent.uplink.timesync import ClockWatch, wall_clock_synchronized
from tests.support.clock_jumps import NTP_STEP_S, record
from tests.support.sync_support import DEVICE, migrated


def rows(store: LocalStore, sql: str, *args) -> list[sqlite3.Row]:
    conn = sqlite3.connect(store.path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_unsynced_session_is_recomputed_from_monotonic_time(stale_clock_box):
    store, clock = stale_clock_box
    assert store.boot_id == current_boot_id() and store.boot_id
    early = record(store, clock, synced=False)
    clock.jump_wall(NTP_STEP_S)                     # NTP answers
    later = record(store, clock, synced=True)
    true_offset = clock.wall_s() - clock.mono_ns() / 1e9
    before = {r["id"]: dict(r) for r in rows(store, "SELECT * FROM sessions")}
    backlog = store.backlog().get("sessions", 0)

    done = store.correct_wall_clock(true_offset)

    assert [c.session_id for c in done] == [early]
    chunks = rows(store, "SELECT COUNT(*) FROM sensor_data WHERE session_id = ?", early)[0][0]
    assert done[0].shift_s == pytest.approx(NTP_STEP_S, abs=1e-3) and done[0].chunks == chunks > 0
    s = dict(rows(store, "SELECT * FROM sessions WHERE id = ?", early)[0])
    assert s["start_time"] == pytest.approx(true_offset + s["start_mono_ns"] / 1e9, abs=1e-6)
    assert s["end_time"] == pytest.approx(true_offset + s["end_mono_ns"] / 1e9, abs=1e-6)
    assert s["start_time"] - before[early]["start_time"] == pytest.approx(NTP_STEP_S, abs=1e-3)
    assert s["wall_clock_previous_offset_s"] == before[early]["mono_to_wall_offset_s"]
    assert s["mono_to_wall_offset_s"] == pytest.approx(true_offset)
    assert s["wall_clock_corrected_at"] == pytest.approx(clock.wall_s())
    assert s["wall_clock_synced"] == 0          # what was true at the start stays recorded
    for c in rows(store, "SELECT * FROM sensor_data WHERE session_id = ?", early):
        assert c["timestamp"] == pytest.approx(true_offset + c["t_first_ns"] / 1e9, abs=1e-6)
    # the synced session is untouched; the corrected one is queued for sync again
    assert dict(rows(store, "SELECT * FROM sessions WHERE id = ?", later)[0]) == before[later]
    assert store.backlog()["sessions"] == backlog + 1
    assert store.correct_wall_clock(true_offset) == []          # once only


def test_active_and_other_boot_sessions_wait_or_stay(stale_clock_box):
    store, clock = stale_clock_box
    other_boot = record(store, clock, synced=False)
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE sessions SET boot_id = 'a-previous-boot' WHERE id = ?", (other_boot,))
    conn.commit()
    conn.close()
    active = store.start_session("squat", wall_clock_synced=False)
    store.flush()
    clock.jump_wall(NTP_STEP_S)
    offset = clock.wall_s() - clock.mono_ns() / 1e9
    assert store.correct_wall_clock(offset) == []   # monotonic time of another boot is no use
    store.end_session(active, "api")
    store.flush()
    assert [c.session_id for c in store.correct_wall_clock(offset)] == [active]
    assert rows(store, "SELECT wall_clock_corrected_at FROM sessions WHERE id = ?",
                other_boot)[0][0] is None


class FakeStore:
    def __init__(self) -> None:
        self.offsets: list[float] = []

    def correct_wall_clock(self, new_offset_s: float) -> list:
        self.offsets.append(new_offset_s)
        return [object()]


def test_clock_watch_corrects_once_sync_arrives():
    state = {"synced": False}
    store = FakeStore()
    watch = ClockWatch(store, synchronized=lambda: state["synced"], offset_s=lambda: 42.0)
    assert watch.check() is False and store.offsets == [] and watch.synced is False
    state["synced"] = True
    assert watch.check() is True and store.offsets == [42.0] and watch.corrected_sessions == 1


def test_sync_probes_fall_back_in_order(tmp_path, monkeypatch):
    assert wall_clock_synchronized((lambda: None, lambda: True, lambda: False)) is True
    assert wall_clock_synchronized((lambda: None, lambda: None)) is False
    flag = tmp_path / "synchronized"
    assert timesync.flag_file_synchronized(flag) is False
    flag.touch()
    assert timesync.flag_file_synchronized(flag) is True
    assert timesync.adjtimex_synchronized() in (True, False, None)
    monkeypatch.setattr(timesync.shutil, "which", lambda name: None)
    assert timesync.timedatectl_synchronized() is None


def test_correction_reaches_postgres_and_a_late_snapshot_cannot_undo_it(stale_clock_box, pg_db):
    from psycopg2.extras import RealDictCursor

    from sync.rows import SyncRecord, apply_records

    store, clock = stale_clock_box
    sid = record(store, clock, synced=False)
    stale = store.get_session(sid)
    clock.jump_wall(NTP_STEP_S)
    offset = clock.wall_s() - clock.mono_ns() / 1e9
    store.correct_wall_clock(offset)
    fixed = store.get_session(sid)
    pg = migrated(pg_db)
    try:
        with pg.cursor(cursor_factory=RealDictCursor) as cur:
            for row in (stale, fixed, stale):       # the stale snapshot is resent late
                apply_records(cur, [SyncRecord("sessions", row, DEVICE, 1)])
            cur.execute("SELECT extract(epoch FROM started_at) AS start, mono_to_wall_offset_s, "
                        "wall_clock_previous_offset_s, wall_clock_corrected_at FROM sessions")
            got = cur.fetchone()
    finally:
        pg.close()
    assert float(got["start"]) == pytest.approx(fixed["start_time"], abs=1e-3)
    assert got["mono_to_wall_offset_s"] == pytest.approx(offset)
    assert got["wall_clock_previous_offset_s"] == pytest.approx(stale["mono_to_wall_offset_s"])
    assert got["wall_clock_corrected_at"] is not None
