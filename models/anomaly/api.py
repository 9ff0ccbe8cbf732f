"""Public API: fit a model bundle from clean segments, load it, score segments.

>>> path = fit_bundle(clean_reps, channels, 111.0, Path("bundle"), false_alarm_rate=0.05)
>>> model = load_bundle(path, expect_channels=channels, expect_rate=111.0)
>>> model.score_segments(new_reps)          # one score per rep, higher = more anomalous
>>> model.decide_segments(new_reps)         # scores, decisions and per-detector scores in one call
>>> model.rep_decision(rep).anomalous       # the calibrated per-rep decision (+ attribution)
>>> model.score_window(window)              # the per-window decision for the real-time path

Segments are float arrays of shape T×C (samples × channels, columns in ``channels`` order)
at ``sample_rate_hz``; gaps are NaN rows. Any channel set works.
"""
from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import joblib
import numpy as np
import sklearn

from models.anomaly.body_frame import imu_groups
from models.anomaly.bundle import write_manifest
from models.anomaly.enrolment_baseline import BothDirections
from models.anomaly.errors import BundleError, TrainingDataError
from models.anomaly.features import window_feature_names
from models.anomaly.fitting import (
    MIN_CLEAN_REPS,
    FitOptions,
    calibrate_out_of_fold,
    check_enough_data,
    check_fold_groups,
    fit_components,
)
from models.anomaly.manifest_values import MAX_BASELINE_WEIGHT
from models.anomaly.model import (
    AnomalyModel,
    Decision,
    RepDecision,
    RepDecisions,
    WindowDecision,
    enrolment_profile,
    load_model,
)
from models.anomaly.pipeline import (
    DEFAULT_REP_FUSION,
    AthleteProfile,
    Geometry,
    checked_rep_detectors,
    non_negative_number,
    prepare_segment,
)
from models.anomaly.set_calibration import set_threshold
from models.anomaly.windows import SkipCounts, as_segment
from models.set_drift import DEFAULT_SET_ALPHA, DEFAULT_SET_FALSE_CUE_RATE

__all__ = [
    "AnomalyModel", "AthleteProfile", "BundleError", "Decision", "RepDecision", "RepDecisions", "TrainingDataError",
    "WindowDecision", "fit_bundle", "load_bundle",
]

log = logging.getLogger(__name__)

DETECTORS_FILE = "detectors.joblib"
AUTOENCODER_FILE = "autoencoder.tflite"
CALIBRATION_FILE = "calibration.npz"


