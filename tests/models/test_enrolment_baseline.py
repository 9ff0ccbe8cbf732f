"""The enrolment baseline (``fit_bundle(enrolment_baseline=w)``): the rep Mahalanobis distance
is scored beyond ``w`` times the athlete's typical leave-one-out enrolment distance, measured by
``enrol()``; the rep decision is calibrated in both directions; the weight and the baseline
survive the manifest, the profile dict and the athlete overlay, and bad values are refused
naming the field. Synthetic athletes as in ``test_anomaly_user_api`` (no autoencoder: fast)."""
from __future__ import annotations

import dataclasses
import json
import math
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.bundles.errors import ModelStoreError
from edge_agent.bundles.model_store import install_bundle
from models.anomaly import AthleteProfile, BundleError, fit_bundle, load_bundle
from models.anomaly.bundle import MANIFEST, sha256_file
from models.anomaly.enrolment_baseline import baseline_distance, leave_one_out_features
from models.anomaly.errors import OverlayError
from models.anomaly.overlay import OVERLAY_FILE, load_overlay, make_overlay, save_overlay
from models.anomaly.pipeline import compute_profile, prepare_segment
from models.anomaly.realtime import update_manifest
from tests.support.anomaly_data import CHANNELS, RATE, _athletes, _rep
from tests.support.bundles import BOX, DEFAULT_BUNDLE, set_field

WEIGHT = 0.5
REPS_EACH = 16
ENROL_EACH = 8


def _enrolment(n_segments: int) -> list[bool]:
    """The first ``ENROL_EACH`` reps of each athlete enrol them; the rest are later reps."""
    return [i % REPS_EACH < ENROL_EACH for i in range(n_segments)]


def _variable_rep(rng, offset):
    """A clean rep of an athlete whose depth and signal vary far more from rep to rep."""
    rep = _rep(rng, depth=rng.uniform(0.8, 1.2), offset=offset)
    return rep + 0.08 * rng.normal(size=rep.shape)


@pytest.fixture(scope="module")
def data():
    segments, groups = _athletes(np.random.default_rng(11), 3, REPS_EACH)
    return segments, groups, _enrolment(len(segments))


def _fit(data, path, weight):
    segments, groups, enrolment = data
    return load_bundle(fit_bundle(segments, CHANNELS, RATE, path, groups=groups, enrolment=enrolment,
                                  autoencoder=False, rep_detectors=("rep_mahalanobis",), enrolment_baseline=weight))


@pytest.fixture(scope="module")
def weighted(data, tmp_path_factory):
    # a numpy scalar is a number like any other
    return _fit(data, tmp_path_factory.mktemp("weighted") / "bundle", np.float32(WEIGHT))


@pytest.fixture(scope="module")
def plain(data, tmp_path_factory):
    return _fit(data, tmp_path_factory.mktemp("plain") / "bundle", 0.0)


@pytest.fixture(scope="module")
def athlete():
    """A new athlete: ten clean enrolment reps, and a rng/offset for their later reps."""
    rng = np.random.default_rng(12)
    offset = rng.normal(0.0, 0.5, len(CHANNELS))
    return [_rep(rng, offset=offset) for _ in range(10)], offset, rng


# ---- fit_bundle: the manifest and the two-direction calibration -----------------------------

def test_the_manifest_records_the_weight_and_both_directions(weighted, plain, data):
    segments, _, enrolment = data
    later, enrolling = enrolment.count(False), enrolment.count(True)
    assert weighted.manifest["detectors"]["rep_baseline_weight"] == WEIGHT
    assert weighted.components.rep_baseline_weight == WEIGHT
    assert weighted.manifest["calibration"]["rep_calibrated_on"] == "both_directions"
    assert plain.manifest["detectors"]["rep_baseline_weight"] == 0.0
    assert plain.components.rep_baseline_weight == 0.0
    assert plain.manifest["calibration"].get("rep_calibrated_on") != "both_directions"
    # later reps against the enrolment norm (both fits), and enrolment reps against a norm of
    # the later reps (the weighted fit only); every synthetic rep is complete
    assert plain.manifest["calibration"]["rep_samples"] == later
    assert weighted.manifest["calibration"]["rep_samples"] == later + enrolling
    assert weighted.manifest["calibration"]["rep_samples"] > plain.manifest["calibration"]["rep_samples"]
    assert len(weighted.rep_calibration.fused.scores) == later + enrolling


