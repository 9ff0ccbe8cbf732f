"""``fit_bundle`` with ``groups`` and ``enrolment`` defaults to what the nested real-squat
evaluation chose (rep Mahalanobis alone, covariance within sets, enrolment baseline 0.75, body
frame when there is a 6-axis IMU); explicit arguments win; without enrolment the earlier
defaults hold; bundles made before load and decide unchanged. Synthetic athletes, no
autoencoder (fast)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.anomaly import fit_bundle, load_bundle
from models.anomaly.api import VALIDATED_ENROLMENT_DEFAULTS
from sensors.simulator import simulate_set
from tests.support.anomaly_data import CHANNELS, RATE, _athletes
from tests.support.bundles import DEFAULT_BUNDLE

IMU = tuple(f"s0_{a}" for a in ("ax", "ay", "az", "gx", "gy", "gz"))


@pytest.fixture(scope="module")
def data():
    segments, groups = _athletes(np.random.default_rng(3), 3, 16)
    return segments, groups, [i % 16 < 8 for i in range(len(segments))]


def _manifest(path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def _fit(tmp_path, data, channels=CHANNELS, **kwargs):
    segments, groups, enrolment = data
    path = fit_bundle(segments, channels, RATE, tmp_path / "bundle", groups=groups,
                      autoencoder=False, **{"enrolment": enrolment, **kwargs})
    return _manifest(path)


def test_with_enrolment_the_validated_configuration_is_the_default(tmp_path, data):
    m = _fit(tmp_path, data)
    assert m["detectors"]["rep"] == list(VALIDATED_ENROLMENT_DEFAULTS["rep_detectors"])
    assert m["detectors"]["rep_baseline_weight"] == VALIDATED_ENROLMENT_DEFAULTS["enrolment_baseline"] == 0.75
    assert m["calibration"]["rep_calibrated_on"] == "both_directions"
    assert m["rep_features"]["body_frame"] is False      # no 6-axis IMU among these channels


def test_body_frame_is_on_by_default_when_a_6_axis_imu_is_there(tmp_path, data):
    segments, groups, enrolment = data
    rng = np.random.default_rng(5)
    imu = [np.hstack([s, s[:, :2] + 0.01 * rng.normal(size=(len(s), 2))]) for s in segments]
    m = _fit(tmp_path, (imu, groups, enrolment), channels=IMU)
    assert m["rep_features"]["body_frame"] is True
    off = _fit(tmp_path / "off", (imu, groups, enrolment), channels=IMU, body_frame=False)
    assert off["rep_features"]["body_frame"] is False


@pytest.mark.parametrize("kwargs, rep, weight", [
    ({"rep_detectors": ["rep_iforest", "rep_ocsvm", "rep_extent"]}, ["rep_iforest", "rep_ocsvm", "rep_extent"], 0.0),
    ({"enrolment_baseline": 0.0}, ["rep_mahalanobis"], 0.0),
    ({"enrolment_baseline": 1.0}, ["rep_mahalanobis"], 1.0),
    ({"enrolment": None}, ["rep_iforest", "rep_ocsvm", "rep_extent"], 0.0),
], ids=["explicit-detectors", "explicit-no-baseline", "explicit-weight", "groups-without-enrolment"])
def test_explicit_arguments_win_and_without_enrolment_the_earlier_defaults_hold(tmp_path, data, kwargs, rep, weight):
    m = _fit(tmp_path, data, **kwargs)
    assert m["detectors"]["rep"] == rep
    assert m["detectors"].get("rep_baseline_weight", 0.0) == weight


def test_the_shipped_bundle_made_before_loads_and_decides_unchanged():
    """The default bundle was written before these defaults: it keeps its own configuration
    (no groups, rep Mahalanobis, no baseline, no body frame) and decides the same rep the same
    way whatever fit_bundle's defaults are now."""
    m = _manifest(DEFAULT_BUNDLE)
    model = load_bundle(DEFAULT_BUNDLE)
    assert m["detectors"]["rep"] == ["rep_mahalanobis"] and not m["athlete_centring"]
    assert m["rep_features"]["body_frame"] is False
    sset = simulate_set("squat", reps=3, seed=4)
    from models.analysis import analyze_frames
    from models.anomaly.segments import rep_decisions

    reps = analyze_frames(sset.frames, "squat").reps
    decided = [d.fused_p for d in rep_decisions(model, sset.frames, reps)]
    # computed with main's code (f2c316e) before the defaults changed: 81/109, 77/109, 74/109
    # of the 108 held-out calibration reps (+1 smoothing) score at or above these reps
    assert decided == pytest.approx([81 / 109, 77 / 109, 74 / 109], abs=1e-12)
