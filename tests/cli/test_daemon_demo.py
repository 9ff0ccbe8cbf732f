"""`liftguard demo` end to end in a subprocess: its output and what it stored in SQLite."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from edge_agent.store import LocalStore
from sensors.simulator import simulate_set


def test_demo_runs_end_to_end(tmp_path):
    data = tmp_path / "demo"
    env = dict(os.environ, LIFTGUARD_DEMO_DIR=str(data), PYTHONUNBUFFERED="1")
    out = subprocess.run(
        [sys.executable, "-m", "liftguard", "demo", "--fast", "--reps", "4",
         "--faults", "tilt@2", "--seed", "5"],
        capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    truth = simulate_set(lift="squat", reps=4, faults={2: "tilt"}, seed=5).reps[1]

    alerts = [(float(t), rep) for t, rep in re.findall(r"alert at ([\d.]+) s \((rep \d|between reps)\): bar ", text)]
    assert any(truth.fault_onset_s <= t <= truth.end_s + 0.5 and rep == "rep 2"
               for t, rep in alerts), text
    assert "session started" in text and "session ended" in text
    assert re.search(r"rep \d: ", text)                      # live per-rep feedback
    sid = re.search(r"session ([0-9a-f-]{36}):", text).group(1)
    assert "summary: Set of 4 squats" in text
    assert str(data / "liftguard.db") in text

    with LocalStore(data, "demo-box") as store:
        session = store.get_session(sid)
        assert session["status"] == "ended" and session["athlete"] == "demo athlete"
        frames = store.session_frames(sid)
        assert {f.source for f in frames} == {"imu", "platform"}
        assert len(store.session_reps(sid)) == 4
        metrics = store.session_metrics(sid)
        assert metrics and metrics[0]["id"] == session["metrics_id"]
        feedback = {f["id"]: f["feedback_text"] for f in store.session_feedback(sid)}
        assert feedback[session["feedback_id"]].startswith("Set of 4 squats")
        assert any(t.startswith("instability at") for t in feedback.values())
