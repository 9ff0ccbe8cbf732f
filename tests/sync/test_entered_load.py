"""`liftguard run` on a simulated box, a session started through the local API with an entered
bar load and a velocity-loss limit: the stored reps carry the entered load as theirs (it wins)
and the platform's weighing beside it, and the cue's limit is the session's."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from sensors.simulator import simulate_set
from tests.support.daemon_helpers import (
    call,
    free_port,
    ready_status,
    simulated_box_config,
    start_daemon,
    wait_for,
)


def test_entered_load_wins_and_the_platform_weighing_is_kept(tmp_path):
    port, data = free_port(), tmp_path / "data"
    cfg = simulated_box_config(tmp_path, "load-box", port,
                               {"reps": 4, "seed": 3, "bar_load_kg": 60.0})
    log = tmp_path / "daemon.log"
    proc = start_daemon(cfg, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready_status(base), 60, "daemon ready")
        status, row = call(base, "POST", "/sessions", {
            "lift_type": "squat", "athlete": "ann@example.org", "bar_load_kg": 70,
            "velocity_loss_limit_pct": 30})
        assert status == 201, row
        time.sleep(simulate_set("squat", 4, seed=3).duration_s + 1.0)
        assert call(base, "POST", f"/sessions/{row['id']}/end")[0] == 200
        wait_for(lambda: ((ready_status(base) or {}).get("last_summary") or {}).get("session_id")
                 == row["id"], 60, "the session's analysis")
    finally:
        proc.terminate()
        proc.wait(30)
    shown = subprocess.run([sys.executable, "-m", "liftguard", "sessions", "show", row["id"],
                            "--json", "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr + log.read_text()[-2000:]
    reps = json.loads(shown.stdout)["reps"]
    assert len(reps) == 4
    for rep in reps:
        m = rep["metrics"]
        assert m["bar_load_kg"] == 70 and m["bar_load_source"] == "entered"
        assert abs(m["bar_load_measured_kg"] - 60.0) <= m["bar_load_uncertainty_kg"]
        assert m["velocity_loss_limit_pct"] == 30
