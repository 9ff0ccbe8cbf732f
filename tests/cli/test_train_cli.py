"""`liftguard train`: simulated and recorded clean sets -> a verified bundle with a report."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from liftguard.cli import main
from models.anomaly import load_bundle
from models.anomaly.bundle import sha256_file
from sensors.frame import BOX_CHANNELS
from sensors.recording import write_recording
from sensors.simulator import simulate_set


def test_train_sim_no_autoencoder_writes_a_verified_bundle(tmp_path, capsys):
    out = tmp_path / "bundle"
    rc = main(["train", "--sim", "2", "--held-out-sim", "1", "--lift", "squat", "--no-autoencoder",
               "--seed", "3", "--out", str(out)])
    assert rc == 0
    model = load_bundle(out, expect_channels=BOX_CHANNELS, expect_rate=100.0)
    manifest = model.manifest
    assert manifest["autoencoder"] is None and manifest["lift_types"] == ["squat"]
    # the report is inside the bundle and covered by its checksums
    for name in ("training_report.json", "training_report.md"):
        assert manifest["files"][name] == sha256_file(out / name)
    report = json.loads((out / "training_report.json").read_text())
    assert report["fit_reps"] == manifest["training"]["complete_reps"]
    assert len(report["fit_sets"]) == 2 and len(report["held_out_sets"]) == 1
    realtime = manifest["realtime"]
    assert 0 < realtime["window_p_threshold"] < 1
    assert realtime["calibration_false_alerts_per_100_reps"] <= realtime["target_false_alerts_per_100_reps"]
    assert len(manifest["population_norm"]["channel_offset"]) == len(BOX_CHANNELS)
    console = capsys.readouterr().out
    assert str(out) in console
    held = report["held_out"]
    assert held["rep_flags"]["n"] == held["reps_scored"] == held["reps"] > 0
    low, high = held["rep_flags"]["ci95"]
    assert low <= held["rep_flags"]["rate"] <= high and high > 0.01
    note = f"{held['reps']} held-out clean reps are too few to show a rate of 1 %"
    assert held["rep_flags_support"].startswith(note) and note in console
    assert "95 % CI" in console and note in (out / "training_report.md").read_text()


def test_train_from_a_directory_of_recordings(tmp_path):
    recordings = tmp_path / "recs"
    recordings.mkdir()
    for seed in range(3):
        write_recording(recordings / f"set{seed}.csv", simulate_set("squat", reps=5, seed=seed).frames)
    out = tmp_path / "bundle"
    assert main(["train", str(recordings), "--lift", "squat", "--no-autoencoder", "--out", str(out)]) == 0
    report = json.loads((out / "training_report.json").read_text())
    names = sorted(report["fit_sets"] + report["held_out_sets"])
    assert names == sorted(str(p) for p in recordings.glob("*.csv"))
    assert report["held_out_sets"], "one recording of three is held out for calibration"


def test_too_little_clean_data_is_refused_with_what_is_needed(tmp_path, capsys):
    rec = write_recording(tmp_path / "short.csv", simulate_set("squat", reps=2, seed=1).frames)
    rc = main(["train", str(rec), "--lift", "squat", "--no-autoencoder", "--out", str(tmp_path / "b")])
    assert rc == 2
    assert "need at least" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_missing_tensorflow_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    rc = main(["train", "--sim", "2", "--lift", "squat", "--out", str(tmp_path / "b")])
    assert rc == 2
    assert "install the train extra: pip install '.[train]'" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["train", "--lift", "squat"],                                  # neither inputs nor --sim
    ["train", "x.csv", "--sim", "2", "--lift", "squat"],           # both
    ["train", "x.csv", "--lift", "all"],                           # 'all' needs --sim
])
def test_bad_arguments_exit_2(argv, capsys):
    assert main(argv) == 2


def test_rep_detectors_option_sets_what_the_rep_decision_fuses(tmp_path):
    out = tmp_path / "bundle"
    assert main(["train", "--sim", "3", "--held-out-sim", "1", "--lift", "squat", "--no-autoencoder",
                 "--rep-detectors", "rep_mahalanobis,rep_extent", "--out", str(out)]) == 0
    model = load_bundle(out)
    assert model.manifest["detectors"]["rep"] == ["rep_mahalanobis", "rep_extent"]
    assert json.loads((out / "training_report.json").read_text())["rep_detectors"] == ["rep_mahalanobis", "rep_extent"]


@pytest.mark.parametrize("names, says", [("rep_mahalanobis,rep_bogus", "rep_bogus"),
                                         ("rep_ocsvm,rep_ocsvm", "repeated"),
                                         ("autoencoder_mean", "needs the autoencoder")])
def test_rep_detectors_option_refuses_bad_names(tmp_path, capsys, names, says):
    rc = main(["train", "--sim", "2", "--lift", "squat", "--no-autoencoder", "--rep-detectors", names,
               "--out", str(tmp_path / "b")])
    assert rc == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_cli_does_not_import_tensorflow():
    code = ("import sys; from liftguard.cli import build_parser; build_parser(); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
