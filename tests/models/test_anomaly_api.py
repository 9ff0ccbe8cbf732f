"""Public API on synthetic reps: fit (autoencoder off, so no TensorFlow), load, score, decide."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.anomaly import TrainingDataError, fit_bundle, load_bundle
from models.anomaly.synthetic import DEFAULT_CHANNELS, synthetic_reps
from tests.support.anomaly_data import assert_scoring_without_tensorflow

RATE = 100.0


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = fit_bundle(
        synthetic_reps(30, seed=0), DEFAULT_CHANNELS, RATE, tmp_path_factory.mktemp("b") / "bundle",
        autoencoder=False, saturation_limits={"ax": 50.0},
    )
    return load_bundle(path, expect_channels=DEFAULT_CHANNELS, expect_rate=RATE)


def test_faulty_reps_score_higher_than_clean(model):
    clean = model.score_segments(synthetic_reps(20, seed=1))
    partial = model.score_segments(synthetic_reps(20, seed=2, fault="partial"))
    wobble = model.score_segments(synthetic_reps(20, seed=3, fault="wobble"))
    assert clean.shape == (20,)
    assert np.median(partial) > np.max(clean) or np.mean(partial > np.quantile(clean, 0.9)) > 0.8
    assert np.mean(wobble > np.quantile(clean, 0.9)) > 0.8


def test_rep_decision_alarms_at_the_calibrated_rate_and_attributes(model):
    clean = [model.rep_decision(r) for r in synthetic_reps(40, seed=4)]
    faulty = [model.rep_decision(r) for r in synthetic_reps(20, seed=5, fault="wobble")]
    assert np.mean([d.anomalous for d in clean]) <= 0.15
    assert np.mean([d.anomalous for d in faulty]) >= 0.8
    top_feature = faulty[0].attribution["features"][0][0]
    assert top_feature.startswith("ax_"), "wobble is injected on channel ax"
    assert set(faulty[0].p_values) == set(model.rep_calibration.detectors)
    assert faulty[0].score == pytest.approx(-np.log10(faulty[0].fused_p))


def test_score_window_decides_one_window(model):
    rep = synthetic_reps(1, seed=6, fault="wobble")[0]
    decision = model.score_window(rep[: model.window_len])
    assert decision.scored and set(decision.p_values) == {"iforest", "ocsvm"}
    with pytest.raises(ValueError, match="samples"):
        model.score_window(rep[: model.window_len - 1])


def test_bad_windows_are_skipped_counted_and_never_normal(model):
    reps = synthetic_reps(4, seed=7)
    reps[3][-2, 1] = np.nan  # in the tail that no full window covers
    reps[0][50:60, 2] = np.nan
    reps[1][80, 0] = 55.0
    decisions = [model.rep_decision(r) for r in reps]
    assert not decisions[0].scored and decisions[0].windows_skipped["nonfinite"] > 0
    assert not decisions[1].scored and decisions[1].windows_skipped["saturated"] > 0
    assert decisions[2].scored
    assert not decisions[3].scored
    scores = model.score_segments(reps)
    assert np.isnan(scores[[0, 1, 3]]).all() and np.isfinite(scores[2])
    window = reps[0][40 : 40 + model.window_len]
    assert model.score_window(window).skip_reason == "window has nonfinite values"


def test_saturation_limits_stored_as_strict_json(model):
    def refuse(constant):
        raise AssertionError(f"manifest holds non-JSON constant {constant}")

    manifest = json.loads((model.bundle_dir / "manifest.json").read_text(), parse_constant=refuse)
    assert manifest["saturation_limits"] == [50.0] + [None] * (len(DEFAULT_CHANNELS) - 1)


def test_too_little_training_data_is_refused_with_the_numbers(tmp_path):
    with pytest.raises(TrainingDataError, match=r"need at least \d+ windows and \d+ reps"):
        fit_bundle(synthetic_reps(3, seed=0), DEFAULT_CHANNELS, RATE, tmp_path / "b", autoencoder=False)


def test_nan_training_windows_do_not_count_as_clean(tmp_path):
    reps = synthetic_reps(10, seed=0)
    for rep in reps:
        rep[::20, 0] = np.nan
    with pytest.raises(TrainingDataError, match="0 usable windows"):
        fit_bundle(reps, DEFAULT_CHANNELS, RATE, tmp_path / "b", autoencoder=False)


def test_wrong_channel_count_is_named(model):
    with pytest.raises(ValueError, match=r"expected \(samples, 6\)"):
        model.score_segments([np.zeros((200, 5))])


def test_athlete_centring_needs_enrolment_and_removes_offsets(tmp_path):
    athletes = []
    for a, offset in enumerate((0.0, 3.0, -2.0)):
        athletes += [(rep + offset, a) for rep in synthetic_reps(8, seed=10 + a)]
    path = fit_bundle([r for r, _ in athletes], DEFAULT_CHANNELS, RATE, tmp_path / "b",
                      groups=[a for _, a in athletes], autoencoder=False)
    model = load_bundle(path)
    new_athlete = [rep + 5.0 for rep in synthetic_reps(16, seed=20)]
    with pytest.raises(ValueError, match="enrol"):
        model.score_segments(new_athlete[8:])
    profile = model.enrol(new_athlete[:8])
    np.testing.assert_allclose(profile.channel_offset.mean(), 5.0 + np.mean([r.mean() for r in synthetic_reps(8, seed=20)]), atol=0.2)
    clean = model.score_segments(new_athlete[8:], profile)
    faulty = model.score_segments([r + 5.0 for r in synthetic_reps(8, seed=21, fault="partial")], profile)
    assert np.median(faulty) > np.max(clean)
    assert model.manifest["calibration"]["method"].startswith("3-fold")
    assert "athlete" in model.manifest["calibration"]["method"]


def test_scoring_path_never_imports_tensorflow(model):
    assert_scoring_without_tensorflow(model.bundle_dir, len(DEFAULT_CHANNELS))
