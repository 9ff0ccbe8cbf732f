"""`liftguard evaluate` on a tiny run: JSON, markdown, plots, and the real-data part's skip reason."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from liftguard.cli import main


def test_tiny_simulator_evaluation_writes_json_markdown_and_plots(tmp_path):
    out = tmp_path / "eval"
    rc = main(["evaluate", "--seeds", "1", "--lift", "squat", "--fault", "tremor", "--fault", "tilt",
               "--data-dir", str(tmp_path / "no-data"), "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "evaluation.json").read_text())
    sim = report["simulator"]
    assert sim["scorer"]["kind"] == "model"
    assert set(sim["per_fault"]) == {"tremor", "tilt"}
    for row in sim["per_fault"].values():
        assert row["sets"] == 1 and 0.0 <= row["detection_rate"] <= 1.0
        assert row["live_detection_rate"] <= row["detection_rate"]
    assert sim["clean_reps"] > 0
    assert sim["false_alerts_per_100_clean_reps"] == sim["live_false_alerts_per_100_clean_reps"] + sim["rep_flags_per_100_clean_reps"]
    assert set(sim["rep_score_auroc"]) <= {"tremor", "tilt"}
    assert "dataset not found" in report["real_squats"]["skipped"]
    markdown = (out / "evaluation.md").read_text()
    assert "| tremor |" in markdown and "Skipped: dataset not found" in markdown
    drift = sim["drift_cue"]
    assert drift["clean_sets"] == 1 and drift["clean_sets_cued"] in (0, 1)
    assert f"Technique-drift cue (alpha {drift['alpha']:g}): clean sets cued {drift['clean_sets_cued']}/1" in markdown
    assert "None" not in markdown
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib" in report["plots"]["skipped"]
    else:
        for name in ("roc_simulator.png", "scores_simulator.png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_fault_is_a_usage_error(tmp_path, capsys):
    assert main(["evaluate", "--fault", "wobble", "--out", str(tmp_path)]) == 2
    assert "unknown fault type" in capsys.readouterr().err


def test_without_tensorflow_the_real_part_stops_before_starting(tmp_path, capsys, monkeypatch):
    from liftguard.commands import evaluate

    (tmp_path / "data" / evaluate.SQUAT_DATASET).mkdir(parents=True)
    real_find_spec = evaluate.importlib.util.find_spec
    monkeypatch.setattr(evaluate.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a))
    out = tmp_path / "eval"
    assert main(["evaluate", "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "needs TensorFlow" in err and "--no-autoencoder" in err and "--quick" in err
    assert not out.exists(), "nothing ran"


def test_lifts_run_in_parallel_give_the_serial_figures():
    from liftguard.commands.evaluate import DEFAULT_BUNDLE
    from liftguard.commands.evaluate_simulator import SimulatorRun, evaluate_lifts

    run = SimulatorRun(bundle=DEFAULT_BUNDLE, seeds=(0,), faults=("tilt", "tremor"), alert_on=0.9, alert_off=0.6,
                       min_gap_s=2.0, hop_s=0.1, window_s=1.0)
    merged, scorer = evaluate_lifts(run, ("squat", "deadlift"), n_jobs=2)
    alone = [evaluate_lifts(run, (lift,), n_jobs=1)[0] for lift in ("squat", "deadlift")]
    assert scorer["kind"] == "model" and merged["lifts"] == ["squat", "deadlift"]
    assert merged["clean_reps"] == sum(r["clean_reps"] for r in alone)
    for fault in ("tilt", "tremor"):
        row = merged["per_fault"][fault]
        assert row["sets"] == 2
        assert row["detection_rate"] == pytest.approx(np.mean([r["per_fault"][fault]["detection_rate"] for r in alone]))
        assert row["delay_median_ms_by_lift"] == {lift: r["per_fault"][fault]["delay_median_ms"]
                                                  for lift, r in zip(("squat", "deadlift"), alone)}
    flags = sum(round(r["rep_flags_per_100_clean_reps"] * r["clean_reps"] / 100) for r in alone)
    assert merged["false_alerts"]["rep_verdicts"] == flags
    assert merged["drift_cue"]["clean_sets"] == 2 == sum(r["drift_cue"]["clean_sets"] for r in alone)
    assert merged["drift_cue"]["clean_sets_cued"] == sum(r["drift_cue"]["clean_sets_cued"] for r in alone)
    assert merged["drift_cue"]["by_lift"] == {lift: {k: r["drift_cue"][k] for k in ("clean_sets", "clean_sets_cued")}
                                              for lift, r in zip(("squat", "deadlift"), alone)}
    assert sorted(merged["rep_scores"]["clean"]) == sorted(alone[0]["rep_scores"]["clean"] + alone[1]["rep_scores"]["clean"])


def test_with_profile_every_set_is_replayed_again_with_its_athletes_profile(tmp_path):
    from liftguard.commands.evaluate import DEFAULT_BUNDLE
    from models.set_drift import bundle_set_alpha

    out = tmp_path / "eval"
    assert main(["evaluate", "--skip-real", "--seeds", "1", "--lift", "squat", "--fault", "sticking_point",
                 "--with-profile", "--out", str(out)]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    plain, profiled = report["simulator"], report["simulator_with_profile"]
    assert not plain["with_profile"] and profiled["with_profile"]
    manifest = json.loads((DEFAULT_BUNDLE / "manifest.json").read_text())
    # the profile pass decided reps with the profile decision, whose drift threshold is its own
    assert profiled["drift_cue"]["alpha"] == manifest["profile_rep"]["set_drift"]["alpha"]
    assert plain["drift_cue"]["alpha"] == bundle_set_alpha(manifest) != profiled["drift_cue"]["alpha"]
    for run in (plain, profiled):
        row = run["by_lift"]["squat"]
        assert row["detection"]["n"] == 1 and row["false_alerts_per_clean_rep"]["n"] == run["clean_reps"]
        assert row["detection"]["ci95"][0] <= row["detection"]["rate"] <= row["detection"]["ci95"][1]
    markdown = (out / "evaluation.md").read_text()
    assert "| squat | no profile |" in markdown and "| squat | with profile |" in markdown