# ---- enrol(): the athlete's leave-one-out baseline ------------------------------------------

def _independent_baseline(model, reps) -> float:
    """Each rep's features (under the whole set's channel offset) minus the median features of
    the other reps, then the distance; the 90th percentile over reps."""
    own = compute_profile(reps, model.geometry)
    uncentred = dataclasses.replace(own, rep_feature_centre=np.zeros_like(own.rep_feature_centre))
    features = [prepare_segment(rep, model.geometry, uncentred).rep_features for rep in reps]
    distances = []
    for i, rep_features in enumerate(features):
        others = np.median(np.array(features[:i] + features[i + 1:]), axis=0)
        z = model.components.rep_z(rep_features - others)
        distances.append(float(model.components.rep_mahalanobis.anomaly_score(z)[0]))
    return float(np.percentile(distances, 90))


def test_enrol_measures_the_90th_percentile_leave_one_out_distance(weighted, athlete):
    reps, _, _ = athlete
    profile = weighted.enrol(reps)
    expected = _independent_baseline(weighted, reps)
    assert profile.rep_distance_baseline == pytest.approx(expected, rel=1e-9)
    assert profile.rep_distance_baseline > 0
    # each rep is left out of the norm it is scored against: against the norm of all ten reps
    # (its own included) the same reps lie closer
    own = compute_profile(reps, weighted.geometry)
    in_sample = [weighted.components.rep_mahalanobis.anomaly_score(weighted.components.rep_z(
        prepare_segment(rep, weighted.geometry, own).rep_features))[0] for rep in reps]
    assert np.percentile(in_sample, 90) < profile.rep_distance_baseline
    # the rest of the profile is the plain enrolment norm
    np.testing.assert_allclose(profile.rep_feature_centre, own.rep_feature_centre)
    np.testing.assert_allclose(profile.channel_offset, own.channel_offset)


def test_a_bundle_without_the_weight_enrols_with_baseline_zero(plain, athlete):
    reps, _, _ = athlete
    assert plain.enrol(reps).rep_distance_baseline == 0.0
    assert _independent_baseline(plain, reps) > 0  # there was a distance to measure


def test_a_variable_athlete_has_a_larger_baseline_than_a_steady_one(weighted):
    rng = np.random.default_rng(13)
    offset = rng.normal(0.0, 0.5, len(CHANNELS))
    steady = weighted.enrol([_rep(rng, offset=offset) for _ in range(10)])
    variable = weighted.enrol([_variable_rep(rng, offset) for _ in range(10)])
    assert variable.rep_distance_baseline > 1.5 * steady.rep_distance_baseline > 0


def test_leave_one_out_skips_incomplete_reps_and_baseline_needs_the_detector(weighted, athlete):
    reps, _, _ = athlete
    broken = [r.copy() for r in reps]
    broken[3][10:20, 1] = np.nan
    left_out = leave_one_out_features(broken, weighted.geometry)
    assert left_out.shape == (len(reps) - 1, len(weighted.geometry.rep_feature_names))
    assert baseline_distance(weighted.components, left_out) > 0
    assert baseline_distance(weighted.components, left_out[:0]) == 0.0
    assert len(leave_one_out_features(broken[:1], weighted.geometry)) == 0  # no other rep to centre on
    assert baseline_distance(dataclasses.replace(weighted.components, rep_mahalanobis=None), left_out) == 0.0


# ---- scoring: distance minus weight * baseline ----------------------------------------------

