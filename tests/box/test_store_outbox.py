"""Outbox API for the sync worker: oldest first with payloads, ack only what was given."""
from __future__ import annotations

import pytest

from edge_agent.store import LocalStore, decode_chunk
from tests.support.frames import imu_frames

SLOW = 3600.0


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path, "box-7", commit_interval_s=SLOW, resolution=None)
    yield s
    s.close()


def test_pending_is_oldest_first_with_row_payloads(store):
    sid = store.start_session("squat", trainer="coach@example.org")
    frames = imu_frames(100)
    store.submit_frames(sid, frames)
    rep = store.submit_rep(sid, 1, 5, 9, {"rom_m": 0.52})
    assert store.flush(timeout=30)
    items = store.pending(limit=10)
    assert [i.id for i in items] == sorted(i.id for i in items)
    assert [i.kind for i in items] == ["sessions", "rep_metrics", "sensor_data"]
    session, rep_item, chunk = items
    assert session.payload["device_id"] == "box-7"
    assert session.payload["trainer"] == "coach@example.org"
    assert rep_item.row_id == rep and rep_item.payload["metrics"] == {"rom_m": 0.52}
    assert decode_chunk(chunk.payload["raw_data"]) == frames  # the text sent as raw_data
    assert store.pending(limit=1) == items[:1]


def test_ack_deletes_only_the_given_entries(store):
    sid = store.start_session("bench_press")
    for n in range(4):
        store.submit_feedback(sid, f"cue {n}")
    assert store.flush(timeout=30)
    items = store.pending(limit=100)
    assert store.backlog() == {"sessions": 1, "feedback": 4}
    assert store.ack([items[1].id, items[3].id, 999_999]) == 2
    left = store.pending(limit=100)
    assert [i.id for i in left] == [items[0].id, items[2].id, items[4].id]
    assert store.backlog() == {"sessions": 1, "feedback": 2}
    assert len(store.session_feedback(sid)) == 4  # ack never deletes data


def test_mark_failed_counts_attempts_and_keeps_the_error(store):
    sid = store.start_session("deadlift")
    assert store.flush(timeout=30)
    (item,) = store.pending(limit=10)
    store.mark_failed([item.id], "connection refused")
    store.mark_failed([item.id], "timeout")
    (again,) = store.pending(limit=10)
    assert (again.id, again.attempts, again.last_error) == (item.id, 2, "timeout")
    assert again.payload["id"] == sid


def test_payload_is_read_when_pending_is_called(store):
    sid = store.start_session("squat")
    assert store.flush(timeout=30)
    first = store.pending(limit=10)
    store.end_session(sid, "api")
    assert store.flush(timeout=30)
    items = store.pending(limit=10)
    assert first[0].payload["status"] == "active"
    # both entries now carry the ended row; acking the first cannot lose the end
    assert [i.payload["status"] for i in items] == ["ended", "ended"]
    store.ack([first[0].id])
    assert [i.payload["end_reason"] for i in store.pending(limit=10)] == ["api"]


def test_limit_must_be_positive(store):
    with pytest.raises(ValueError, match="limit"):
        store.pending(limit=0)
