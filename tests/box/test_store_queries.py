"""Queries for the local API and crash recovery at open (in-process part)."""
from __future__ import annotations

import pytest

from edge_agent.store import LocalStore
from sensors.clock import ManualClock
from tests.support.frames import imu_frames

SLOW = 3600.0


def test_sensor_chunks_page_through_every_chunk_once(tmp_path):
    with LocalStore(tmp_path, "box", commit_interval_s=SLOW, max_chunk_s=0.25,
                    resolution=None) as store:
        sid = store.start_session("squat")
        frames = imu_frames(1000)  # 5 s -> 20 chunks of 0.25 s
        store.submit_frames(sid, frames)
        store.end_session(sid, "api")
        sid2 = store.start_session("deadlift")  # its data must not appear in sid's pages
        store.submit_frames(sid2, imu_frames(50, seq0=5000))
        assert store.flush(timeout=30)
        pages, after = [], None
        while page := store.sensor_chunks(sid, limit=7, after_id=after):
            pages.append(page)
            after = page[-1]["id"]
        assert [len(p) for p in pages] == [7, 7, 6]
        chunks = [c for p in pages for c in p]
        assert all(c["session_id"] == sid for c in chunks)
        assert [c["seq_first"] for c in chunks] == list(range(0, 1000, 50))
        assert chunks[0]["raw_data"]["source"] == "imu"
        store.end_session(sid2, "api")


def test_list_and_get_sessions(tmp_path):
    clock = ManualClock(mono_ns=10**9)
    with LocalStore(tmp_path, "box", commit_interval_s=SLOW, clock=clock) as store:
        ids = []
        for lift in ("squat", "bench_press", "deadlift"):
            ids.append(store.start_session(lift))
            clock.advance(60)
            store.end_session(ids[-1], "api")
        live = store.start_session("squat", wall_clock_synced=True)
        assert store.flush(timeout=30)
        assert [s["id"] for s in store.list_sessions()] == [live] + ids[::-1]
        assert [s["id"] for s in store.list_sessions(limit=2)] == [live, ids[2]]
        assert [s["id"] for s in store.list_sessions(status="active")] == [live]
        s = store.get_session(ids[0])
        assert s["end_time"] - s["start_time"] == pytest.approx(60)
        assert s["end_mono_ns"] - s["start_mono_ns"] == 60 * 10**9
        assert s["mono_to_wall_offset_s"] == pytest.approx(clock.wall_s() - clock.mono_ns() / 1e9)
        assert store.get_session(live)["wall_clock_synced"] == 1
        assert store.get_session("nope") is None
        with pytest.raises(ValueError, match="limit"):
            store.list_sessions(limit=0)
        store.end_session(live, "api")


def test_session_left_active_is_recovered_at_its_last_frame(tmp_path):
    store = LocalStore(tmp_path, "box", commit_interval_s=SLOW, max_chunk_s=0.5)
    sid = store.start_session("squat")
    frames = imu_frames(333)
    store.submit_frames(sid, frames)
    store.submit_rep(sid, 1, frames[0].mono_ns, frames[-1].mono_ns, {})
    store.close()  # no end_session: as if the daemon died
    with LocalStore(tmp_path, "box") as again:
        assert again.recovered_session_ids == [sid]
        s = again.get_session(sid)
        assert (s["status"], s["end_reason"]) == ("ended", "crash_recovery")
        assert s["end_mono_ns"] == frames[-1].mono_ns
        assert s["end_time"] == pytest.approx(frames[-1].wall_s, abs=1e-6)
        assert [i.payload["status"] for i in again.pending(100) if i.kind == "sessions"] \
            == ["ended", "ended"]
        newer = again.start_session("squat")  # the box is free again
    with LocalStore(tmp_path, "box") as third:
        assert third.recovered_session_ids == [newer]  # recovered once, not again


def test_session_without_frames_is_recovered_at_its_start(tmp_path):
    store = LocalStore(tmp_path, "box", commit_interval_s=SLOW)
    sid = store.start_session("bench_press")
    store.close()
    with LocalStore(tmp_path, "box") as again:
        s = again.get_session(sid)
        assert again.recovered_session_ids == [sid]
        assert (s["end_mono_ns"], s["end_time"]) == (s["start_mono_ns"], s["start_time"])
