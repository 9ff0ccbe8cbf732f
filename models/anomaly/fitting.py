"""Fit all detectors on clean segments and calibrate them out of fold.

Thresholds set on the data a model was fitted on do not hold (in-sample 5 % became 77-100 %
false alarms on new clean reps in the baseline). Every calibration score here comes from a
model that did not see that segment: K folds by segment, or by athlete when athlete groups
are given. The final detectors are then refitted on all clean data.

TensorFlow is only touched (lazily, through ``models.anomaly.autoencoder_training``) when an autoencoder is fitted.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.anomaly.detectors import (
    CompiledIsolationForest,
    CompiledMahalanobis,
    CompiledOneClassSVM,
    fit_isolation_forest,
    fit_one_class_svm,
    fit_shrunk_covariance,
)
from models.anomaly.errors import TrainingDataError
from models.anomaly.fusion import FusionCalibration
from models.anomaly.pipeline import (
    DEFAULT_REP_FUSION,
    Components,
    Geometry,
    PreparedSegment,
    extent_feature_index,
    robust_spread,
)
from models.anomaly.scaler import MinMaxParams

log = logging.getLogger(__name__)

MIN_CLEAN_WINDOWS = 40
MIN_CLEAN_REPS = 8
MIN_ENROL_REPS = 3
"""Complete clean reps an athlete's norm needs, in ``enrol()`` and in each athlete's enrolment
segments of ``fit_bundle``. The norm is a median (a centre): the spread always comes from the
population, so a short set is enough; ``liftguard calibrate athlete`` asks for the same."""


@dataclass(frozen=True)
class FitOptions:
    seed: int = 0
    autoencoder: bool = True
    ae_steps: int = 32
    ae_units: int = 16
    ae_epochs: int = 40
    rep_autoencoder: bool = False
    rep_detectors: tuple[str, ...] | None = None
    """Rep detectors fused into the rep decision; None: ``DEFAULT_REP_FUSION`` (plus
    ``autoencoder_mean`` with ``rep_autoencoder``)."""
    iforest_trees: int = 100
    ocsvm_nu: float = 0.05
    n_folds: int = 5
    enrolment_baseline: float = 0.0
    """Weight of the athlete's ``rep_distance_baseline`` taken off the rep Mahalanobis distance
    (``enrolment_baseline.py``); 0 leaves the distance as it is."""


@dataclass
class FittedSet:
    components: Components
    estimators: dict[str, Any]
    trained_autoencoder: Any = None
    autoencoder_inputs: np.ndarray | None = field(default=None, repr=False)


def rep_fusion(options: FitOptions) -> tuple[str, ...]:
    """The rep detectors a fit with ``options`` fuses into its rep decision."""
    if options.rep_detectors is not None:
        return tuple(options.rep_detectors)
    return DEFAULT_REP_FUSION + (("autoencoder_mean",) if options.rep_autoencoder and options.autoencoder else ())


def check_enough_data(records: list[PreparedSegment]) -> None:
    n_windows = sum(len(r.windows) for r in records)
    n_reps = sum(r.rep_features is not None for r in records)
    if n_windows < MIN_CLEAN_WINDOWS or n_reps < MIN_CLEAN_REPS:
        raise TrainingDataError(
            f"too little clean training data: {n_windows} usable windows and {n_reps} complete reps; "
            f"need at least {MIN_CLEAN_WINDOWS} windows and {MIN_CLEAN_REPS} reps "
            f"(windows with NaN, gaps or saturated values do not count)"
        )


def fit_components(records: list[PreparedSegment], geometry: Geometry, options: FitOptions) -> FittedSet:
    windows = np.concatenate([r.windows for r in records if len(r.windows)])
    window_feats = np.concatenate([r.window_features for r in records if len(r.windows)])
    rep_records = [r for r in records if r.rep_features is not None]
    rep_feats = np.array([r.rep_features for r in rep_records])
    occasions = [r.occasion for r in rep_records]
    channel_scaler = MinMaxParams.fit(windows.reshape(-1, geometry.n_channels))
    window_scaler = MinMaxParams.fit(window_feats)
    rep_scaler = MinMaxParams.fit(rep_feats)
    scaled_window_feats = window_scaler.transform(window_feats)
    scaled_rep_feats = rep_scaler.transform(rep_feats)
    estimators = {
        "window_iforest": fit_isolation_forest(scaled_window_feats, options.seed, options.iforest_trees),
        "window_ocsvm": fit_one_class_svm(scaled_window_feats, options.ocsvm_nu),
        "rep_iforest": fit_isolation_forest(scaled_rep_feats, options.seed, options.iforest_trees),
        "rep_ocsvm": fit_one_class_svm(scaled_rep_feats, options.ocsvm_nu),
    }
    window_median, window_spread = robust_spread(scaled_window_feats)
    rep_median, rep_spread = robust_spread(scaled_rep_feats)
    estimators["rep_mahalanobis"] = fit_shrunk_covariance((scaled_rep_feats - rep_median) / rep_spread,
                                                          None if None in occasions else occasions)
    components = Components(
        channel_scaler=channel_scaler,
        window_scaler=window_scaler,
        rep_scaler=rep_scaler,
        window_iforest=CompiledIsolationForest(estimators["window_iforest"]),
        window_ocsvm=CompiledOneClassSVM(estimators["window_ocsvm"]),
        rep_iforest=CompiledIsolationForest(estimators["rep_iforest"]),
        rep_ocsvm=CompiledOneClassSVM(estimators["rep_ocsvm"]),
        window_median=window_median,
        window_spread=window_spread,
        rep_median=rep_median,
        rep_spread=rep_spread,
        extent_index=extent_feature_index(geometry.channels),
        autoencoder=None,
        ae_steps=options.ae_steps,
        rep_fusion=rep_fusion(options),
        rep_mahalanobis=CompiledMahalanobis(estimators["rep_mahalanobis"]),
        rep_baseline_weight=options.enrolment_baseline,
    )
    fitted = FittedSet(components, estimators)
    if options.autoencoder:
        from models.anomaly.autoencoder_training import (
            AutoencoderSpec,
            channel_errors,
            train_autoencoder,
        )

        inputs = components.autoencoder_input(windows)
        spec = AutoencoderSpec(options.ae_steps, geometry.n_channels, units=options.ae_units, epochs=options.ae_epochs)
        trained = train_autoencoder(inputs, spec, options.seed)
        components.autoencoder = lambda batch: channel_errors(trained, batch)
        fitted.trained_autoencoder, fitted.autoencoder_inputs = trained, inputs
    return fitted


def score_records(components: Components, records: list[PreparedSegment]) -> tuple[np.ndarray, np.ndarray]:
    """Window score matrix (all usable windows) and rep score matrix (all complete reps)."""
    window_rows, rep_rows = [], []
    for record in records:
        ae_scores = None
        if len(record.windows):
            scores, _ = components.window_scores(record.windows, record.window_features)
            window_rows.append(scores)
            ae_scores = scores[:, 0] if components.autoencoder else None
        if record.rep_features is not None and (ae_scores is not None or not components.autoencoder):
            rep_rows.append(components.rep_scores(record.rep_features, ae_scores, record.rep_baseline))
    return np.concatenate(window_rows), np.array(rep_rows)


def check_fold_groups(name: str, groups: list | None) -> None:
    """Refuse one group (no held-out fold is possible); warn with two (calibration then rests on
    two models, each fitted on half the data)."""
    if groups is None:
        return
    distinct = len(set(groups))
    if distinct < 2:
        raise TrainingDataError(f"{name} has {distinct} distinct value(s); out-of-fold calibration needs at least 2 "
                         f"(3 or more recommended), or pass {name}=None for shuffled folds by segment")
    if distinct < 3:
        message = (f"{name} has only {distinct} distinct values: calibration uses {distinct} folds, one per value; "
                   "3 or more give a steadier threshold")
        log.warning(message)
        warnings.warn(message, UserWarning, stacklevel=3)


def fold_assignment(n_records: int, groups: list | None, n_folds: int, seed: int) -> np.ndarray:
    """Fold index per record: one fold per group (athlete or set) when groups are given, else
    shuffled K-fold by segment (``check_fold_groups`` has refused a single group)."""
    if groups is not None:
        names = sorted(set(groups), key=str)
        return np.array([names.index(g) for g in groups])
    order = np.random.default_rng(seed).permutation(n_records)
    folds = np.empty(n_records, dtype=int)
    folds[order] = np.arange(n_records) % min(n_folds, n_records)
    return folds


@dataclass
class Calibration:
    window: FusionCalibration
    rep: FusionCalibration
    method: str
    n_folds: int
    rep_by_fold: list[np.ndarray] = field(default_factory=list)
    """The rep calibration scores per held-out fold (one athlete or set with groups), in
    ``rep``'s order: the drift-cue threshold draws its pseudo-sets within each."""


