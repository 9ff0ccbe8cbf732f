"""Disk cap: synced raw chunks go first, then raw capture pauses; rows are always kept."""
from __future__ import annotations

import sqlite3

from edge_agent.store import LocalStore
from tests.support.frames import imu_frames

CAP_MB = 0.25
SLOW = 3600.0


def write_seconds(store, sid, first_seq, seconds):
    """Submit and commit ``seconds`` of 200 Hz IMU frames, one second per flush."""
    for k in range(seconds):
        seq = first_seq + 200 * k
        accepted = store.submit_frames(sid, imu_frames(200, seq0=seq, t0=10**12 + seq * 5_000_000))
        assert store.flush(timeout=30)
        yield seq, accepted


def ack_raw(store):
    store.ack([i.id for i in store.pending(limit=1000) if i.kind == "sensor_data"])


def test_synced_chunks_are_deleted_oldest_first_and_capture_continues(tmp_path):
    cap = int(CAP_MB * 1_000_000)
    with LocalStore(tmp_path, "box", cap_mb=CAP_MB, commit_interval_s=SLOW) as store:
        sid = store.start_session("squat")
        written = 0
        for _, accepted in write_seconds(store, sid, 0, 60):  # ~600 kB of chunks
            assert accepted
            written += 200
            ack_raw(store)  # the sync worker keeps up
            assert store.status()["db_used_bytes"] <= cap
        st = store.status()
        assert not st["raw_capture_paused"] and st["deleted_synced_chunks"] > 0
        conn = sqlite3.connect(store.path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        assert store.path.stat().st_size <= cap * 1.05  # freed pages went back to the disk
        kept = store.sensor_chunks(sid, limit=1000)
        seqs = [c["seq_first"] for c in kept]
        assert seqs == sorted(seqs) and seqs[-1] == written - 200  # the newest are kept
        assert seqs[0] > 0  # the oldest went
        store.end_session(sid, "api")


def test_unsynced_data_is_never_deleted_raw_capture_pauses_then_resumes(tmp_path):
    with LocalStore(tmp_path, "box", cap_mb=CAP_MB, commit_interval_s=SLOW) as store:
        sid = store.start_session("deadlift")
        accepted_seqs = []
        for seq, accepted in write_seconds(store, sid, 0, 60):
            if accepted:
                accepted_seqs.append(seq)
            if store.status()["raw_capture_paused"]:
                break
        st = store.status()
        assert st["raw_capture_paused"], "cap never reached"
        assert st["deleted_synced_chunks"] == 0
        stored = [c["seq_first"] for c in store.sensor_chunks(sid, limit=1000)]
        assert stored == accepted_seqs  # nothing unsynced was deleted

        assert not store.submit_frames(sid, imu_frames(200, seq0=10**6))
        assert store.status()["dropped"]["raw_frames_disk_cap"] == 200
        store.submit_rep(sid, 1, 0, 1, {"still": "stored"})
        store.submit_feedback(sid, "rows are written while raw capture is paused")
        assert store.flush(timeout=30)
        assert len(store.session_reps(sid)) == 1 and len(store.session_feedback(sid)) == 1

        ack_raw(store)          # sync caught up
        assert store.flush(timeout=30)
        st = store.status()
        assert not st["raw_capture_paused"] and st["deleted_synced_chunks"] > 0
        assert store.submit_frames(sid, imu_frames(200, seq0=2 * 10**6))
        store.end_session(sid, "api")


def test_pause_survives_a_restart(tmp_path):
    with LocalStore(tmp_path, "box", cap_mb=CAP_MB, commit_interval_s=SLOW) as store:
        sid = store.start_session("squat")
        for _ in write_seconds(store, sid, 0, 60):
            if store.status()["raw_capture_paused"]:
                break
        store.end_session(sid, "api")
    with LocalStore(tmp_path, "box", cap_mb=CAP_MB) as again:
        assert again.status()["raw_capture_paused"]
    with LocalStore(tmp_path, "box", cap_mb=10 * CAP_MB) as bigger:
        assert not bigger.status()["raw_capture_paused"]
