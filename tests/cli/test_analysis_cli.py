"""`liftguard analyze`: table and JSON output, missing channels, bad input."""
from __future__ import annotations

import json

import pytest

from liftguard.cli import main

sim = pytest.importorskip("sensors.simulator")
from sensors.recording import write_recording


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    s = sim.simulate_set(lift="squat", reps=4, seed=5, faults={2: "tilt"})
    d = tmp_path_factory.mktemp("rec")
    full = write_recording(d / "set.csv", s.frames)
    imu = write_recording(d / "imu.csv", [f for f in s.frames if f.source == "imu"])
    plat = write_recording(d / "plat.csv", [f for f in s.frames if f.source == "platform"])
    return s, full, imu, plat


def test_json_has_one_object_per_rep_and_a_summary(recorded, capsys):
    s, full, _, _ = recorded
    assert main(["analyze", str(full), "--lift", "squat", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["reps"]) == len(s.reps)
    for rep, truth in zip(out["reps"], s.reps):
        assert abs(rep["rom_m"] - truth.rom_m) < 0.03
    assert out["summary"]["rep_count"] == len(s.reps)
    assert {"balance_score", "stability_score", "injury_risk"} <= set(out["summary"])
    tilted = out["reps"][1]
    assert tilted["feedback"].startswith("Rep 2: the bar tipped")
    assert f"{tilted['max_tilt_deg']:.0f}°" in tilted["feedback"]
    assert out["reps"][0]["feedback"] is None


def test_table_lists_every_rep(recorded, capsys):
    s, full, _, _ = recorded
    assert main(["analyze", str(full), "--lift", "squat"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "rep"
    assert [ln.split()[0] for ln in lines[1:1 + len(s.reps)]] == [str(i + 1) for i in range(len(s.reps))]


def test_imu_only_recording_reports_platform_metrics_unavailable(recorded, capsys):
    s, _, imu, _ = recorded
    assert main(["analyze", str(imu), "--lift", "squat", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["reps"]) == len(s.reps)
    assert out["reps"][0]["asymmetry_pct"] is None and out["reps"][0]["rom_m"] is not None
    assert "platform" in out["summary"]["unavailable"]["asymmetry_pct"]
    assert out["summary"]["balance_score"] is None


def test_platform_only_recording_says_why_there_are_no_reps(recorded, capsys):
    _, _, _, plat = recorded
    assert main(["analyze", str(plat), "--lift", "squat", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reps"] == [] and "IMU" in out["summary"]["unavailable"]["reps"]
    assert out["summary"]["set_cop_ml_rms_m"] > 0


def test_bad_file_and_bad_lift(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,ax\n0.0,notanumber\n")
    assert main(["analyze", str(bad), "--lift", "squat"]) == 1
    assert "bad.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(bad), "--lift", "curl"])
    assert exc.value.code == 2


def test_no_reps_says_why_and_gives_no_scores(tmp_path, capsys):
    """A bar that only shifts a few centimetres: no reps, the reason, and no scores."""
    from sensors.simulator import simulate_set

    sim = simulate_set("bench_press", 2, {}, 3)
    frames = [f for f in sim.frames if f.source == "platform" or f.mono_ns < 2_000_000_000]
    rec = write_recording(tmp_path / "still.csv", frames)
    assert main(["analyze", str(rec), "--lift", "squat", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reps"] == []
    summary = out["summary"]
    assert summary["balance_score"] is None and summary["stability_score"] is None
    assert summary["injury_risk"] is None and "20 cm" in summary["no_reps_reason"]
    assert main(["analyze", str(rec), "--lift", "squat"]) == 0
    text = capsys.readouterr().out
    assert "No squats found: the bar never moved" in text and "No scores" in text
    assert "Set of 0" not in text and "/100" not in text
