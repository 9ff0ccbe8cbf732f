"""The rep decision a bundle makes when an athlete profile is loaded, beside its population one.

A bundle trained without athlete groups (the box's default) decides a rep against the
population of clean reps; an athlete's overlay only moves their signals onto the population's
norm. This second rep decision is fitted on athletes as groups, each with an enrolment set and
a later set (``fit_bundle(groups=..., enrolment=...)``'s protocol, docs/models.md): rep
features centred on the athlete's own enrolment median, the rep Mahalanobis covariance within
each athlete's sets, and the enrolment baseline (the distance beyond ``weight`` times the far
end of the athlete's own enrolment distances, ``enrolment_baseline.py``). It is calibrated,
split conformal, on held-out athletes in both directions (later set against an enrolment
norm, enrolment set against a norm of the later set), scored by the final model.

Without a profile the bundle decides exactly as before: the population rep decision, its
calibration and every window part are untouched. The manifest's ``profile_rep`` section says
how this one was made; ``profile_rep.npz`` holds its covariance and calibration (no pickle).
Bundles without the section have no profile rep decision and decide as they always did.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.anomaly.bundle import bundle_file
from models.anomaly.detectors import CompiledMahalanobis, fit_shrunk_covariance
from models.anomaly.enrolment_baseline import baseline_distance, leave_one_out_features
from models.anomaly.errors import TrainingDataError
from models.anomaly.features import window_feature_names
from models.anomaly.fitting import MIN_CLEAN_REPS, MIN_ENROL_REPS
from models.anomaly.fusion import FusionCalibration
from models.anomaly.pipeline import (
    AthleteProfile,
    Components,
    Geometry,
    centred_rep_features,
    compute_profile,
    prepare_segment,
    robust_spread,
)

PROFILE_REP_KEY = "profile_rep"
PROFILE_REP_FILE = "profile_rep.npz"
FUSED = ("rep_mahalanobis",)
REPORTED = ("rep_extent", "rep_mahalanobis", "autoencoder_mean")
"""Raw rep scores a profile decision reports: the population's IsolationForest and One-Class
SVM were fitted on uncentred features and say nothing about athlete-centred ones."""
METHOD = ("held-out athletes in both directions (later set against the enrolment norm, enrolment set "
          "against a norm of the later set), scored by the final model (split conformal); empirical survival "
          "with +1 smoothing and exponential tail")


@dataclass(frozen=True)
class AthleteSets:
    """One athlete's clean rep segments: the enrolment set and a later set."""

    athlete: str
    enrolment: list[np.ndarray]
    later: list[np.ndarray]


@dataclass
class ProfileRep:
    """The profile rep decision's parts: the population's components with the athlete-centred
    rep norms, covariance and baseline weight, and its own calibration."""

    components: Components
    calibration: FusionCalibration
    section: dict[str, Any]


def athlete_profile(segments: Sequence[np.ndarray], geometry: Geometry, components: Components) -> AthleteProfile:
    """An athlete's own norm and enrolment baseline as this decision measures them."""
    profile = compute_profile(segments, geometry)
    left_out = leave_one_out_features(segments, geometry, profile)
    return replace(profile, rep_distance_baseline=baseline_distance(components, left_out))


def _complete(segments: Sequence[np.ndarray], geometry: Geometry) -> list[np.ndarray]:
    """The segments that are whole, scoreable reps (no bad window), as the scorer screens them."""
    identity = AthleteProfile.identity(geometry.n_channels, len(window_feature_names(geometry.channels)),
                                       len(geometry.rep_feature_names))
    return [s for s in segments if prepare_segment(s, geometry, identity).rep_features is not None]


