"""Rep decisions calibrated on held-out sets scored by the final model (split conformal)."""
from __future__ import annotations

import json

import numpy as np

from liftguard.cli import main
from models.anomaly import load_bundle
from models.anomaly.split_calibration import (
    MIN_HELD_OUT_REPS,
    leave_one_set_out_flags,
    stricter_set_threshold,
    usable,
)

DETECTORS = ("rep_mahalanobis",)


def test_usable_needs_two_sets_and_enough_reps():
    assert not usable([np.zeros((30, 1))])
    assert not usable([np.zeros((5, 1)), np.zeros((5, 1))])
    assert usable([np.zeros((MIN_HELD_OUT_REPS // 2, 1)), np.zeros((MIN_HELD_OUT_REPS - MIN_HELD_OUT_REPS // 2, 1))])


def test_leave_one_set_out_holds_the_rate_and_flags_a_set_that_is_not_like_the_others():
    rng = np.random.default_rng(0)
    alike = [rng.normal(size=(40, 1)) for _ in range(10)]
    flags = leave_one_set_out_flags(alike, DETECTORS, 0.05)
    assert flags.size == 400 and 0.01 <= flags.mean() <= 0.10
    shifted = leave_one_set_out_flags(alike[:9] + [alike[9] + 6.0], DETECTORS, 0.05)
    assert shifted[-40:].all() and shifted[:360].mean() <= 0.10


def _train(tmp_path, held_out_sets: int):
    out = tmp_path / f"b{held_out_sets}"
    assert main(["train", "--sim", "3", "--held-out-sim", str(held_out_sets), "--lift", "squat", "--no-autoencoder",
                 "--rep-detectors", "rep_mahalanobis", "--false-alarm-rate", "0.05", "--out", str(out)]) == 0
    return load_bundle(out), json.loads((out / "training_report.json").read_text())


def test_train_calibrates_reps_on_the_held_out_sets_when_they_are_enough(tmp_path):
    model, report = _train(tmp_path, 4)
    calibration = model.manifest["calibration"]
    held = report["held_out"]
    assert calibration["rep_calibrated_on"] == "held_out_sets"
    assert calibration["rep_samples"] == held["reps_scored"] == model.rep_calibration.fused.scores.size >= MIN_HELD_OUT_REPS
    assert "held-out sets" in report["rep_calibration"]
    assert held["rep_flags"]["n"] == held["reps_scored"]
    # the window calibration is the out-of-fold one, untouched
    assert model.window_calibration.fused.scores.size == calibration["window_samples"]
    # the drift-cue threshold follows the rep calibration: the held-out sets, one group each
    drift = calibration["set_drift"]
    assert drift["groups"] == 4 and drift["reps"] == held["reps_scored"]
    assert drift["alpha"] == min(drift["held_out_alpha"], drift["out_of_fold_alpha"]) == model.set_drift_alpha
    assert "held-out sets" in drift["method"] or "the stricter of two calibrations" in drift["method"]
    assert report["set_drift"] == drift


def test_the_drift_threshold_is_the_stricter_of_the_held_out_and_out_of_fold_ones():
    held = {"alpha": 1e-2, "method": "held-out sets", "groups": 18}
    assert stricter_set_threshold(held, {"alpha": 1e-4, "method": "out of fold"}) == {
        "alpha": 1e-4, "method": "the stricter of two calibrations, here the out-of-fold one: out of fold",
        "groups": 18, "held_out_alpha": 1e-2, "out_of_fold_alpha": 1e-4}
    assert stricter_set_threshold(held, {"alpha": 0.5})["alpha"] == 1e-2
    assert stricter_set_threshold(held, {}) == dict(held, held_out_alpha=1e-2)


def test_too_few_held_out_reps_keep_the_out_of_fold_calibration(tmp_path):
    model, report = _train(tmp_path, 1)
    assert "rep_calibrated_on" not in model.manifest["calibration"]
    assert "out-of-fold" in model.manifest["calibration"]["set_drift"]["method"]
    assert report["rep_calibration"].startswith("out of fold")
    assert model.rep_calibration.fused.scores.size == model.manifest["calibration"]["rep_samples"]
