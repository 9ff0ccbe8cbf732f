"""kill -9 in the middle of a session: restart, recovery, analysis, no acknowledged frame lost,
and the display series built so far survives and is completed."""
from __future__ import annotations

import os
import signal

from edge_agent.store import LocalStore
from edge_agent.store.reader import StoreReader
from sync.series import check_series
from tests.support.daemon_helpers import (
    call,
    free_port,
    ready_status,
    simulated_box_config,
    start_daemon,
    wait_for,
)


def test_kill_9_mid_session_loses_no_acknowledged_frame(tmp_path):
    port = free_port()
    cfg = simulated_box_config(tmp_path, "crash-box", port, {"reps": 40},
                               "[store]\ncommit_interval_s = 0.2\n")
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "daemon.log"
    proc = start_daemon(cfg, log)
    try:
        wait_for(lambda: ready_status(base), what="daemon ready")
        status, body = call(base, "POST", "/sessions", {"lift_type": "squat", "athlete": "ann"})
        assert status == 201
        sid = body["id"]
        acked = wait_for(lambda: _acked(base, min_imu=400), what="committed frames")
        before = wait_for(lambda: _series(tmp_path, sid, min_reps=2), limit_s=90,
                          what="a display series with two reps")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    survived = _series(tmp_path, sid, min_reps=len(before["series"]["reps"]))
    assert survived and survived["version"] >= before["version"] and not survived["final"]
    check_series(survived["series"])

    proc = start_daemon(cfg, log)
    try:
        wait_for(lambda: ready_status(base), what="daemon ready after the crash")
        session = wait_for(lambda: _analysed(base, sid), limit_s=60, what="recovery analysis")
        assert session["status"] == "ended" and session["end_reason"] == "crash_recovery"
        assert session["performance_metrics"] and session["feedback"]
        assert call(base, "GET", "/status")[1]["session"] is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]

    with LocalStore(tmp_path / "data", "crash-box") as store:
        frames = store.session_frames(sid)
        final = store.session_series(sid)
        reps = store.session_reps(sid)
    assert final["final"] and final["version"] > survived["version"]
    check_series(final["series"])
    assert [r["n"] for r in final["series"]["reps"]] == [r["rep_number"] for r in reps]
    assert len(reps) >= len(survived["series"]["reps"])
    assert all(r["z_mm"][0] == 0 for r in final["series"]["reps"])
    for source, last_acked in acked.items():
        seqs = sorted(f.seq for f in frames if f.source == source)
        assert seqs[-1] >= last_acked
        kept = [s for s in seqs if s <= last_acked]
        assert kept == list(range(seqs[0], last_acked + 1)), f"{source}: gap before {last_acked}"


def _acked(base: str, min_imu: int):
    st = call(base, "GET", "/status")[1]
    seqs = (st["session"] or {}).get("last_committed_seq", {})
    return seqs if seqs.get("imu", 0) >= min_imu and "platform" in seqs else None


def _analysed(base: str, sid: str):
    status, s = call(base, "GET", f"/sessions/{sid}")
    return s if status == 200 and s.get("metrics_id") else None


def _series(tmp_path, sid: str, min_reps: int):
    """The session's display-series row as the store holds it (read from another process)."""
    with StoreReader(tmp_path / "data") as reader:
        row = reader.session_series(sid)
    return row if row and len(row["series"]["reps"]) >= min_reps else None