def test_the_rep_distance_is_scored_beyond_the_weighted_baseline(weighted, athlete):
    reps, offset, rng = athlete
    profile = weighted.enrol(reps)
    baseline = profile.rep_distance_baseline
    no_baseline = dataclasses.replace(profile, rep_distance_baseline=0.0)
    for rep in (_rep(rng, offset=offset), _rep(rng, depth=0.6, offset=offset)):
        with_it, without = weighted.rep_decision(rep, profile), weighted.rep_decision(rep, no_baseline)
        assert with_it.raw_scores["rep_mahalanobis"] == pytest.approx(
            without.raw_scores["rep_mahalanobis"] - WEIGHT * baseline, rel=1e-9, abs=1e-9)
        for name in ("rep_iforest", "rep_ocsvm", "rep_extent"):  # only the distance is adjusted
            assert with_it.raw_scores[name] == pytest.approx(without.raw_scores[name])
    batch = weighted.decide_segments([rep], profile)
    assert batch.raw_scores["rep_mahalanobis"][0] == pytest.approx(with_it.raw_scores["rep_mahalanobis"])
    assert batch.scores[0] == pytest.approx(with_it.score)


def test_a_larger_baseline_never_raises_the_rep_score(weighted, athlete):
    reps, offset, rng = athlete
    profile = weighted.enrol(reps)
    faulty = _rep(rng, depth=0.6, offset=offset)
    multiples = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 20.0)
    decisions = [weighted.rep_decision(faulty, dataclasses.replace(
        profile, rep_distance_baseline=k * profile.rep_distance_baseline)) for k in multiples]
    distances = [d.raw_scores["rep_mahalanobis"] for d in decisions]
    scores = [d.score for d in decisions]
    assert all(a > b for a, b in zip(distances, distances[1:]))
    assert all(a >= b for a, b in zip(scores, scores[1:]))
    assert scores[0] > scores[-1]
    assert decisions[0].anomalous and not decisions[-1].anomalous


def test_without_the_weight_the_baseline_changes_nothing(plain, athlete):
    reps, offset, rng = athlete
    profile = plain.enrol(reps)
    rep = _rep(rng, depth=0.6, offset=offset)
    plain_decision = plain.rep_decision(rep, profile)
    with_baseline = plain.rep_decision(rep, dataclasses.replace(profile, rep_distance_baseline=10.0))
    assert with_baseline.raw_scores == pytest.approx(plain_decision.raw_scores)
    assert with_baseline.score == pytest.approx(plain_decision.score)


# ---- fit_bundle refusals (checked before any fitting) ---------------------------------------

REFUSALS = [
    ({"enrolment_baseline": -1.0}, r"enrolment_baseline must be a finite number from 0 to 1e\+06, got -1\.0"),
    ({"enrolment_baseline": -1}, r"enrolment_baseline must be a finite number from 0 to 1e\+06, got -1"),
    ({"enrolment_baseline": math.nan}, r"enrolment_baseline must be a finite number from 0 to 1e\+06, got nan"),
    ({"enrolment_baseline": math.inf}, r"enrolment_baseline must be a finite number from 0 to 1e\+06, got inf"),
    ({"enrolment_baseline": True}, r"enrolment_baseline must be a finite number from 0 to 1e\+06, got True"),
    ({"enrolment_baseline": "0.5"}, r"enrolment_baseline must be a finite number from 0 to 1e\+06, got '0\.5'"),
    ({"enrolment_baseline": 2e6}, r"enrolment_baseline must be a finite number from 0 to 1e\+06, got 2000000\.0"),
    ({"enrolment_baseline": 10**400}, r"enrolment_baseline must be a finite number from 0 to 1e\+06, got 1000"),
    ({"enrolment_baseline": WEIGHT, "enrolment": None}, r"enrolment_baseline needs enrolment"),
    ({"enrolment_baseline": WEIGHT, "rep_detectors": ["rep_iforest", "rep_ocsvm"]},
     r"enrolment_baseline adjusts rep_mahalanobis, which rep_detectors \['rep_iforest', 'rep_ocsvm'\] does not fuse"),
]


@pytest.mark.parametrize("kwargs, message", REFUSALS,
                         ids=["negative", "negative-int", "nan", "inf", "bool", "string", "above-bound", "overflow",
                              "no-enrolment", "fusion-without-mahalanobis"])