def fit_profile_components(population: Components, geometry: Geometry, athletes: Sequence[AthleteSets],
                           weight: float) -> Components:
    """The population components with rep norms and covariance fitted on athlete-centred reps:
    each athlete's reps, enrolment and later set, centred on the median of their enrolment set.

    The covariance is over all these reps, not within each set (``fit_bundle``'s choice with
    enrolment on the real squats): on the simulator what changes between an athlete's sets
    (a new IMU bias, up to 50 mg and 1 deg/s per axis, a slightly different depth and tempo)
    dwarfs the rep-to-rep variation a within-set covariance holds, so every later-set rep of
    an athlete scored far away and the calibrated threshold rose above most faults
    (docs/models.md, "The rep decision with a profile")."""
    rows = []
    for one in athletes:
        enrolment = _complete(one.enrolment, geometry)
        if len(enrolment) < MIN_ENROL_REPS:
            raise TrainingDataError(f"athlete {one.athlete}: {len(enrolment)} complete enrolment reps; "
                                    f"need at least {MIN_ENROL_REPS}")
        norm = compute_profile(enrolment, geometry)
        rows += [centred_rep_features(r, geometry, norm) for r in enrolment + _complete(one.later, geometry)]
    if len(rows) < MIN_CLEAN_REPS:
        raise TrainingDataError(f"{len(rows)} complete reps from {len(athletes)} athletes; need {MIN_CLEAN_REPS}")
    scaled = population.rep_scaler.transform(np.array(rows))
    median, spread = robust_spread(scaled)
    covariance = fit_shrunk_covariance((scaled - median) / spread)
    return replace(population, rep_median=median, rep_spread=spread, rep_mahalanobis=CompiledMahalanobis(covariance),
                   rep_fusion=FUSED, rep_baseline_weight=float(weight))


def both_direction_scores(components: Components, geometry: Geometry, one: AthleteSets) -> list[np.ndarray]:
    """The fused rep scores (n, 1) of one held-out athlete's sets, one array per direction: their
    later set against their enrolment norm, and their enrolment set against a norm of the later
    set (a direction whose norm has too few reps is left out)."""
    out = []
    for norm_reps, scored in ((one.enrolment, one.later), (one.later, one.enrolment)):
        norm_reps, scored = _complete(norm_reps, geometry), _complete(scored, geometry)
        if len(norm_reps) < MIN_ENROL_REPS:
            continue
        athlete = athlete_profile(norm_reps, geometry, components)
        rows = [components.fused_rep_scores(components.rep_raw_scores(
            centred_rep_features(r, geometry, athlete), None, athlete.rep_distance_baseline)) for r in scored]
        out.append(np.array(rows).reshape(len(rows), len(FUSED)))
    return out


def leave_one_athlete_out_flags(per_athlete: Sequence[np.ndarray], rate: float) -> np.ndarray:
    """Each held-out athlete's reps flagged against a calibration from the other athletes."""
    flags = []
    for k, scores in enumerate(per_athlete):
        others = [s for j, s in enumerate(per_athlete) if j != k and len(s)]
        if not len(scores) or not others:
            continue
        _, fused = FusionCalibration.fit(FUSED, np.concatenate(others)).fused_p(scores)
        flags.append(fused <= rate)
    return np.concatenate(flags) if flags else np.zeros(0, dtype=bool)


def write_profile_rep(bundle_dir: Path, components: Components, calibration: FusionCalibration,
                      section: dict[str, Any]) -> dict[str, Any]:
    """Write ``profile_rep.npz``; returns the manifest section (the caller rewrites the manifest)."""
    arrays = {"mahalanobis.location": components.rep_mahalanobis.location,
              "mahalanobis.precision": components.rep_mahalanobis.precision,
              **calibration.to_arrays("rep")}
    with open(Path(bundle_dir) / PROFILE_REP_FILE, "wb") as handle:
        np.savez(handle, **arrays)
    return {"file": PROFILE_REP_FILE, "rep": list(FUSED), "rep_baseline_weight": components.rep_baseline_weight,
            "rep_median": components.rep_median.tolist(), "rep_spread": components.rep_spread.tolist(),
            "rep_samples": int(calibration.fused.scores.size), "rep_method": METHOD,
            "rep_calibrated_on": "held_out_athletes_both_directions", **section}


