"""The scoring pipeline shared by fitting (out-of-fold calibration) and the box's runtime.

segment --(minus athlete channel offset)--> windows --> window features --(minus athlete
feature centre, MinMax)--> IsolationForest / One-Class SVM; windows --(MinMax, resample)-->
autoencoder; whole segment --> rep features --(centre, MinMax)--> rep IsolationForest /
One-Class SVM / norm deviation. Every stage is numpy except the fitted sklearn objects,
which are only read (compiled) here.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from models.anomaly.body_frame import body_frame_feature_names, body_frame_features
from models.anomaly.detectors import (
    CompiledIsolationForest,
    CompiledMahalanobis,
    CompiledOneClassSVM,
)
from models.anomaly.features import (
    rep_feature_names,
    rep_features,
    window_feature_names,
    window_features,
)
from models.anomaly.scaler import MinMaxParams
from models.anomaly.windows import SkipCounts, resample_steps, screen_windows, sliding_windows

AutoencoderErrors = Callable[[np.ndarray], np.ndarray]
"""Scaled windows (n, steps, C) -> per-channel reconstruction MSE (n, C)."""

ROBUST_Z_FLOOR = 1e-3
EXTENT_SUFFIXES = ("_range", "_std", "duration_s")
REP_DETECTORS = ("rep_iforest", "rep_ocsvm", "rep_extent", "rep_mahalanobis", "autoencoder_mean")
"""Every rep-level detector, by the name the manifest, calibration and reports use."""
DEFAULT_REP_FUSION = ("rep_iforest", "rep_ocsvm", "rep_extent")
"""What older bundles (no ``detectors.rep`` choice beyond these) fuse, and ``fit_bundle``'s default."""

PROFILE_VECTORS = ("channel_offset", "window_feature_centre", "rep_feature_centre")


@dataclass(frozen=True)
class Geometry:
    """How segments are cut into windows and screened."""

    channels: tuple[str, ...]
    sample_rate_hz: float
    window_len: int
    hop: int
    saturation_limits: np.ndarray | None
    body_frame: bool = False
    """Add the body-frame angle curves of each 6-axis IMU to the rep features (``body_frame.py``)."""

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def rep_feature_names(self) -> list[str]:
        extra = body_frame_feature_names(self.channels) if self.body_frame else []
        return rep_feature_names(self.channels) + extra

    def rep_features(self, raw: np.ndarray, centred: np.ndarray) -> np.ndarray:
        """Rep features of one segment: the signal statistics of the offset-centred rep and,
        with ``body_frame``, the angle curves of the raw rep (they need gravity)."""
        base = rep_features(centred, self.sample_rate_hz)
        if not self.body_frame:
            return base
        return np.concatenate([base, body_frame_features(raw, self.channels, self.sample_rate_hz)])


@dataclass(frozen=True)
class AthleteProfile:
    """An athlete's own clean norm; subtracting it removes between-person offsets.

    People differ more than reps (sensor placement, build, style), so a population model
    scores features relative to each athlete's enrolment reps.
    """

    channel_offset: np.ndarray
    window_feature_centre: np.ndarray
    rep_feature_centre: np.ndarray
    rep_distance_baseline: float = 0.0
    """How far the athlete's clean reps lie from their own norm: the 90th percentile of the rep
    Mahalanobis distances of their enrolment reps, each left out of the norm it is scored
    against (``enrolment_baseline.py``).
    Only bundles fitted with ``enrolment_baseline`` use it; 0 elsewhere and in older profiles."""

    @classmethod
    def identity(cls, n_channels: int, n_window_features: int, n_rep_features: int) -> "AthleteProfile":
        return cls(np.zeros(n_channels), np.zeros(n_window_features), np.zeros(n_rep_features))

    def to_dict(self) -> dict[str, list[float] | float]:
        vectors = {key: getattr(self, key).tolist() for key in PROFILE_VECTORS}
        return {**vectors, "rep_distance_baseline": float(self.rep_distance_baseline)}

    @classmethod
    def from_dict(cls, data: dict) -> "AthleteProfile":
        baseline = non_negative_number("rep_distance_baseline", data.get("rep_distance_baseline", 0.0))
        return cls(*(np.asarray(data[key], dtype=np.float64) for key in PROFILE_VECTORS), rep_distance_baseline=baseline)


def non_negative_number(name: str, value: object, upper: float = math.inf) -> float:
    """``value`` as a float in [0, upper] (finite), else ``ValueError`` naming ``name``; bools
    and strings are refused, numpy scalars accepted."""
    problem = f"{name} must be a finite number from 0 to {upper:g}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(problem)
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(problem) from None
    if not (math.isfinite(number) and 0.0 <= number <= upper):
        raise ValueError(problem)
    return number


@dataclass
class PreparedSegment:
    """One segment, centred on an athlete profile, cut into usable windows with features."""

    windows: np.ndarray
    window_features: np.ndarray
    rep_features: np.ndarray | None
    skipped: SkipCounts
    rep_baseline: float = 0.0
    """The profile's ``rep_distance_baseline``, carried to the rep scoring."""
    occasion: Hashable | None = None
    """Which athlete and set the segment came from, when known (``fit_bundle`` with
    ``enrolment``): the rep covariance is then fitted within occasions."""