def test_fit_bundle_refuses_a_baseline_it_cannot_use(data, tmp_path, kwargs, message):
    segments, groups, enrolment = data
    options = {"groups": groups, "enrolment": enrolment, "autoencoder": False, "rep_detectors": ["rep_mahalanobis"],
               **kwargs}
    with pytest.raises(ValueError, match=message):
        fit_bundle(segments, CHANNELS, RATE, tmp_path / "x", **options)
    assert not (tmp_path / "x").exists()


# ---- AthleteProfile: the dict form ----------------------------------------------------------

GOOD = AthleteProfile.identity(2, 3, 4).to_dict()


def test_the_profile_dict_round_trips_the_baseline_and_older_dicts_load_with_zero():
    profile = dataclasses.replace(AthleteProfile.identity(2, 3, 4), rep_distance_baseline=7.25)
    data = json.loads(json.dumps(profile.to_dict()))
    assert data["rep_distance_baseline"] == 7.25
    assert AthleteProfile.from_dict(data).rep_distance_baseline == 7.25
    older = {key: value for key, value in data.items() if key != "rep_distance_baseline"}
    loaded = AthleteProfile.from_dict(older)
    assert loaded.rep_distance_baseline == 0.0
    np.testing.assert_array_equal(loaded.rep_feature_centre, np.zeros(4))


@pytest.mark.parametrize("value", [-1, -0.5, -1e-300, math.nan, math.inf, -math.inf, "nan", "-inf"])
def test_the_profile_dict_refuses_a_negative_or_infinite_baseline_naming_it(value):
    with pytest.raises(ValueError, match="rep_distance_baseline"):
        AthleteProfile.from_dict({**GOOD, "rep_distance_baseline": value})


@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(), st.none(),
                       st.booleans()))
def test_the_profile_dict_gives_a_usable_baseline_or_a_value_error(value):
    try:
        profile = AthleteProfile.from_dict({**GOOD, "rep_distance_baseline": value})
    except ValueError as exc:
        assert "rep_distance_baseline" in str(exc)
        assert isinstance(value, (str, bool, type(None))) or not (math.isfinite(value) and value >= 0)
        return
    assert not isinstance(value, (str, bool))
    assert math.isfinite(profile.rep_distance_baseline) and profile.rep_distance_baseline >= 0
    assert profile.rep_distance_baseline == float(value)


# ---- the bundle manifest --------------------------------------------------------------------

@pytest.fixture
def copy(tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, target)
    return target


MANIFEST_REFUSALS = [
    ([("detectors.rep_baseline_weight", "-1")], r"detectors\.rep_baseline_weight = -1 is out of range"),
    ([("detectors.rep_baseline_weight", '"x"')], r"detectors\.rep_baseline_weight = 'x' is not a number"),
    ([("detectors.rep_baseline_weight", "1e9")], r"detectors\.rep_baseline_weight = 1000000000\.0 is out of range"),
    ([("detectors.rep_baseline_weight", "true")], r"detectors\.rep_baseline_weight = True is not a number"),
    ([("detectors.rep_baseline_weight", "NaN")], r"detectors\.rep_baseline_weight = nan is out of range"),
    ([("detectors.rep_baseline_weight", "0.5"), ("detectors.rep", '["rep_iforest", "rep_ocsvm"]')],
     r"detectors\.rep_baseline_weight needs rep_mahalanobis in detectors\.rep"),
    ([("population_norm.rep_distance_baseline", "-1")], r"population_norm\.rep_distance_baseline = -1 is out of range"),
    ([("population_norm.rep_distance_baseline", '"x"')], r"population_norm\.rep_distance_baseline = 'x' is not a number"),
]


@pytest.mark.parametrize("mutations, message", MANIFEST_REFUSALS,
                         ids=["weight-negative", "weight-text", "weight-1e9", "weight-bool", "weight-nan",
                              "weight-without-mahalanobis", "population-baseline-negative", "population-baseline-text"])