def load_profile_rep(bundle_dir: Path, manifest: dict[str, Any], population: Components) -> ProfileRep | None:
    """The bundle's profile rep decision, or None when it has none (older bundles)."""
    section = manifest.get(PROFILE_REP_KEY)
    if not section:
        return None
    path = bundle_file(Path(bundle_dir), manifest, section["file"])
    with np.load(path, allow_pickle=False) as arrays:
        mahalanobis = CompiledMahalanobis.from_arrays(arrays["mahalanobis.location"], arrays["mahalanobis.precision"])
        calibration = FusionCalibration.from_arrays(arrays, "rep", FUSED)
    n = len(population.rep_median)
    median, spread = (np.asarray(section[key], dtype=np.float64) for key in ("rep_median", "rep_spread"))
    if median.shape != (n,) or spread.shape != (n,) or mahalanobis.precision.shape != (n, n):
        raise ValueError(f"profile_rep holds {median.size} rep norms and a {mahalanobis.precision.shape} "
                         f"covariance for {n} rep features")
    components = replace(population, rep_median=median, rep_spread=spread, rep_mahalanobis=mahalanobis,
                         rep_fusion=FUSED, rep_baseline_weight=float(section["rep_baseline_weight"]))
    return ProfileRep(components, calibration, section)


MIN_HELD_OUT_ATHLETES = 2


def fit_profile_rep(model: Any, athletes: Sequence[AthleteSets], held_out: Sequence[AthleteSets],
                    weight: float) -> tuple[Components, FusionCalibration, np.ndarray, list[np.ndarray]]:
    """Fit the profile rep decision on ``athletes`` and calibrate it on ``held_out``.

    Returns the components, the calibration (all held-out athletes), the held-out reps' flags at
    the bundle's rate, each athlete against a calibration from the others (the figure for the
    report, not from the calibration it checks), and each held-out athlete's raw fused scores
    (both directions; for the drift cue's threshold).
    ``TrainingDataError`` when the held-out athletes give fewer than ``MIN_CLEAN_REPS`` scored
    reps or fewer than 2 athletes.
    """
    components = fit_profile_components(model.components, model.geometry, athletes, weight)
    per_set = [both_direction_scores(components, model.geometry, one) for one in held_out]
    filled = [np.concatenate(sets) for sets in per_set if sets and sum(len(s) for s in sets)]
    if len(filled) < MIN_HELD_OUT_ATHLETES or sum(len(s) for s in filled) < MIN_CLEAN_REPS:
        raise TrainingDataError(f"the profile rep decision needs held-out athletes to calibrate on: "
                                f"{len(filled)} athletes with {sum(len(s) for s in filled)} scored reps; need at least "
                                f"{MIN_HELD_OUT_ATHLETES} athletes and {MIN_CLEAN_REPS} reps")
    calibration = FusionCalibration.fit(FUSED, np.concatenate(filled))
    return components, calibration, leave_one_athlete_out_flags(filled, model.false_alarm_rate), filled



def drift_threshold(per_athlete: Sequence[np.ndarray], seed: int) -> dict[str, Any]:
    """The drift cue's threshold for this decision's rep p-values (``profile_rep.set_drift``),
    calibrated as ``fit_bundle`` calibrates the population one (``models.anomaly.set_calibration``):
    each held-out athlete's reps against a calibration of the other athletes, pseudo-sets drawn
    within each athlete; empty when there are too few athletes (the box then uses the bundle's
    population threshold)."""
    from models.anomaly.set_calibration import set_threshold

    try:
        threshold = set_threshold(FUSED, per_athlete, seed=seed,
                                  source="held-out athletes in both directions, one group per athlete")
    except ValueError:
        return {}
    return {"set_drift": threshold.as_manifest()}
