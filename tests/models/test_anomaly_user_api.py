"""The public fit/score API as a new user meets it: the docs' example runs as written, and the
rough edges of issue 14 give the documented behaviour. Public names from ``models.anomaly`` only."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from models.anomaly import RepDecisions, TrainingDataError, fit_bundle, load_bundle
from tests.support.anomaly_data import CHANNELS, RATE, _athletes, _rep

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_the_documented_example_runs_and_separates_faults(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    example = next(b for b in blocks if "decide_segments(clean + partial + wobbly" in b)
    exec(compile(example, str(DOC), "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out
    clean = int(re.search(r"flagged clean reps: (\d+) of 10", out).group(1))
    faulty = int(re.search(r"flagged faulty reps: (\d+) of 10", out).group(1))
    assert faulty >= 8 and clean <= 2, out


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    rng = np.random.default_rng(3)
    segments, groups = _athletes(rng, 3)
    path = fit_bundle(segments, CHANNELS, RATE, tmp_path_factory.mktemp("b") / "bundle", groups=groups,
                      autoencoder=False)
    model = load_bundle(path)
    offset = rng.normal(0.0, 0.5, len(CHANNELS))
    profile = model.enrol([_rep(rng, offset=offset) for _ in range(10)])
    return model, profile, offset, rng


def test_batch_decisions_match_single_decisions_and_carry_every_detector(enrolled):
    model, profile, offset, rng = enrolled
    reps = [_rep(rng, offset=offset) for _ in range(4)] + [_rep(rng, depth=0.4, offset=offset) for _ in range(4)]
    reps[1] = reps[1].copy()
    reps[1][20:30, 0] = np.nan
    batch = model.decide_segments(reps, profile)
    assert isinstance(batch, RepDecisions) and len(batch) == 8
    assert list(batch.scored) == [True, False] + [True] * 6
    assert np.isnan(batch.scores[1]) and not batch.anomalous[1]
    for i in (0, 2, 5):
        single = model.rep_decision(reps[i], profile)
        assert batch.scores[i] == pytest.approx(single.score)
        assert batch.anomalous[i] == single.anomalous
        for name, column in batch.detector_scores.items():
            assert column[i] == pytest.approx(-np.log10(single.p_values[name]))
    assert set(batch.detector_scores) == set(model.rep_calibration.detectors)
    assert batch.anomalous[4:].all() and not batch.anomalous[[0, 2, 3]].any()
    np.testing.assert_array_equal(model.score_segments(reps, profile), batch.scores)


def test_scoring_without_the_profile_after_enrol_says_to_pass_it(enrolled):
    model, _, offset, rng = enrolled
    with pytest.raises(ValueError, match="pass the profile that enrol\\(\\) returned"):
        model.decide_segments([_rep(rng, offset=offset)])


def test_a_fresh_model_says_to_enrol_first(enrolled):
    model, *_ = enrolled
    fresh = load_bundle(model.bundle_dir)
    with pytest.raises(ValueError, match=r"profile = model.enrol\(clean_reps\) first"):
        fresh.score_segments([_rep(np.random.default_rng(0))])


def test_enrol_refuses_fewer_reps_than_the_minimum(enrolled):
    model, _, offset, rng = enrolled
    with pytest.raises(TrainingDataError, match="2 complete clean reps of 2 segments; need at least 3"):
        model.enrol([_rep(rng, offset=offset) for _ in range(2)])
    broken = [_rep(rng, offset=offset) for _ in range(3)]
    broken[0][5, 1] = np.nan
    with pytest.raises(TrainingDataError, match="2 complete clean reps of 3 segments"):
        model.enrol(broken)


def test_fit_bundle_applies_the_enrolment_minimum_to_each_athlete(tmp_path):
    rng = np.random.default_rng(4)
    segments, groups = _athletes(rng, 3)
    enrolment = [i % 16 < 8 for i in range(len(segments))]
    enrolment[16:24] = [True, True] + [False] * 6  # athlete 1 enrols with 2 reps only
    with pytest.raises(TrainingDataError, match="cannot enrol athlete 1: 2 complete clean reps"):
        fit_bundle(segments, CHANNELS, RATE, tmp_path / "b", groups=groups, enrolment=enrolment, autoencoder=False)


def test_one_group_is_refused_and_two_warn(tmp_path):
    rng = np.random.default_rng(5)
    segments, groups = _athletes(rng, 2)
    with pytest.raises(ValueError, match="groups has 1 distinct value"):
        fit_bundle(segments, CHANNELS, RATE, tmp_path / "one", groups=[0] * len(segments), autoencoder=False)
    with pytest.raises(ValueError, match="fold_groups has 1 distinct value"):
        fit_bundle(segments, CHANNELS, RATE, tmp_path / "one_fold", fold_groups=["a"] * len(segments),
                   autoencoder=False)
    with pytest.warns(UserWarning, match="only 2 distinct values"):
        path = fit_bundle(segments, CHANNELS, RATE, tmp_path / "two", fold_groups=groups, autoencoder=False)
    assert load_bundle(path).manifest["calibration"]["method"].startswith("2-fold")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_bundle(segments, CHANNELS, RATE, tmp_path / "three", fold_groups=[i % 3 for i in range(len(segments))],
                   autoencoder=False)


def test_fixed_length_windows_can_leave_duration_unscored(tmp_path):
    rng = np.random.default_rng(6)
    windows = [_rep(rng, n=200) for _ in range(40)]  # 2 s windows cut from a recording: no rep boundaries
    model = load_bundle(fit_bundle(windows, CHANNELS, RATE, tmp_path / "w", autoencoder=False))
    shorter = [_rep(rng, n=150) for _ in range(5)]  # the last window of a recording is shorter
    as_reps = model.decide_segments(shorter)
    as_windows = model.decide_segments(shorter, score_duration=False)
    assert all(d.attribution["features"][0][0] == "duration_s" for d in as_reps.decisions)
    assert all("duration_s" not in dict(d.attribution["features"]) for d in as_windows.decisions)
    assert (as_windows.scores < as_reps.scores).all()
    same_length = model.decide_segments(windows[:5])
    np.testing.assert_allclose(model.decide_segments(windows[:5], score_duration=False).scores, same_length.scores)


def test_rep_detectors_choose_what_the_decision_fuses_and_every_detector_is_reported(tmp_path):
    """The rep decision fuses only the named detectors (here the Mahalanobis distance alone);
    ``raw_scores`` still ranks every rep detector the bundle has."""
    rng = np.random.default_rng(8)
    segments, groups = _athletes(rng, 3)
    path = fit_bundle(segments, CHANNELS, RATE, tmp_path / "m", groups=groups, autoencoder=False,
                      rep_detectors=["rep_mahalanobis"])
    model = load_bundle(path)
    assert model.manifest["detectors"]["rep"] == ["rep_mahalanobis"]
    offset = rng.normal(0.0, 0.5, len(CHANNELS))
    profile = model.enrol([_rep(rng, offset=offset) for _ in range(10)])
    clean = [_rep(rng, offset=offset) for _ in range(6)]
    partial = [_rep(rng, depth=0.5, offset=offset) for _ in range(6)]
    batch = model.decide_segments(clean + partial, profile)
    assert set(batch.detector_scores) == {"rep_mahalanobis"}
    assert set(batch.raw_scores) == {"rep_iforest", "rep_ocsvm", "rep_extent", "rep_mahalanobis"}
    assert set(batch.decisions[0].p_values) == {"rep_mahalanobis"}
    distance = batch.raw_scores["rep_mahalanobis"]
    assert distance[6:].min() > distance[:6].max()
    assert batch.anomalous[6:].all() and batch.anomalous[:6].sum() <= 1


@pytest.mark.parametrize("names, message", [
    (["rep_bogus"], "unknown: \\['rep_bogus'\\]"),
    ([], "at least one"),
    (["rep_ocsvm", "rep_ocsvm"], "at most once"),
    (["autoencoder_mean"], "autoencoder_mean but autoencoder=False"),
])
def test_rep_detectors_refuses_what_cannot_be_fused(tmp_path, names, message):
    segments, groups = _athletes(np.random.default_rng(9), 3)
    with pytest.raises(ValueError, match=message):
        fit_bundle(segments, CHANNELS, RATE, tmp_path / "x", groups=groups, autoencoder=False, rep_detectors=names)
    assert not (tmp_path / "x").exists()


def test_with_enrolment_the_rep_covariance_is_fitted_within_each_athletes_sets(enrolled, tmp_path):
    """``enrolment`` tells each athlete's sets apart: the rep distance's covariance is then
    rep-to-rep variation within a set (location 0), not the shifts between sets."""
    rng = np.random.default_rng(4)
    segments, groups = _athletes(rng, 3)
    first_half = [i % 16 < 8 for i in range(len(segments))]
    within = load_bundle(fit_bundle(segments, CHANNELS, RATE, tmp_path / "b", groups=groups, enrolment=first_half,
                                    autoencoder=False)).components.rep_mahalanobis
    np.testing.assert_array_equal(within.location, np.zeros_like(within.location))
    pooled = enrolled[0].components.rep_mahalanobis  # groups without enrolment: all clean reps
    assert np.abs(pooled.location).max() > 1e-6
