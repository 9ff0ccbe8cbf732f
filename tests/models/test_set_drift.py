"""The technique-drift cue's set statistic (trimmed Fisher) and the threshold a bundle
calibrates for itself from its clean calibration reps (models.set_drift,
models.anomaly.set_calibration, fit_bundle's ``calibration.set_drift``)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.anomaly import BundleError, fit_bundle, load_bundle
from models.anomaly.bundle import write_manifest
from models.anomaly.synthetic import DEFAULT_CHANNELS, synthetic_reps
from models.set_drift import (
    DEFAULT_SET_ALPHA,
    SetDriftEvidence,
    bundle_set_alpha,
    calibrate_from_reps,
    first_cue,
    running_set_p,
)

SCORES = st.one_of(st.floats(min_value=0.0, max_value=400.0), st.just(float("nan")),
                   st.just(float("inf")), st.just(float("-inf")), st.floats(min_value=-5.0, max_value=0.0))
CLEAN = st.floats(min_value=0.0, max_value=0.7)   # p >= 0.2


@settings(max_examples=200, deadline=None)
@given(st.lists(SCORES, max_size=16))
def test_the_statistic_is_a_probability_for_any_scores_nan_and_infinite_included(scores):
    p = running_set_p(scores)
    assert p.shape == (len(scores),)
    assert np.isfinite(p).all() and ((0.0 <= p) & (p <= 1.0)).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=1, max_size=12),
       st.data())
def test_more_evidence_on_any_rep_never_raises_the_combined_p(scores, data):
    k = data.draw(st.integers(0, len(scores) - 1))
    more = list(scores)
    more[k] += data.draw(st.floats(min_value=0.0, max_value=20.0))
    assert (running_set_p(more) <= running_set_p(scores) + 1e-12).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=2, max_size=12), st.randoms())
def test_the_set_s_final_value_does_not_depend_on_rep_order(scores, random):
    shuffled = list(scores)
    random.shuffle(shuffled)
    assert running_set_p(shuffled)[-1] == pytest.approx(running_set_p(scores)[-1], rel=1e-9, abs=1e-300)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=20.0), max_size=10), st.data())
def test_an_unscored_rep_adds_neither_evidence_nor_a_rep(scores, data):
    at = data.draw(st.integers(0, len(scores)))
    with_gap = scores[:at] + [float("nan")] + scores[at:]
    p, q = running_set_p(scores), running_set_p(with_gap)
    assert np.allclose(np.delete(q, at), p, rtol=1e-12, atol=0.0)
    assert q[at] == (p[at - 1] if at else 1.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(CLEAN, min_size=1, max_size=15), st.data(),
       st.floats(min_value=3.0, max_value=float("inf")))
def test_one_extreme_rep_among_clean_ones_never_cues(clean, data, extreme):
    """However unusual one rep is (the within-rep cue's business), the rest of the set decides."""
    at = data.draw(st.integers(0, len(clean)))
    scores = clean[:at] + [extreme] + clean[at:]
    assert first_cue(scores, 1e-3) is None
    evidence = SetDriftEvidence(alpha=1e-3)
    assert all(evidence.add(rep, s, None) is None for rep, s in enumerate(scores, 1))


@settings(max_examples=100, deadline=None)
@given(st.lists(CLEAN, max_size=4), st.floats(min_value=8.0, max_value=12.0))
def test_two_or_more_consistently_small_p_values_cue(clean, small):
    """After up to four clean reps: two reps at p <= 1e-8 cue at the second (one does not);
    a drift of reps at p = 1e-3 (each alone below any within-rep alarm) cues by its fourth."""
    assert first_cue(clean + [small], 1e-3) is None
    assert first_cue(clean + [small, small], 1e-3) == len(clean) + 2
    assert first_cue(clean + [3.0], 1e-3) is None
    assert first_cue(clean + [3.0] * 4, 1e-3) is not None


def test_the_chi_square_law_is_conservative_for_clean_independent_reps():
    """Trimmed, the chi-square tail probability is at least the exact one: uniform p-values
    reach it at most at the nominal rate."""
    rng = np.random.default_rng(1)
    p = running_set_p(-np.log10(rng.uniform(size=8)))  # warm the import
    finals = np.array([running_set_p(s)[-1] for s in -np.log10(rng.uniform(size=(20000, 8)))])
    for level in (0.01, 0.05, 0.2):
        assert np.mean(finals <= level) <= level
    assert p.shape == (8,)


def _groups(rng, n_groups, reps, spread):
    """Clean reps' scores per athlete: uniform p-values shrunk by the athlete's own offset."""
    offsets = np.abs(rng.normal(0.0, spread, n_groups))
    return [-np.log10(np.clip(rng.uniform(size=reps) * np.exp(-o), 1e-12, 1.0)) for o in offsets]


def test_pseudo_sets_within_athletes_hold_the_rate_on_new_athletes_sets():
    """Calibrated on 100 athletes' clean reps (each with their own offset), new athletes' clean
    sets cue at the nominal rate on average over draws of the calibration athletes; one draw's
    threshold is noisy (the rate rests on the few most offset athletes, docs/models.md)."""
    rng = np.random.default_rng(7)
    fresh = np.array([running_set_p(s).min() for s in _groups(rng, 4000, 8, 0.6)])
    achieved = []
    for draw in range(6):
        threshold = calibrate_from_reps(_groups(rng, 100, 20, 0.6), 0.05, set_reps=8, seed=draw)
        achieved.append(np.mean(fresh <= threshold.alpha))
    assert (threshold.groups, threshold.reps, threshold.set_reps) == (100, 2000, 8)
    assert threshold.pseudo_sets == 2000 and "pseudo-sets" in threshold.method
    assert 0.02 <= np.mean(achieved) <= 0.05 + 0.01
    # pooling the athletes' reps loses their offsets: the threshold is looser, the rate higher
    pooled = calibrate_from_reps([np.concatenate(_groups(rng, 100, 20, 0.6))], 0.05, set_reps=8)
    assert np.mean(fresh <= pooled.alpha) > 0.05 + 0.01


def test_calibration_refuses_groups_without_two_scored_reps():
    with pytest.raises(ValueError, match="no calibration group has two scored reps"):
        calibrate_from_reps([[1.0], [np.nan, 2.0], []], 0.02)


def test_a_manifest_without_the_field_uses_the_default():
    assert bundle_set_alpha({"calibration": {}}) == DEFAULT_SET_ALPHA
    assert bundle_set_alpha({"calibration": {"set_drift": {"alpha": 3e-4}}}) == 3e-4


@pytest.fixture(scope="module")
def athletes_bundle(tmp_path_factory):
    reps, groups, enrolment = [], [], []
    for a, offset in enumerate((0.0, 2.0, -1.5, 1.0)):
        for k, rep in enumerate(synthetic_reps(16, seed=30 + a)):
            reps.append(rep + offset)
            groups.append(a)
            enrolment.append(k < 8)
    path = fit_bundle(reps, DEFAULT_CHANNELS, 100.0, tmp_path_factory.mktemp("b") / "bundle", groups=groups,
                      enrolment=enrolment, autoencoder=False, rep_detectors=["rep_mahalanobis"],
                      enrolment_baseline=0.0, set_false_cue_rate=0.05)
    return path


def test_fit_bundle_calibrates_the_drift_threshold_and_the_box_model_carries_it(athletes_bundle):
    model = load_bundle(athletes_bundle)
    section = model.manifest["calibration"]["set_drift"]
    assert section["false_cue_rate"] == 0.05 and section["statistic"] == "trimmed_fisher"
    assert section["groups"] == 4 and section["reps"] == 4 * 8        # each athlete's later reps
    assert "one group per athlete" in section["method"]
    assert 0.0 < section["alpha"] < 0.05
    assert model.set_drift_alpha == section["alpha"] != DEFAULT_SET_ALPHA


def test_an_old_bundle_without_the_field_loads_with_the_default(athletes_bundle, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(athletes_bundle, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["calibration"]["set_drift"]
    write_manifest(old, manifest, None)
    assert load_bundle(old).set_drift_alpha == DEFAULT_SET_ALPHA


@pytest.mark.parametrize("alpha", [0.0, -1e-3, 1.0, "1e-4", None, True])
def test_a_bad_threshold_in_the_manifest_is_refused_by_name(athletes_bundle, tmp_path, alpha):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(athletes_bundle, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["calibration"]["set_drift"]["alpha"] = alpha
    write_manifest(bad, manifest, None)
    with pytest.raises(BundleError, match="calibration.set_drift.alpha"):
        load_bundle(bad)


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=5),
                        st.lists(st.floats(0, 1), max_size=2), st.dictionaries(st.text(max_size=3), st.floats(0, 1),
                                                                               max_size=2))


@settings(max_examples=40, deadline=None)
@given(field=st.sampled_from(["alpha", "false_cue_rate"]), value=JSON_VALUES)
def test_any_value_of_the_threshold_fields_loads_as_given_or_is_refused_by_name(athletes_bundle, tmp_path_factory,
                                                                                field, value):
    import shutil

    bundle = tmp_path_factory.mktemp("m") / "b"
    shutil.copytree(athletes_bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["calibration"]["set_drift"][field] = value
    write_manifest(bundle, manifest, None)
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < value <= 1.0 - 1e-12
    if valid:
        model = load_bundle(bundle)
        expected = value if field == "alpha" else manifest["calibration"]["set_drift"]["alpha"]
        assert model.set_drift_alpha == expected
    else:
        with pytest.raises(BundleError, match=f"calibration.set_drift.{field}"):
            load_bundle(bundle)
    # the unchanged bundle still loads after a refused one
    assert load_bundle(athletes_bundle).set_drift_alpha > 0.0


def test_fit_bundle_refuses_a_false_cue_rate_outside_zero_one(tmp_path):
    with pytest.raises(ValueError, match="set_false_cue_rate"):
        fit_bundle(synthetic_reps(12, seed=1), DEFAULT_CHANNELS, 100.0, tmp_path / "b", autoencoder=False,
                   set_false_cue_rate=1.0)
