"""`liftguard sessions list`, `export` and `replay` over a session made by the daemon path."""
from __future__ import annotations

import json

from liftguard.box import run_box_session as run_session
from liftguard.cli import main
from sensors.recording import read_recording, write_recording
from sensors.simulator import SimulatorSource, simulate_set
from tests.support.daemon_helpers import NO_PINS, config


def test_sessions_list_export_and_replay_round_trip(tmp_path, capsys):
    data = tmp_path / "data"
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'[device]\ndata_dir = "{data}"\nid = "t"\nsecrets_file = ""\n')
    run = run_session(config(data, feedback=NO_PINS), SimulatorSource(reps=2, realtime=False),
                      "squat", realtime=False, athlete="ann", console=False)

    assert main(["--config", str(cfg_file), "sessions", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in listed] == [run.session_id] and listed[0]["status"] == "ended"

    out = tmp_path / "export.csv"
    assert main(["--config", str(cfg_file), "export", run.session_id, "--csv", str(out)]) == 0
    capsys.readouterr()
    assert len(read_recording(out).frames) == run.frames     # every frame the loop saw, stored
    assert main(["--config", str(cfg_file), "export", "nope", "--csv", str(out)]) == 2

    sim = simulate_set(reps=3, faults={2: "lateral_sway"}, seed=4)
    rec = write_recording(tmp_path / "rec.csv", sim.frames)
    assert main(["replay", str(rec), "--json", "--lift", "squat",
                 "--data-dir", str(tmp_path / "replayed")]) == 0
    summary = json.loads(capsys.readouterr().out)["daemon"]
    assert summary["summary"]["rep_count"] == 3
    onset, end = sim.reps[1].fault_onset_s, sim.reps[1].end_s
    assert any(onset <= a["t_s"] <= end for a in summary["alerts"])