def calibrate_out_of_fold(
    records: list[PreparedSegment],
    geometry: Geometry,
    options: FitOptions,
    groups: list | None,
    calibrate_on: list[bool] | None = None,
    rep_held_out: Callable[[Components, list[int]], list[PreparedSegment]] | None = None,
) -> Calibration:
    """Out-of-fold fused calibration; ``calibrate_on`` limits which held-out segments are scored
    (e.g. an athlete's non-enrolment reps, whose drift from the enrolment norm is real).
    ``rep_held_out``, given a fold's components and its held-out segment indices, returns the
    reps that calibrate the rep decision instead (``enrolment_baseline.BothDirections``)."""
    folds = fold_assignment(len(records), groups, options.n_folds, options.seed)
    calibrate_on = calibrate_on or [True] * len(records)
    window_scores, rep_scores = [], []
    for fold in np.unique(folds):
        train = [r for r, f in zip(records, folds) if f != fold]
        held_out = [r for r, f, c in zip(records, folds, calibrate_on) if f == fold and c]
        fitted = fit_components(train, geometry, options)
        if not held_out:
            continue
        w, r = score_records(fitted.components, held_out)
        if rep_held_out is not None:
            r = score_records(fitted.components, rep_held_out(fitted.components, list(np.flatnonzero(folds == fold))))[1]
        window_scores.append(w)
        rep_scores.append(r)
        log.info("calibration fold %d: %d held-out windows, %d held-out reps", fold, len(w), len(r))
    detectors = fitted.components
    by = "group (athlete or set)" if groups is not None else "segment"
    return Calibration(
        window=FusionCalibration.fit(detectors.window_detectors, np.concatenate(window_scores)),
        rep=FusionCalibration.fit(detectors.rep_fusion, np.concatenate([r for r in rep_scores if len(r)])),
        method=f"{len(np.unique(folds))}-fold out-of-fold scores, folds by {by}; empirical survival with "
        "+1 smoothing and exponential tail; Fisher combination calibrated on leave-one-out clean p-values",
        n_folds=int(len(np.unique(folds))),
        rep_by_fold=[r for r in rep_scores if len(r)],
    )