def segment_windows(segment: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Windows of a segment; a segment shorter than one window is edge-padded to one window."""
    if segment.shape[0] < geometry.window_len:
        pad = geometry.window_len - segment.shape[0]
        return np.pad(segment, ((0, pad), (0, 0)), mode="edge")[None]
    return sliding_windows(segment, geometry.window_len, geometry.hop)


def prepare_segment(segment: np.ndarray, geometry: Geometry, profile: AthleteProfile) -> PreparedSegment:
    """Centre, window, screen and featurise one segment.

    Rep features need the whole rep, so a rep with any bad window gets none (it is skipped as
    a rep, never scored as normal); its good windows are still usable one by one.
    """
    windows = segment_windows(segment, geometry)
    screen = screen_windows(windows, geometry.saturation_limits)
    usable = windows[screen.usable] - profile.channel_offset
    features = window_features(usable, geometry.sample_rate_hz) - profile.window_feature_centre
    rep = None
    whole_rep_ok = screen.usable.all() and screen_windows(segment[None], geometry.saturation_limits).usable[0]
    if whole_rep_ok and segment.shape[0] >= 2:
        rep = centred_rep_features(segment, geometry, profile)
    return PreparedSegment(usable, features, rep, screen.skipped, profile.rep_distance_baseline)


def centred_rep_features(segment: np.ndarray, geometry: Geometry, profile: AthleteProfile) -> np.ndarray:
    """Rep features of a whole, screened rep relative to ``profile``'s norm."""
    return geometry.rep_features(segment, segment - profile.channel_offset) - profile.rep_feature_centre


def compute_profile(segments: Sequence[np.ndarray], geometry: Geometry) -> AthleteProfile:
    """An athlete's norm from their clean segments (bad windows and incomplete reps left out)."""
    finite = [seg[np.isfinite(seg).all(axis=1)] for seg in segments]
    if not any(len(seg) for seg in finite):
        raise ValueError("no finite samples to build an athlete profile from")
    offset = np.concatenate(finite).mean(axis=0)
    uncentred = AthleteProfile(
        offset, np.zeros(len(window_feature_names(geometry.channels))), np.zeros(len(geometry.rep_feature_names))
    )
    prepared = [prepare_segment(seg, geometry, uncentred) for seg in segments]
    window_feats = [p.window_features for p in prepared if len(p.window_features)]
    rep_feats = [p.rep_features for p in prepared if p.rep_features is not None]
    if not rep_feats:
        raise ValueError("no complete clean rep (every rep had a bad window) to build an athlete profile from")
    return AthleteProfile(offset, np.median(np.concatenate(window_feats), axis=0), np.median(np.array(rep_feats), axis=0))


@dataclass
class Components:
    """Everything fitted on one training set, in the form the scorer evaluates."""

    channel_scaler: MinMaxParams
    window_scaler: MinMaxParams
    rep_scaler: MinMaxParams
    window_iforest: CompiledIsolationForest
    window_ocsvm: CompiledOneClassSVM
    rep_iforest: CompiledIsolationForest
    rep_ocsvm: CompiledOneClassSVM
    window_median: np.ndarray
    window_spread: np.ndarray
    rep_median: np.ndarray
    rep_spread: np.ndarray
    extent_index: np.ndarray
    autoencoder: AutoencoderErrors | None
    ae_steps: int
    rep_fusion: tuple[str, ...] = DEFAULT_REP_FUSION
    """The rep detectors whose calibrated tail probabilities are fused into the rep decision
    (``REP_DETECTORS`` names; the manifest's ``detectors.rep``). Every rep detector the bundle
    has is still scored and reported alone (``rep_raw_scores``). ``autoencoder_mean`` is left
    out by default: on the real squat data it was the weakest rep-level member (AUROC
    0.73-0.75) and lowered the fused ranking (docs/models.md); the autoencoder stays in the
    per-window decision and the channel attribution."""
    rep_mahalanobis: CompiledMahalanobis | None = None
    """Shrunk-covariance distance of the rep's robust z-scores; absent from older bundles."""
    rep_baseline_weight: float = 0.0
    """``rep_mahalanobis`` is scored as the distance minus this weight times the athlete's
    ``rep_distance_baseline`` (``fit_bundle(enrolment_baseline=...)``; 0 in older bundles)."""

    @property
    def window_detectors(self) -> tuple[str, ...]:
        return (("autoencoder",) if self.autoencoder else ()) + ("iforest", "ocsvm")

    @property
    def available_rep_detectors(self) -> tuple[str, ...]:
        """Every rep detector this set of components can score."""
        have = {"rep_mahalanobis": self.rep_mahalanobis is not None, "autoencoder_mean": self.autoencoder is not None}
        return tuple(name for name in REP_DETECTORS if have.get(name, True))

    def check_rep_fusion(self) -> None:
        """Refuse a fused rep detector these components cannot score, naming it."""
        missing = [name for name in self.rep_fusion if name not in self.available_rep_detectors]
        if missing or not self.rep_fusion:
            raise ValueError(f"rep detectors {list(self.rep_fusion)}: {missing or 'none'} cannot be scored; "
                             f"available: {list(self.available_rep_detectors)}")

    def autoencoder_input(self, windows: np.ndarray) -> np.ndarray:
        return resample_steps(self.channel_scaler.transform(windows), self.ae_steps)

    def window_scores(self, windows: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, n_window_detectors) anomaly scores and the AE's per-channel errors (or None)."""
        scaled = self.window_scaler.transform(features)
        columns = []
        channel_errors = None
        if self.autoencoder:
            channel_errors = self.autoencoder(self.autoencoder_input(windows))
            columns.append(channel_errors.mean(axis=1))
        columns += [self.window_iforest.anomaly_score(scaled), self.window_ocsvm.anomaly_score(scaled)]
        return np.column_stack(columns), channel_errors

    def window_z(self, features: np.ndarray) -> np.ndarray:
        """Robust z-score of each (scaled) window feature against the clean training windows."""
        return (self.window_scaler.transform(features) - self.window_median) / self.window_spread

    def rep_z(self, rep_feature_vector: np.ndarray) -> np.ndarray:
        """Robust z-score of each (scaled) rep feature against the clean training reps."""
        scaled = self.rep_scaler.transform(rep_feature_vector[None])[0]
        return (scaled - self.rep_median) / self.rep_spread

    def rep_raw_scores(self, rep_feature_vector: np.ndarray, window_ae_scores: np.ndarray | None,
                       baseline: float = 0.0) -> dict[str, float]:
        """Every available rep detector's raw anomaly score (higher = more anomalous);
        ``baseline`` is the athlete's ``rep_distance_baseline``."""
        scaled = self.rep_scaler.transform(rep_feature_vector[None])
        z = self.rep_z(rep_feature_vector)
        scores = {"rep_iforest": float(self.rep_iforest.anomaly_score(scaled)[0]),
                  "rep_ocsvm": float(self.rep_ocsvm.anomaly_score(scaled)[0]),
                  "rep_extent": float(np.sqrt(np.mean(z[self.extent_index] ** 2)))}
        if self.rep_mahalanobis is not None:
            distance = float(self.rep_mahalanobis.anomaly_score(z)[0])
            scores["rep_mahalanobis"] = distance - self.rep_baseline_weight * baseline
        if self.autoencoder is not None and window_ae_scores is not None:
            scores["autoencoder_mean"] = float(np.mean(window_ae_scores))
        return scores

    def rep_scores(self, rep_feature_vector: np.ndarray, window_ae_scores: np.ndarray | None,
                   baseline: float = 0.0) -> np.ndarray:
        """(n_rep_detectors,) anomaly scores of one rep: the fused detectors, in order."""
        return self.fused_rep_scores(self.rep_raw_scores(rep_feature_vector, window_ae_scores, baseline))

    def fused_rep_scores(self, raw_scores: dict[str, float]) -> np.ndarray:
        """The fused detectors' entries of ``rep_raw_scores``, in ``rep_fusion`` order."""
        return np.array([raw_scores[name] for name in self.rep_fusion])


def checked_rep_detectors(names: Sequence[str] | None, autoencoder: bool) -> tuple[str, ...] | None:
    """``names`` as a tuple when they can make a rep decision, else ``ValueError`` naming what
    is wrong: an unknown or repeated name, none at all, or ``autoencoder_mean`` without the
    autoencoder. None stays None (the default fusion)."""
    if names is None:
        return None
    names = tuple(names)
    unknown = [n for n in names if n not in REP_DETECTORS]
    repeated = sorted({n for n in names if names.count(n) > 1})
    problems = ([f"unknown: {unknown}"] if unknown else []) + ([f"repeated: {repeated}"] if repeated else []) + (
        [] if names else ["none named"])
    if problems:
        raise ValueError(f"rep_detectors {list(names)}: {', '.join(problems)}; name at least one of "
                         f"{list(REP_DETECTORS)}, each at most once")
    if "autoencoder_mean" in names and not autoencoder:
        raise ValueError("rep_detectors names autoencoder_mean but autoencoder=False: it needs the autoencoder")
    return names


def extent_feature_index(channels: Sequence[str]) -> np.ndarray:
    """Indices of the rep features that measure how much the rep moved (ROM proxies, duration)."""
    names = rep_feature_names(channels)
    return np.array([i for i, name in enumerate(names) if name.endswith(EXTENT_SUFFIXES)])


def robust_spread(scaled_features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD-based spread (floored so constant features do not divide by zero)."""
    median = np.median(scaled_features, axis=0)
    spread = 1.4826 * np.median(np.abs(scaled_features - median), axis=0)
    return median, np.maximum(spread, ROBUST_Z_FLOOR)
