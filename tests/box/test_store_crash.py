"""kill -9 of a process that is writing: every batch it saw committed survives, intact."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from edge_agent.store import LocalStore
from tests.support.frames import assert_same_frames, expected_frame

BATCH = 50
GAP_EVERY = 7   # every 7th batch starts after 3 lost samples, so gaps must survive too
WANTED_FLUSHES = 25


CHILD = textwrap.dedent(f"""
    import sys
    from edge_agent.store import LocalStore
    from tests.support.frames import expected_frame
    store = LocalStore(sys.argv[1], "box-crash", commit_interval_s=0.05, resolution=None)
    sid = store.start_session("deadlift", athlete="crash@example.org")
    print("session", sid, flush=True)
    seq, batch = 0, 0
    while True:
        if batch % {GAP_EVERY} == {GAP_EVERY} - 1:
            seq += 3
        frames = [expected_frame(s) for s in range(seq, seq + {BATCH})]
        assert store.submit_frames(sid, frames)
        seq += {BATCH}
        batch += 1
        if batch % 2 == 0:
            store.submit_rep(sid, batch, frames[0].mono_ns, frames[-1].mono_ns, {{"b": batch}})
        if store.flush(timeout=30):
            print("committed", seq - 1, flush=True)
""")


def test_kill_9_loses_nothing_that_was_committed(tmp_path):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=repo,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = child.stdout.readline().split()
        assert first[:1] == ["session"], child.stderr.read()
        sid = first[1]
        committed = -1
        for _ in range(WANTED_FLUSHES):
            line = child.stdout.readline().split()
            assert line[:1] == ["committed"], child.stderr.read()
            committed = int(line[1])
        os.kill(child.pid, signal.SIGKILL)  # while it keeps writing
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL

    conn = sqlite3.connect(tmp_path / "liftguard.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()

    with LocalStore(tmp_path, "box-crash", resolution=None) as store:
        assert store.recovered_session_ids == [sid]
        frames = store.session_frames(sid)
        seqs = [f.seq for f in frames]
        assert len(seqs) == len(set(seqs)), "a frame was stored twice"
        acknowledged = [s for s in seqs if s <= committed]
        expected_seqs = []
        seq, batch = 0, 0
        while seq <= committed:
            if batch % GAP_EVERY == GAP_EVERY - 1:
                seq += 3
            expected_seqs += range(seq, seq + BATCH)
            seq, batch = seq + BATCH, batch + 1
        assert acknowledged == expected_seqs  # every committed frame, gaps where they were
        assert_same_frames(frames, [expected_frame(s) for s in seqs])  # intact, later ones too

        s = store.get_session(sid)
        assert (s["status"], s["end_reason"]) == ("ended", "crash_recovery")
        assert s["end_mono_ns"] == frames[-1].mono_ns
        reps = store.session_reps(sid)
        assert [r["rep_number"] for r in reps] == list(range(2, 2 * len(reps) + 1, 2))
        assert len(reps) >= WANTED_FLUSHES // 2

        chunk_ids = {c["id"] for c in store.sensor_chunks(sid, limit=1000)}
        queued = {i.row_id for i in store.pending(limit=10_000) if i.kind == "sensor_data"}
        assert chunk_ids == queued  # each chunk committed together with its outbox entry
