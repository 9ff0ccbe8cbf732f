"""Compiled detectors, windowing, features and the tail-probability fusion."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf
from sklearn.ensemble import IsolationForest

from models.anomaly.detectors import (
    Z_CLIP,
    CompiledIsolationForest,
    CompiledMahalanobis,
    CompiledOneClassSVM,
    fit_isolation_forest,
    fit_one_class_svm,
    fit_shrunk_covariance,
)
from models.anomaly.features import (
    rep_feature_names,
    rep_features,
    window_feature_names,
    window_features,
)
from models.anomaly.fusion import (
    FusionCalibration,
    TailCalibration,
    fisher_statistic,
    leave_one_out_p_values,
)
from models.anomaly.scaler import MinMaxParams
from models.anomaly.windows import resample_steps, screen_windows, sliding_windows


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return rng.normal(size=(300, 12)), rng.normal(size=(80, 12)) * 2.0


def test_compiled_isolation_forest_equals_sklearn_exactly(data):
    train, test = data
    forest = fit_isolation_forest(train, seed=3)
    compiled = CompiledIsolationForest(forest)
    assert np.array_equal(compiled.anomaly_score(test), -forest.score_samples(test))
    assert np.array_equal(compiled.anomaly_score(test[5]), -forest.score_samples(test[5:6]))


def test_compiled_isolation_forest_with_feature_subsampling_and_small_samples(data):
    train, test = data
    forest = IsolationForest(n_estimators=30, max_features=0.5, max_samples=40, random_state=1).fit(train)
    assert np.array_equal(CompiledIsolationForest(forest).anomaly_score(test), -forest.score_samples(test))


def test_compiled_one_class_svm_matches_sklearn(data):
    train, test = data
    svm = fit_one_class_svm(train)
    np.testing.assert_allclose(CompiledOneClassSVM(svm).anomaly_score(test), -svm.score_samples(test), rtol=0, atol=1e-9)


def test_compiled_mahalanobis_matches_sklearn_on_clipped_z(data):
    train, test = data
    test = test.copy()
    test[0, 3] = 40.0  # clipped to Z_CLIP like the fit data
    covariance = fit_shrunk_covariance(train)
    compiled = CompiledMahalanobis(covariance)
    expected = np.sqrt(covariance.mahalanobis(np.clip(test, -Z_CLIP, Z_CLIP)))
    np.testing.assert_allclose(compiled.anomaly_score(test), expected, rtol=1e-9)
    assert compiled.anomaly_score(test).argmax() in np.argsort(np.abs(np.clip(test, -Z_CLIP, Z_CLIP)).sum(1))[-20:]


def test_mahalanobis_sees_correlated_features_break_apart():
    """Two features that always move together: a rep where only one moves is far away to the
    Mahalanobis distance although each feature alone is inside its clean range."""
    rng = np.random.default_rng(1)
    common = rng.normal(size=(400, 1))
    clean = np.hstack([common, common + 0.05 * rng.normal(size=(400, 1)), rng.normal(size=(400, 3))])
    compiled = CompiledMahalanobis(fit_shrunk_covariance(clean))
    together, apart = np.array([[1.5, 1.5, 0, 0, 0]]), np.array([[1.5, -1.5, 0, 0, 0]])
    assert compiled.anomaly_score(apart)[0] > 3 * compiled.anomaly_score(together)[0]


def test_covariance_within_occasions_ignores_shifts_between_them():
    """Two sets whose clean reps are shifted along feature 0: fitted within sets, the shift is
    not rep-to-rep variation, so a rep that moves that far along feature 0 *within* a set is
    far; fitted over both sets, the shift inflates feature 0's variance and the rep looks near."""
    rng = np.random.default_rng(2)
    first, second = rng.normal(size=(60, 4)), rng.normal(size=(60, 4))
    second[:, 0] += 4.0
    clean = np.vstack([first, second])
    occasions = [("a", 1)] * 60 + [("a", 2)] * 60
    within = fit_shrunk_covariance(clean, occasions)
    pooled = fit_shrunk_covariance(clean)
    np.testing.assert_array_equal(within.location_, np.zeros(4))
    residuals = np.vstack([np.clip(part, -Z_CLIP, Z_CLIP) - np.median(np.clip(part, -Z_CLIP, Z_CLIP), axis=0)
                           for part in (first, second)])
    np.testing.assert_allclose(within.covariance_, LedoitWolf(assume_centered=True).fit(residuals).covariance_)
    rep = np.array([[4.0, 0.0, 0.0, 0.0]])
    assert CompiledMahalanobis(within).anomaly_score(rep)[0] > 2 * CompiledMahalanobis(pooled).anomaly_score(rep)[0]