def test_a_bad_weight_or_population_baseline_in_the_manifest_is_refused(copy, tmp_path, mutations, message):
    for field, literal in mutations:
        set_field(copy, field, literal)
    with pytest.raises(BundleError, match=message):
        load_bundle(copy)
    with pytest.raises(ModelStoreError, match="refused") as refused:
        install_bundle(copy, tmp_path / "models", BOX)
    assert mutations[0][0] in str(refused.value)


def test_a_valid_weight_and_population_baseline_in_the_manifest_load(copy):
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["detectors"].pop("rep_baseline_weight", None)     # as bundles made before the weight
    (copy / MANIFEST).write_text(json.dumps(manifest))
    assert load_bundle(copy).components.rep_baseline_weight == 0.0  # older bundles: no weight
    set_field(copy, "detectors.rep_baseline_weight", "0.5")  # the shipped bundle fuses rep_mahalanobis
    set_field(copy, "population_norm.rep_distance_baseline", "0.0")
    model = load_bundle(copy)
    assert model.components.rep_baseline_weight == 0.5
    assert model.manifest["population_norm"]["rep_distance_baseline"] == 0.0


# ---- athlete overlays -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def overlay_bundle(weighted, data, tmp_path_factory):
    """The weighted bundle with a population norm, as ``liftguard train`` adds one (its
    ``to_dict()`` now carries ``rep_distance_baseline: 0.0``)."""
    target = tmp_path_factory.mktemp("overlay") / "bundle"
    shutil.copytree(weighted.bundle_dir, target)
    segments, _, _ = data
    population = compute_profile(segments, weighted.geometry).to_dict()
    assert population["rep_distance_baseline"] == 0.0
    update_manifest(target, {"population_norm": population})
    return load_bundle(target)


def test_an_overlay_carries_the_athletes_baseline_through_save_and_load(overlay_bundle, athlete, tmp_path):
    reps, _, _ = athlete
    overlay = make_overlay(overlay_bundle, reps)
    assert overlay.rep_distance_baseline == pytest.approx(overlay_bundle.enrol(reps).rep_distance_baseline)
    assert overlay.rep_distance_baseline > 0
    directory = save_overlay(tmp_path / "ov", overlay_bundle, overlay, {"lift": "squat"})
    assert json.loads((directory / OVERLAY_FILE).read_text())["rep_distance_baseline"] == overlay.rep_distance_baseline
    loaded = load_overlay(directory, overlay_bundle)
    assert loaded.rep_distance_baseline == overlay.rep_distance_baseline
    np.testing.assert_allclose(loaded.rep_feature_centre, overlay.rep_feature_centre)


def _rewrite_overlay(directory, change) -> None:
    """Edit overlay.json and record its new checksum in the overlay's manifest."""
    body = directory / OVERLAY_FILE
    data = json.loads(body.read_text())
    change(data)
    body.write_text(json.dumps(data))
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["files"][OVERLAY_FILE] = sha256_file(body)
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_an_older_overlay_loads_with_baseline_zero_and_a_negative_one_is_refused(overlay_bundle, athlete, tmp_path):
    reps, _, _ = athlete
    directory = save_overlay(tmp_path / "ov", overlay_bundle, make_overlay(overlay_bundle, reps), {})
    _rewrite_overlay(directory, lambda data: data.pop("rep_distance_baseline"))
    assert load_overlay(directory, overlay_bundle).rep_distance_baseline == 0.0
    _rewrite_overlay(directory, lambda data: data.update(rep_distance_baseline=-3.0))
    # refused naming the field (as a ValueError today; see the report on OverlayError)
    with pytest.raises(OverlayError, match="rep_distance_baseline"):
        load_overlay(directory, overlay_bundle)


def test_a_hand_made_baseline_round_trips_through_the_default_bundles_overlay(tmp_path):
    model = load_bundle(DEFAULT_BUNDLE)
    sizes = (model.geometry.n_channels, len(model.components.window_median), len(model.components.rep_median))
    overlay = dataclasses.replace(AthleteProfile.identity(*sizes), rep_distance_baseline=12.5)
    directory = save_overlay(tmp_path / "ov", model, overlay, {})
    assert load_overlay(directory, model).rep_distance_baseline == 12.5