def fit_bundle(
    segments: Sequence[np.ndarray],
    channels: Sequence[str],
    sample_rate_hz: float,
    out_dir: Path,
    *,
    groups: Sequence[Hashable] | None = None,
    enrolment: Sequence[bool] | None = None,
    window_only: Sequence[bool] | None = None,
    fold_groups: Sequence[Hashable] | None = None,
    window_s: float = 1.0,
    hop_s: float = 0.25,
    false_alarm_rate: float = 0.05,
    seed: int = 0,
    autoencoder: bool = True,
    ae_epochs: int = 40,
    ae_steps: int = 32,
    ae_units: int = 16,
    rep_autoencoder: bool = False,
    rep_detectors: Sequence[str] | None = None,
    enrolment_baseline: float | None = None,
    body_frame: bool | None = None,
    n_folds: int = 5,
    lift_types: Sequence[str] = ("squat",),
    saturation_limits: Mapping[str, float] | None = None,
    signing_key: bytes | None = None,
    set_false_cue_rate: float = DEFAULT_SET_FALSE_CUE_RATE,
) -> Path:
    """Fit all detectors on clean segments, calibrate out of fold, write a bundle to ``out_dir``.

    ``groups`` (one athlete id per segment) switches on per-athlete centring: each athlete's
    data is scored against their own clean norm, calibration folds are whole athletes, and
    the loaded model needs ``enrol()`` for a new athlete. ``enrolment`` (one flag per segment)
    says which segments form each athlete's norm, as ``enrol()`` will on the box (e.g. the
    first set); calibration then scores the athletes' *other* segments, so the threshold
    already includes the drift between an enrolment set and later sets, and the rep
    Mahalanobis covariance is fitted within each athlete's enrolment and other segments
    (rep-to-rep variation, not the shifts between sets).
    ``window_only`` (one flag per segment) marks segments that are not whole reps (e.g. a
    whole set, or the walk-out between reps): they train the window detectors only.
    ``fold_groups`` (one id per segment, without ``groups``) keeps segments that overlap in
    time (a set and its reps) in the same calibration fold; otherwise folds are shuffled by
    segment and a calibration score can come from a model that saw the same samples.
    ``groups``/``fold_groups`` need at least 2 distinct values (a warning below 3).
    ``body_frame`` adds each 6-axis IMU's body-frame angle curves to the rep features
    (``models.anomaly.body_frame``).
    ``rep_autoencoder`` also fuses the mean window reconstruction error into the rep
    decision (off by default: see ``pipeline.Components.rep_fusion``).
    ``rep_detectors`` names the rep detectors fused into the rep decision (``REP_DETECTORS``:
    rep_iforest, rep_ocsvm, rep_extent, rep_mahalanobis, autoencoder_mean); default
    IsolationForest, One-Class SVM and extent. Every rep detector is fitted and reported alone
    whatever is fused.
    ``enrolment_baseline`` (a weight, e.g. 0.75; needs ``enrolment`` and ``rep_mahalanobis``
    fused) scores the rep distance beyond that share of the far end of the athlete's own
    enrolment distances, measured at ``enrol()``, and calibrates the rep decision on both directions
    (later reps against the enrolment norm, enrolment reps against a norm of the later reps);
    see ``models.anomaly.enrolment_baseline``.
    **Defaults with ``groups`` and ``enrolment``** (``VALIDATED_ENROLMENT_DEFAULTS``): what the
    nested real-squat evaluation chose (docs/models.md): ``rep_detectors=["rep_mahalanobis"]``
    (its covariance within each athlete's sets), ``enrolment_baseline=0.75`` and
    ``body_frame=True`` when the channels hold a 6-axis IMU. Without them: IsolationForest,
    One-Class SVM and extent, no baseline, no body frame, as before. An explicit argument always
    wins (``enrolment_baseline=0.0``, ``body_frame=False``, ``rep_detectors=[...]``).
    ``set_false_cue_rate``: the nominal share of clean sets that give the technique-drift cue;
    the threshold is calibrated here on the out-of-fold calibration reps, pseudo-sets drawn
    within each fold's athlete (or set), and written to ``calibration.set_drift``
    (``models.anomaly.set_calibration``; docs/models.md, "Technique-drift cue").
    ``out_dir`` must not exist or be empty.
    """
    channels = tuple(channels)
    rep_detectors, enrolment_baseline, body_frame = validated_defaults(
        channels, enrolment is not None, rep_detectors, enrolment_baseline, body_frame)
    geometry = _geometry(channels, sample_rate_hz, window_s, hop_s, saturation_limits, body_frame)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2 (calibration needs held-out folds), got {n_folds}")
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    if not 0.0 < set_false_cue_rate < 1.0:
        raise ValueError(f"set_false_cue_rate must be in (0, 1), got {set_false_cue_rate}")
    arrays = [as_segment(s, len(channels)) for s in segments]
    if groups is not None and len(groups) != len(arrays):
        raise ValueError(f"groups has {len(groups)} entries for {len(arrays)} segments")
    if enrolment is not None and (groups is None or len(enrolment) != len(arrays)):
        raise ValueError("enrolment needs groups and one flag per segment")
    if fold_groups is not None and len(fold_groups) != len(arrays):
        raise ValueError(f"fold_groups has {len(fold_groups)} entries for {len(arrays)} segments")
    check_fold_groups("groups" if groups is not None else "fold_groups", groups if groups is not None else fold_groups)
    enrolled = [True] * len(arrays) if enrolment is None else [bool(e) for e in enrolment]
    fused = checked_rep_detectors(rep_detectors, autoencoder)
    enrolment_baseline = _check_enrolment_baseline(enrolment_baseline, enrolment is not None, fused)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} exists and is not empty; choose a new bundle directory")

    records = _prepare(arrays, geometry, groups, enrolled)
    if enrolment is not None:
        for record, athlete, flag in zip(records, groups, enrolled):
            record.occasion = (athlete, flag)
    if window_only is not None:
        if len(window_only) != len(arrays):
            raise ValueError(f"window_only has {len(window_only)} entries for {len(arrays)} segments")
        for record, flag in zip(records, window_only):
            if flag:
                record.rep_features = None
    check_enough_data(records)
    calibrate_on = None if enrolment is None else [not e for e in enrolled]
    if calibrate_on is not None and sum(calibrate_on) < MIN_CLEAN_REPS:
        raise TrainingDataError(f"only {sum(calibrate_on)} non-enrolment segments to calibrate on; need {MIN_CLEAN_REPS}")
    options = FitOptions(seed=seed, autoencoder=autoencoder, ae_steps=ae_steps, ae_units=ae_units, ae_epochs=ae_epochs,
                         rep_autoencoder=rep_autoencoder, n_folds=n_folds, rep_detectors=fused,
                         enrolment_baseline=enrolment_baseline)
    folds_by = groups if groups is not None else fold_groups
    both_directions = BothDirections(arrays, groups, enrolled, records, geometry) if enrolment_baseline else None
    calibration = calibrate_out_of_fold(
        records, geometry, options, None if folds_by is None else list(folds_by), calibrate_on, both_directions
    )
    final = fit_components(records, geometry, options)

    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        manifest = _write_parts(staging, final, calibration)
        manifest.update(
            created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            channels=list(channels),
            sample_rate_hz=float(sample_rate_hz),
            window={"length_samples": geometry.window_len, "hop_samples": geometry.hop,
                    "length_s": geometry.window_len / sample_rate_hz, "hop_s": geometry.hop / sample_rate_hz},
            lift_types=list(lift_types),
            saturation_limits=None if geometry.saturation_limits is None else [
                None if np.isinf(v) else float(v) for v in geometry.saturation_limits
            ],
            athlete_centring=groups is not None,
            rep_features={"body_frame": geometry.body_frame},
            enrolment_calibration=enrolment is not None,
            training={
                "segments": len(arrays),
                "usable_windows": sum(len(r.windows) for r in records),
                "complete_reps": sum(r.rep_features is not None for r in records),
                "athletes": None if groups is None else len(set(groups)),
                "seed": seed,
            },
        )
        manifest["calibration"].update(
            false_alarm_rate=false_alarm_rate,
            window_threshold_fisher=calibration.window.threshold_statistic(false_alarm_rate),
            rep_threshold_fisher=calibration.rep.threshold_statistic(false_alarm_rate),
        )
        if both_directions is not None:
            manifest["calibration"]["rep_calibrated_on"] = "both_directions"
        drift = _set_drift_threshold(calibration, final.components.rep_fusion, set_false_cue_rate, seed,
                                     "athlete" if groups is not None else "set" if fold_groups is not None else "fold")
        if drift is not None:
            manifest["calibration"]["set_drift"] = drift
        write_manifest(staging, manifest, signing_key)
        if out_dir.exists():
            out_dir.rmdir()
        staging.replace(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("wrote anomaly bundle %s (%s)", out_dir, calibration.method)
    return out_dir


def _set_drift_threshold(calibration, detectors: tuple[str, ...], rate: float, seed: int,
                         grouped_by: str) -> dict | None:
    """The manifest's ``calibration.set_drift``, or None (with a warning: the box then uses
    ``DEFAULT_SET_ALPHA``) when the calibration has too few folds with reps."""
    try:
        threshold = set_threshold(detectors, calibration.rep_by_fold, rate=rate, seed=seed,
                                  source=f"out-of-fold calibration reps, one group per {grouped_by}")
    except ValueError as exc:
        log.warning("no drift-cue threshold calibrated for this bundle (%s); the box will use the default %g",
                    exc, DEFAULT_SET_ALPHA)
        return None
    log.info("drift-cue threshold %.3g for %g false cues per clean set (%d pseudo-sets from %d groups)",
             threshold.alpha, rate, threshold.pseudo_sets, threshold.groups)
    return threshold.as_manifest()


def load_bundle(
    path: Path,
    expect_channels: Sequence[str] | None = None,
    expect_rate: float | None = None,
    signing_key: bytes | None = None,
) -> AnomalyModel:
    """Verify and load a bundle; raises ``BundleError`` naming what is wrong."""
    return load_model(Path(path), expect_channels, expect_rate, signing_key)


def _geometry(channels, sample_rate_hz, window_s, hop_s, saturation_limits, body_frame) -> Geometry:
    if len(set(channels)) != len(channels) or not channels:
        raise ValueError(f"channels must be unique and non-empty, got {list(channels)}")
    if not sample_rate_hz > 0:
        raise ValueError(f"sample_rate_hz must be positive, got {sample_rate_hz}")
    window_len, hop = round(window_s * sample_rate_hz), round(hop_s * sample_rate_hz)
    if window_len < 4 or hop < 1:
        raise ValueError(f"window {window_s} s / hop {hop_s} s at {sample_rate_hz} Hz gives {window_len}/{hop} samples")
    limits = None
    if saturation_limits is not None:
        unknown = set(saturation_limits) - set(channels)
        if unknown:
            raise ValueError(f"saturation_limits name unknown channels {sorted(unknown)}")
        limits = np.array([saturation_limits.get(ch, np.inf) for ch in channels], dtype=np.float64)
    if body_frame and not imu_groups(channels):
        raise ValueError(f"body_frame needs at least one 6-axis IMU (<prefix>ax..gz) among {list(channels)}")
    return Geometry(channels, float(sample_rate_hz), window_len, hop, limits, bool(body_frame))


VALIDATED_ENROLMENT_DEFAULTS = {"rep_detectors": ("rep_mahalanobis",), "enrolment_baseline": 0.75,
                                "body_frame": True}
"""``fit_bundle``'s defaults with ``groups`` and ``enrolment``: the nested leave-one-subject-out
choice on the real squats (within-set Mahalanobis for every outer subject, the 90th-percentile
baseline at 0.75, body-frame curves kept; docs/models.md "Evaluation on real squats")."""


def validated_defaults(channels: Sequence[str], has_enrolment: bool, rep_detectors, enrolment_baseline,
                       body_frame) -> tuple:
    """Fill the arguments left as None: the validated configuration with enrolment, the
    earlier defaults without it (body frame only when a 6-axis IMU is among the channels)."""
    if has_enrolment:
        chosen = VALIDATED_ENROLMENT_DEFAULTS
        if rep_detectors is None:
            rep_detectors = list(chosen["rep_detectors"])
        if enrolment_baseline is None:
            enrolment_baseline = chosen["enrolment_baseline"] if "rep_mahalanobis" in rep_detectors else 0.0
        if body_frame is None:
            body_frame = chosen["body_frame"] and bool(imu_groups(channels))
    return rep_detectors, 0.0 if enrolment_baseline is None else enrolment_baseline, bool(body_frame)


def _check_enrolment_baseline(weight: object, has_enrolment: bool, fused: tuple[str, ...] | None) -> float:
    """The weight as a float, or ``ValueError`` saying why it cannot be used."""
    weight = non_negative_number("enrolment_baseline", weight, MAX_BASELINE_WEIGHT)
    if not weight:
        return weight
    if not has_enrolment:
        raise ValueError("enrolment_baseline needs enrolment (one flag per segment) and groups: the baseline "
                         "is measured on each athlete's enrolment reps")
    if "rep_mahalanobis" not in (fused or DEFAULT_REP_FUSION):
        raise ValueError(f"enrolment_baseline adjusts rep_mahalanobis, which rep_detectors {list(fused or DEFAULT_REP_FUSION)} "
                         "does not fuse; add it")
    return weight


def _prepare(arrays, geometry: Geometry, groups, enrolled: list[bool]):
    if groups is None:
        keys = [None] * len(arrays)
        profiles = {None: _zero_profile(geometry)}
    else:
        keys = list(groups)
        profiles = {
            g: enrolment_profile([a for a, k, e in zip(arrays, keys, enrolled) if k == g and e], geometry, f"athlete {g!r}")
            for g in set(keys)
        }
    records = [prepare_segment(a, geometry, profiles[k]) for a, k in zip(arrays, keys)]
    skipped = SkipCounts()
    for record in records:
        skipped.add(record.skipped)
    if skipped.total:
        log.warning("training data: %d windows skipped (%s)", skipped.total, skipped.as_dict())
    return records


def _zero_profile(geometry: Geometry) -> AthleteProfile:
    return AthleteProfile.identity(
        geometry.n_channels, len(window_feature_names(geometry.channels)), len(geometry.rep_feature_names)
    )


def _write_parts(staging: Path, final, calibration) -> dict:
    components = final.components
    joblib.dump(final.estimators, staging / DETECTORS_FILE, compress=3)
    arrays = {**calibration.window.to_arrays("window"), **calibration.rep.to_arrays("rep")}
    np.savez(staging / CALIBRATION_FILE, **arrays)
    libraries = {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
                 "joblib": joblib.__version__}
    manifest = {
        "detectors": {"file": DETECTORS_FILE, "window": list(components.window_detectors),
                      "rep": list(components.rep_fusion), "rep_baseline_weight": components.rep_baseline_weight},
        "autoencoder": None,
        "scalers": {"channels": components.channel_scaler.to_manifest(),
                    "window_features": components.window_scaler.to_manifest(),
                    "rep_features": components.rep_scaler.to_manifest()},
        "norms": {"window_median": components.window_median.tolist(), "window_spread": components.window_spread.tolist(),
                  "rep_median": components.rep_median.tolist(), "rep_spread": components.rep_spread.tolist()},
        "calibration": {"file": CALIBRATION_FILE, "method": calibration.method, "folds": calibration.n_folds,
                        "window_samples": int(calibration.window.fused.scores.size),
                        "rep_samples": int(calibration.rep.fused.scores.size)},
        "libraries": libraries,
    }
    if final.trained_autoencoder is not None:
        from models.anomaly.autoencoder_training import (
            check_agreement,
            export_tflite,
            tensorflow_version,
        )

        tflite = export_tflite(final.trained_autoencoder)
        sample = final.autoencoder_inputs[:: max(1, len(final.autoencoder_inputs) // 32)]
        agreement = check_agreement(final.trained_autoencoder, tflite, sample)
        (staging / AUTOENCODER_FILE).write_bytes(tflite)
        spec = final.trained_autoencoder.spec
        manifest["autoencoder"] = {"file": AUTOENCODER_FILE, "steps": spec.steps, "units": spec.units,
                                   "epochs": spec.epochs, "final_loss": final.trained_autoencoder.final_loss,
                                   "keras_tflite_max_abs_diff": agreement}
        libraries["tensorflow"] = tensorflow_version()
    libraries["python_implementation"] = sys.implementation.name
    return manifest
