"""The rep decision used when an athlete profile is loaded (``models.anomaly.profile_rep``):
trained by ``liftguard train --sim ... --sim-athletes K``, stated in the manifest beside the
population calibration; without a profile the bundle decides exactly as the same training
without athletes; with one, the athlete's enrolment baseline and the profile calibration decide.
Small simulated bundles without the autoencoder (about 10 s each)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftguard.cli import main
from models.analysis import analyze_frames
from models.anomaly import BundleError, load_bundle
from models.anomaly.bundle import MANIFEST
from models.anomaly.overlay import make_overlay
from models.anomaly.profile_rep import PROFILE_REP_FILE
from models.anomaly.segments import rep_decisions, set_segments
from sensors.simulator import set_style, simulate_set
from tests.support.bundles import set_field

TRAIN = ["train", "--sim", "4", "--held-out-sim", "4", "--lift", "squat", "--no-autoencoder",
         "--rep-detectors", "rep_mahalanobis", "--false-alarm-rate", "0.005", "--seed", "7"]
ATHLETES = ["--sim-athletes", "4", "--held-out-sim-athletes", "3"]
STEADY = {"athlete_mass_kg": 80.0, "bar_load_kg": 90.0, "rep_variability": 0.5}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("profile-rep")
    assert main([*TRAIN, "--out", str(root / "population")]) == 0
    assert main([*TRAIN, *ATHLETES, "--out", str(root / "with-athletes")]) == 0
    return root / "population", root / "with-athletes"


def _manifest(path: Path) -> dict:
    return json.loads((path / MANIFEST).read_text())


def _steady_sets(base: int, fault: str | None = None):
    """A steady athlete's enrolment set and a later set (their own depth and tempo; each set its
    own IMU bias)."""
    style = set_style("squat", base)
    enrolment = simulate_set("squat", reps=6, seed=base, style=style, **STEADY)
    later = simulate_set("squat", reps=6, seed=base + 1000, faults={4: fault} if fault else {}, style=style, **STEADY)
    return enrolment, later


def test_the_manifest_states_both_rep_calibrations(bundles):
    population, with_athletes = (_manifest(p) for p in bundles)
    assert "profile_rep" not in population
    section = with_athletes["profile_rep"]
    assert with_athletes["calibration"]["rep_calibrated_on"] == "held_out_sets"
    assert section["rep_calibrated_on"] == "held_out_athletes_both_directions"
    assert section["rep"] == ["rep_mahalanobis"] and section["rep_baseline_weight"] == 0.75
    assert section["training"]["athletes"] == 4 and section["training"]["held_out_athletes"] == 3
    assert section["rep_samples"] > 0 and section["false_alarm_rate"] == 0.005
    assert PROFILE_REP_FILE in with_athletes["files"]
    assert not with_athletes["athlete_centring"], "windows and the population rep decision are as before"
    report = json.loads((bundles[1] / "training_report.json").read_text())
    assert report["profile_rep"]["rep_flags"]["n"] == section["rep_samples"]


def test_without_a_profile_it_decides_as_the_same_training_without_athletes(bundles):
    population, with_athletes = (_manifest(p) for p in bundles)
    for name in ("detectors.joblib", "calibration.npz"):
        assert population["files"][name] == with_athletes["files"][name]
    for key in ("calibration", "norms", "scalers", "detectors", "realtime", "population_norm"):
        assert population[key] == with_athletes[key], key
    a, b = (load_bundle(p) for p in bundles)
    assert a.profile_rep is None and b.profile_rep is not None
    sset = simulate_set("squat", reps=5, faults={3: "sticking_point"}, seed=4)
    reps = analyze_frames(sset.frames, "squat").reps
    assert [d.fused_p for d in rep_decisions(a, sset.frames, reps)] == \
        [d.fused_p for d in rep_decisions(b, sset.frames, reps)]
    window = set_segments(sset.frames, "squat", a.channels, a.sample_rate_hz).rows[200:300]
    assert a.score_window(window).fused_p == b.score_window(window).fused_p


def test_a_profile_brings_the_athletes_enrolment_baseline_and_its_own_calibration(bundles):
    model = load_bundle(bundles[1])
    enrolment, later = _steady_sets(21, "sticking_point")
    overlay = make_overlay(model, set_segments(enrolment.frames, "squat", model.channels, 100.0).reps)
    assert overlay.rep_distance_baseline > 0
    assert model.uses_profile_rep(overlay) and not model.uses_profile_rep(None)
    reps = analyze_frames(later.frames, "squat").reps
    with_profile = rep_decisions(model, later.frames, reps, overlay)
    without = rep_decisions(model, later.frames, reps)
    assert "rep_iforest" not in with_profile[0].raw_scores and "rep_iforest" in without[0].raw_scores
    # the distance is scored beyond 0.75 of the athlete's own baseline
    distances = [d.raw_scores["rep_mahalanobis"] for d in with_profile]
    profile = model.profile_rep.components
    athlete = model._athlete(overlay)
    from models.anomaly.pipeline import centred_rep_features

    rows = set_segments(later.frames, "squat", model.channels, 100.0).rows
    first = rows[int(round(reps[0].start_s * 100)):int(round(reps[0].end_s * 100)) + 1]
    raw = float(profile.rep_mahalanobis.anomaly_score(profile.rep_z(centred_rep_features(first, model.geometry,
                                                                                          athlete)))[0])
    assert distances[0] == pytest.approx(raw - 0.75 * overlay.rep_distance_baseline)


def test_the_drift_cue_threshold_follows_the_rep_decision_the_profile_selects(bundles):
    model = load_bundle(bundles[1])
    section = model.manifest["profile_rep"]["set_drift"]
    assert section["statistic"] == "trimmed_fisher" and section["groups"] == 3   # one per held-out athlete
    enrolment, _ = _steady_sets(25)
    overlay = make_overlay(model, set_segments(enrolment.frames, "squat", model.channels, 100.0).reps)
    assert model.drift_alpha(overlay) == section["alpha"]
    assert model.drift_alpha(None) == model.set_drift_alpha == model.manifest["calibration"]["set_drift"]["alpha"]
    assert load_bundle(bundles[0]).drift_alpha(overlay) == load_bundle(bundles[0]).set_drift_alpha


def test_an_older_bundle_without_the_section_ignores_nothing_and_decides_as_before(bundles, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundles[1], copy)
    manifest = _manifest(copy)
    manifest.pop("profile_rep")
    (copy / MANIFEST).write_text(json.dumps(manifest))
    from models.anomaly.realtime import update_manifest

    update_manifest(copy, {})
    model = load_bundle(copy)
    assert model.profile_rep is None
    enrolment, later = _steady_sets(22)
    overlay = make_overlay(model, set_segments(enrolment.frames, "squat", model.channels, 100.0).reps)
    assert not model.uses_profile_rep(overlay) and overlay.rep_distance_baseline == 0.0


@pytest.mark.parametrize("field, literal, message", [
    ("profile_rep.rep_baseline_weight", "-1", r"profile_rep\.rep_baseline_weight = -1 is out of range"),
    ("profile_rep.rep", '["rep_iforest"]', r"profile_rep\.rep = \['rep_iforest'\] must be"),
    ("profile_rep.set_drift.alpha", "0", r"profile_rep\.set_drift\.alpha = 0 is out of range"),
    ("profile_rep.rep_median", '"x"', r"profile_rep\.rep_median = 'x' is not a list"),
    ("profile_rep.rep_median", "[1.0, 2.0]", r"profile_rep holds 2 rep norms"),
    ("population_norm", "null", r"profile_rep .* needs population_norm"),
    ("athlete_centring", "true", r"needs population_norm and a bundle without athlete_centring"),
])
def test_a_bad_profile_rep_section_is_refused_naming_the_field(bundles, tmp_path, field, literal, message):
    copy = tmp_path / "bundle"
    shutil.copytree(bundles[1], copy)
    set_field(copy, field, literal)
    with pytest.raises(BundleError, match=message):
        load_bundle(copy)


def test_an_altered_profile_rep_file_is_refused(bundles, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundles[1], copy)
    with open(copy / PROFILE_REP_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=PROFILE_REP_FILE):
        load_bundle(copy)
    assert hashlib.sha256((bundles[1] / PROFILE_REP_FILE).read_bytes()).hexdigest() == \
        _manifest(bundles[1])["files"][PROFILE_REP_FILE]


@pytest.mark.parametrize("extra, message", [
    (["--sim-athletes", "3"], "--sim-athletes needs --sim"),
    (["--sim", "4", "--sim-athletes", "3", "--sim-rep-variability", "2,0.5"], "need 0.25 <= LOW <= HIGH <= 3"),
    (["--sim", "4", "--sim-athletes", "3", "--sim-rep-variability", "x"], "expected LOW,HIGH"),
    (["--sim", "4", "--sim-athletes", "3", "--held-out-sim-athletes", "1"], "out of range 2..500"),
])
def test_cli_refuses_bad_athlete_options(tmp_path, capsys, extra, message):
    args = ["train", "--lift", "squat", "--no-autoencoder", "--out", str(tmp_path / "b"), *extra]
    if "--sim" not in extra:
        args.append(str(tmp_path))
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@given(text=st.one_of(st.text(max_size=12), st.tuples(st.floats(), st.floats()).map(lambda t: f"{t[0]},{t[1]}")))
@settings(max_examples=80, deadline=None)
def test_the_rep_variability_option_gives_a_range_or_names_what_is_wrong(text):
    from liftguard.commands.train import _spread_range
    from liftguard.errors import UsageError

    try:
        low, high = _spread_range(text)
    except UsageError as exc:
        assert str(exc).startswith(f"--sim-rep-variability {text!r}: ")
        return
    assert 0.25 <= low <= high <= 3.0
