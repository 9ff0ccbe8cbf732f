"""The batched writer: non-blocking submit, flush, one transaction with outbox, drop policy."""
from __future__ import annotations

import sqlite3

import pytest

from edge_agent.store import LocalStore, StoreError
from tests.support.frames import imu_frames

SLOW = 3600.0  # commit interval long enough that only flush/close commit during a test


def outbox_rows(store):
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute("SELECT kind, row_id FROM outbox ORDER BY id").fetchall()
    finally:
        conn.close()


def test_nothing_is_on_disk_before_a_commit_and_everything_after_flush(tmp_path):
    with LocalStore(tmp_path, "box", commit_interval_s=SLOW, resolution=None) as store:
        sid = store.start_session("squat", athlete="ann@example.org")
        frames = imu_frames(450)
        assert store.submit_frames(sid, frames)
        assert store.get_session(sid) is None
        assert store.status()["queue_frames"] == 450
        assert store.flush(timeout=30)
        assert store.session_frames(sid) == frames
        st = store.status()
        assert st["queue_depth"] == 0 and st["last_commit_wall"] is not None


def test_every_row_gets_its_outbox_entry(tmp_path):
    with LocalStore(tmp_path, "box", commit_interval_s=SLOW, resolution=None) as store:
        sid = store.start_session("deadlift")
        store.submit_frames(sid, imu_frames(600))  # 3 s at 200 Hz -> 2 s max per chunk
        rep = store.submit_rep(sid, 1, 0, 10**9, {"peak_velocity_m_s": 0.8},
                               balance_score=0.9, feedback_text="good")
        metrics = store.submit_metrics(sid, 0.9, 0.8, 0.1, {"reps": 1})
        fb = store.submit_feedback(sid, "keep the bar level", summary=True)
        store.end_session(sid, "button")
        assert store.flush(timeout=30)
        chunks = store.sensor_chunks(sid)
        assert sum(c["n_frames"] for c in chunks) == 600
        assert all(c["t_last_ns"] - c["t_first_ns"] < 2 * 10**9 for c in chunks)
        entries = outbox_rows(store)
        expected = {("sessions", sid), ("rep_metrics", rep), ("performance_metrics", metrics),
                    ("feedback", fb)} | {("sensor_data", c["id"]) for c in chunks}
        assert set(entries) == expected
        # the session row changed 4 times (insert, metrics link, feedback link, end)
        assert entries.count(("sessions", sid)) == 4
        s = store.get_session(sid)
        assert (s["metrics_id"], s["feedback_id"], s["status"], s["end_reason"]) == \
               (metrics, fb, "ended", "button")


def test_full_queue_drops_raw_frames_but_never_rows(tmp_path):
    with LocalStore(tmp_path, "box", commit_interval_s=SLOW, max_queued_frames=100) as store:
        sid = store.start_session("squat")
        frames = imu_frames(120)
        assert store.submit_frames(sid, frames[:60])
        assert not store.submit_frames(sid, frames[60:])     # would exceed 100: dropped
        for n in range(1, 6):
            store.submit_rep(sid, n, n, n + 1, {"n": n})
        store.submit_feedback(sid, "drop test")
        assert store.status()["dropped"] == {"raw_frames_queue_full": 60}
        assert store.flush(timeout=30)
        assert [f.seq for f in store.session_frames(sid)] == list(range(60))
        assert [r["rep_number"] for r in store.session_reps(sid)] == [1, 2, 3, 4, 5]
        assert len(store.session_feedback(sid)) == 1
        assert store.submit_frames(sid, frames[60:])  # room again once committed


def test_close_commits_what_is_queued(tmp_path):
    store = LocalStore(tmp_path, "box", commit_interval_s=SLOW)
    sid = store.start_session("squat")
    frames = imu_frames(100)
    store.submit_frames(sid, frames)
    store.end_session(sid, "shutdown")
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.submit_frames(sid, frames)
    with LocalStore(tmp_path, "box", resolution=None) as again:
        assert len(again.session_frames(sid)) == 100
        assert again.get_session(sid)["end_reason"] == "shutdown"


def test_a_refused_row_does_not_lose_the_rest_of_its_batch(tmp_path):
    with LocalStore(tmp_path, "box", commit_interval_s=SLOW) as store:
        sid = store.start_session("squat")
        store.submit_rep("no-such-session", 1, 0, 1, {})   # foreign key violation
        store.submit_rep(sid, 1, 0, 1, {"ok": True})
        assert store.flush(timeout=30)
        assert store.status()["rejected_rows"] == 1
        assert [r["metrics"] for r in store.session_reps(sid)] == [{"ok": True}]
        assert ("rep_metrics", "no-such-session") not in outbox_rows(store)


def test_session_rules_are_checked_at_submit(tmp_path):
    with LocalStore(tmp_path, "box", commit_interval_s=SLOW) as store:
        with pytest.raises(ValueError, match="lift_type 'curl'"):
            store.start_session("curl")
        sid = store.start_session("squat")
        with pytest.raises(StoreError, match="still active"):
            store.start_session("squat")
        with pytest.raises(ValueError, match="end_reason 'bored'"):
            store.end_session(sid, "bored")
        with pytest.raises(ValueError, match="rep 3 metrics"):
            store.submit_rep(sid, 3, 0, 1, {"bad": object()})
        store.end_session(sid, "idle_timeout")
        assert store.active_session_id is None
        second = store.start_session("deadlift")
        assert second > sid  # time-ordered ids
        store.end_session(second, "api")


def test_nan_metrics_are_stored_as_null(tmp_path):
    with LocalStore(tmp_path, "box", commit_interval_s=SLOW) as store:
        sid = store.start_session("squat")
        store.submit_rep(sid, 1, 0, 1, {"tilt": float("nan"), "v": [1.0, float("inf")]},
                         balance_score=float("nan"))
        assert store.flush(timeout=30)
        rep = store.session_reps(sid)[0]
        assert rep["metrics"] == {"tilt": None, "v": [1.0, None]}
        assert rep["balance_score"] is None