def test_covariance_within_occasions_drops_single_reps_and_falls_back():
    rng = np.random.default_rng(3)
    clean = rng.normal(size=(41, 3))
    occasions = [1] * 20 + [2] * 20 + [3]  # occasion 3 has one rep: no variation to show
    with_single = fit_shrunk_covariance(clean, occasions)
    without = fit_shrunk_covariance(clean[:40], occasions[:40])
    np.testing.assert_allclose(with_single.covariance_, without.covariance_)
    alone = fit_shrunk_covariance(clean[:3], [1, 2, 3])  # nothing within any occasion
    np.testing.assert_allclose(alone.covariance_, fit_shrunk_covariance(clean[:3]).covariance_)


def test_sliding_windows_fixed_length_and_hop():
    segment = np.arange(50, dtype=float)[:, None] * np.ones((1, 2))
    windows = sliding_windows(segment, window_len=10, hop=5)
    assert windows.shape == (9, 10, 2)
    assert windows[1, 0, 0] == 5 and windows[-1, -1, 0] == 49
    assert sliding_windows(segment[:8], 10, 5).shape == (0, 10, 2)


def test_screen_skips_nan_and_saturated_windows():
    windows = np.zeros((4, 10, 2))
    windows[1, 3, 0] = np.nan
    windows[2, 5, 1] = 16.0
    screen = screen_windows(windows, np.array([np.inf, 16.0]))
    assert screen.usable.tolist() == [True, False, False, True]
    assert (screen.skipped.nonfinite, screen.skipped.saturated) == (1, 1)


def test_resample_keeps_endpoints_and_linear_ramps():
    ramp = np.linspace(0.0, 1.0, 111)[None, :, None]
    resampled = resample_steps(ramp, 32)
    np.testing.assert_allclose(resampled[0, :, 0], np.linspace(0.0, 1.0, 32), atol=1e-12)


def test_features_follow_their_names():
    rng = np.random.default_rng(0)
    segment = rng.normal(size=(200, 3))
    names = rep_feature_names(("a", "b", "c"))
    values = dict(zip(names, rep_features(segment, 100.0)))
    assert values["b_range"] == pytest.approx(np.ptp(segment[:, 1]))
    assert values["duration_s"] == pytest.approx(2.0)
    w_names = window_feature_names(("a", "b", "c"))
    w_values = dict(zip(w_names, window_features(segment[None], 100.0)[0]))
    assert w_values["c_std"] == pytest.approx(segment[:, 2].std())
    assert w_values["a_rms_diff"] == pytest.approx(np.sqrt(np.mean(np.diff(segment[:, 0]) ** 2)) * 100.0)


def test_minmax_params_round_trip_and_match_sklearn():
    rng = np.random.default_rng(1)
    train = rng.uniform(-5, 5, size=(100, 4))
    params = MinMaxParams.fit(train)
    again = MinMaxParams.from_manifest(params.to_manifest(), 4, "x")
    np.testing.assert_allclose(again.transform(train).min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(again.transform(train).max(axis=0), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="expected 5"):
        MinMaxParams.from_manifest(params.to_manifest(), 5, "x")


def test_tail_probability_is_monotone_and_extends_beyond_calibration():
    clean = np.random.default_rng(2).normal(size=200)
    calibration = TailCalibration.fit(clean)
    grid = np.linspace(-4, 12, 400)
    p = calibration.survival(grid)
    assert np.all(np.diff(p) <= 1e-15)
    assert p[0] == pytest.approx(1.0)
    assert calibration.survival(np.array([clean.max() + 3.0]))[0] < 1.0 / (len(clean) + 1)


def test_fused_false_alarm_rate_holds_on_new_clean_data():
    """Conformal property: exchangeable clean scores alarm at about the stated rate."""
    rng = np.random.default_rng(3)

    def clean(n):
        shared = rng.normal(size=(n, 1))
        return np.hstack([shared + rng.normal(size=(n, 1)), shared + rng.normal(size=(n, 1)), rng.exponential(size=(n, 1))])

    fusion = FusionCalibration.fit(("a", "b", "c"), clean(400))
    _, fused = fusion.fused_p(clean(4000))
    alarm_rate = float(np.mean(fused <= 0.05))
    assert 0.025 < alarm_rate < 0.08
    shifted = clean(500) + np.array([2.5, 2.5, 0.0])
    assert np.mean(fusion.fused_p(shifted)[1] <= 0.05) > 0.5


def test_fisher_statistic_and_leave_one_out():
    assert fisher_statistic(np.array([[1.0, 1.0]]))[0] == pytest.approx(0.0)
    assert fisher_statistic(np.array([[0.1, 0.5]]))[0] == pytest.approx(-2 * (np.log(0.1) + np.log(0.5)))
    scores = np.array([[1.0], [2.0], [3.0]])
    np.testing.assert_allclose(leave_one_out_p_values(scores)[:, 0], [3 / 3, 2 / 3, 1 / 3])
