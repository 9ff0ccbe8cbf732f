"""The box-side anomaly model: a verified bundle turned into per-window and per-rep decisions."""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import joblib
import numpy as np

from models.anomaly.autoencoder_runtime import AutoencoderRuntime
from models.anomaly.bundle import bundle_file, read_verified_manifest
from models.anomaly.detectors import (
    CompiledIsolationForest,
    CompiledMahalanobis,
    CompiledOneClassSVM,
)
from models.anomaly.enrolment_baseline import baseline_distance, leave_one_out_features
from models.anomaly.errors import BundleError, TrainingDataError
from models.anomaly.features import window_feature_names, window_features
from models.anomaly.fitting import MIN_ENROL_REPS
from models.anomaly.fusion import FusionCalibration
from models.anomaly.pipeline import (
    DEFAULT_REP_FUSION,
    AthleteProfile,
    Components,
    Geometry,
    centred_rep_features,
    compute_profile,
    extent_feature_index,
    prepare_segment,
)
from models.anomaly.profile_rep import (
    PROFILE_REP_KEY,
    REPORTED,
    ProfileRep,
    athlete_profile,
    load_profile_rep,
)
from models.anomaly.scaler import MinMaxParams
from models.anomaly.windows import SkipCounts, as_segment, screen_windows
from models.set_drift import bundle_set_alpha, section_alpha
from sensors.frame import PLATFORM_CHANNELS

log = logging.getLogger(__name__)

TOP_FEATURES = 5


@dataclass
class Decision:
    """One scored (or skipped) window or rep.

    ``score`` is ``-log10(fused_p)``: higher is more anomalous; NaN when not scored.
    ``attribution`` is ``{"channels": [(name, share), ...], "features": [(name, z), ...]}``:
    each channel's share of the autoencoder reconstruction error (largest first) and the
    features furthest from the clean norm in robust z units (signed: negative = too little).
    """

    scored: bool
    anomalous: bool
    score: float
    fused_p: float
    p_values: dict[str, float] = field(default_factory=dict)
    attribution: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    skip_reason: str | None = None


WindowDecision = Decision


@dataclass
class RepDecision(Decision):
    n_windows: int = 0
    windows_skipped: dict[str, int] = field(default_factory=dict)
    reconstruction_error: float = math.nan
    """Mean autoencoder reconstruction error over the rep's windows (NaN without one); a raw
    score, reported whether or not the rep decision fuses it."""
    raw_scores: dict[str, float] = field(default_factory=dict)
    """Every rep detector the bundle has, fused or not: its raw score (higher = more
    anomalous), so each can rank reps alone."""


@dataclass
class RepDecisions:
    """Decisions for a batch of segments (``AnomalyModel.decide_segments``), as arrays.

    ``scores``/``fused_p``/``anomalous``/``scored`` have one entry per segment (NaN score and
    not anomalous when a segment was not scored); ``detector_scores[name]`` is each fused
    detector's ``-log10`` tail probability; ``raw_scores[name]`` is the raw score of every rep
    detector the bundle has, fused or not, so any detector alone can rank the same segments.
    """

    decisions: list[RepDecision]
    scores: np.ndarray
    fused_p: np.ndarray
    anomalous: np.ndarray
    scored: np.ndarray
    detector_scores: dict[str, np.ndarray]
    raw_scores: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, decisions: list[RepDecision], detectors: Sequence[str],
           available: Sequence[str] = ()) -> "RepDecisions":
        def column(name: str) -> np.ndarray:
            return np.array([-np.log10(d.p_values[name]) if d.scored else math.nan for d in decisions])

        def raw(name: str) -> np.ndarray:
            return np.array([d.raw_scores.get(name, math.nan) for d in decisions])

        return cls(
            decisions=decisions,
            scores=np.array([d.score for d in decisions]),
            fused_p=np.array([d.fused_p for d in decisions]),
            anomalous=np.array([d.anomalous for d in decisions], dtype=bool),
            scored=np.array([d.scored for d in decisions], dtype=bool),
            detector_scores={name: column(name) for name in detectors},
            raw_scores={name: raw(name) for name in available},
        )

    def __len__(self) -> int:
        return len(self.decisions)


def enrolment_profile(segments: Sequence[np.ndarray], geometry: Geometry, who: str = "the athlete") -> AthleteProfile:
    """An athlete's norm from their clean segments; refuses fewer than ``MIN_ENROL_REPS``
    complete reps (the same rule for ``enrol()`` and for ``fit_bundle``'s enrolment segments)."""
    try:
        profile = compute_profile(segments, geometry)
    except ValueError as exc:
        raise TrainingDataError(f"cannot enrol {who}: {exc}") from None
    complete = sum(prepare_segment(s, geometry, profile).rep_features is not None for s in segments)
    if complete < MIN_ENROL_REPS:
        raise TrainingDataError(
            f"cannot enrol {who}: {complete} complete clean reps of {len(segments)} segments; need at least "
            f"{MIN_ENROL_REPS} (reps with NaN, gaps or saturated values do not count)"
        )
    return profile


def _not_scored(reason: str, decision_type: type = Decision, **extra: Any) -> Any:
    return decision_type(scored=False, anomalous=False, score=math.nan, fused_p=math.nan, skip_reason=reason, **extra)


class AnomalyModel:
    """Scores T×C segments and windows of the bundle's channels at its sample rate."""

    def __init__(
        self,
        manifest: dict[str, Any],
        geometry: Geometry,
        components: Components,
        window_calibration: FusionCalibration,
        rep_calibration: FusionCalibration,
        bundle_dir: Path | None = None,
        profile_rep: ProfileRep | None = None,
    ) -> None:
        self.manifest = manifest
        self.bundle_dir = bundle_dir
        self.geometry = geometry
        self.components = components
        self.window_calibration = window_calibration
        self.rep_calibration = rep_calibration
        self.profile_rep = profile_rep
        """The rep decision used when a profile (overlay) is passed (``profile_rep.py``); None:
        one rep decision for all."""
        self._population_norm = (AthleteProfile.from_dict(manifest["population_norm"])
                                 if profile_rep is not None else None)
        self.false_alarm_rate = float(manifest["calibration"]["false_alarm_rate"])
        self.set_drift_alpha = bundle_set_alpha(manifest)
        """The technique-drift cue's threshold (``models.set_drift``): the bundle's own, else the default."""
        self.athlete_centring = bool(manifest.get("athlete_centring", False))
        self._window_names = window_feature_names(geometry.channels)
        self._rep_names = geometry.rep_feature_names
        self._identity = AthleteProfile.identity(geometry.n_channels, len(self._window_names), len(self._rep_names))
        self._duration_index = self._rep_names.index("duration_s")
        self._platform_mask = np.array([ch in PLATFORM_CHANNELS for ch in geometry.channels])
        self._last_window_profile: tuple[AthleteProfile | None, AthleteProfile | None] = (None, None)
        self._enrolled = False

    @property
    def channels(self) -> tuple[str, ...]:
        return self.geometry.channels

    @property
    def sample_rate_hz(self) -> float:
        return self.geometry.sample_rate_hz

    @property
    def window_len(self) -> int:
        return self.geometry.window_len

    def enrol(self, clean_segments: Sequence[np.ndarray]) -> AthleteProfile:
        """An athlete's profile from their clean reps (e.g. the first set), at least
        ``MIN_ENROL_REPS`` complete ones (else ``TrainingDataError``). The model keeps no
        state: pass the returned profile to every scoring call for that athlete."""
        segments = [as_segment(s, self.geometry.n_channels) for s in clean_segments]
        profile = enrolment_profile(segments, self.geometry)
        if self.profile_rep is not None:
            baseline = athlete_profile(segments, self.geometry, self.profile_rep.components).rep_distance_baseline
            profile = replace(profile, rep_distance_baseline=baseline)
        elif self.components.rep_baseline_weight:
            left_out = leave_one_out_features(segments, self.geometry, profile)
            profile = replace(profile, rep_distance_baseline=baseline_distance(self.components, left_out))
        self._enrolled = True
        return profile

    def _profile(self, profile: AthleteProfile | None) -> AthleteProfile:
        if profile is not None:
            return profile
        if self.athlete_centring:
            if self._enrolled:
                raise ValueError("this bundle scores against the athlete's own norm: pass the profile that enrol() "
                                 "returned, e.g. model.rep_decision(rep, profile)")
            raise ValueError("this bundle scores against the athlete's own norm: profile = model.enrol(clean_reps) "
                             "first, then pass profile to every scoring call")
        return self._identity

    def score_window(self, window: np.ndarray, profile: AthleteProfile | None = None) -> WindowDecision:
        """Decision for one window of ``window_len`` samples (raw channel values)."""
        window = as_segment(window, self.geometry.n_channels)
        if window.shape[0] != self.geometry.window_len:
            raise ValueError(f"window has {window.shape[0]} samples; this bundle uses {self.geometry.window_len}")
        profile = self._window_profile(profile)
        screen = screen_windows(window[None], self.geometry.saturation_limits)
        if not screen.usable[0]:
            reason = "nonfinite" if screen.skipped.nonfinite else "saturated"
            return _not_scored(f"window has {reason} values")
        centred = window[None] - profile.channel_offset
        features = window_features(centred, self.geometry.sample_rate_hz) - profile.window_feature_centre
        scores, channel_errors = self.components.window_scores(centred, features)
        p, fused = self.window_calibration.fused_p(scores)
        z = self.components.window_z(features)[0]
        return self._decision(Decision, p[0], float(fused[0]), self.window_calibration, channel_errors, z, self._window_names)

    def _window_profile(self, profile: AthleteProfile | None) -> AthleteProfile:
        """What of ``profile`` a window is scored with. A bundle centred on each athlete's norm
        uses all of it. On a population bundle an overlay moves windows by the platform
        channels' static offsets only (the athlete's body mass and bar load on the load cells):
        the IMU part is the enrolment session's sensor bias, which a later session need not
        share, and the window feature centre is the median of the enrolment reps' windows,
        which the live windows (rest and set-up included) do not follow. Applying all of it put
        clean deadlift windows over the real-time threshold (issue 26, docs/models.md)."""
        profile = self._profile(profile)
        if self.athlete_centring or profile is self._identity:
            return profile
        cached, shifted = self._last_window_profile
        if cached is not profile:
            shifted = AthleteProfile(np.where(self._platform_mask, profile.channel_offset, 0.0),
                                     np.zeros_like(profile.window_feature_centre),
                                     profile.rep_feature_centre, profile.rep_distance_baseline)
            self._last_window_profile = (profile, shifted)
        return shifted

    def rep_decision(self, segment: np.ndarray, profile: AthleteProfile | None = None, *,
                     score_duration: bool = True) -> RepDecision:
        """Decision for one whole rep. A rep with any bad window is skipped, not scored.

        ``score_duration=False``: the segment's duration says nothing (fixed-length windows that
        are not reps, or a dataset whose tempo is a recording artefact); the duration feature is
        set to the clean norm, so it neither raises the score nor appears in the attribution.
        """
        segment = as_segment(segment, self.geometry.n_channels)
        prepared = prepare_segment(segment, self.geometry, self._profile(profile))
        skipped = prepared.skipped.as_dict()
        if prepared.rep_features is None or not len(prepared.windows):
            return _not_scored(
                f"rep not scored: it holds non-finite or saturated samples ({prepared.skipped.total} bad windows: {skipped})",
                RepDecision,
                n_windows=len(prepared.windows),
                windows_skipped=skipped,
            )
        components, calibration = self.components, self.rep_calibration
        features, baseline = prepared.rep_features, prepared.rep_baseline
        if self.uses_profile_rep(profile):
            components, calibration = self.profile_rep.components, self.profile_rep.calibration
            features = centred_rep_features(segment, self.geometry, self._athlete(profile))
        if not score_duration:
            self._neutral_duration(features, components)
        window_scores, channel_errors = self.components.window_scores(prepared.windows, prepared.window_features)
        ae_scores = window_scores[:, 0] if self.components.autoencoder else None
        raw = components.rep_raw_scores(features, ae_scores, baseline)
        if components is not self.components:
            raw = {name: value for name, value in raw.items() if name in REPORTED}
        p, fused = calibration.fused_p(components.fused_rep_scores(raw)[None])
        errors = None if channel_errors is None else channel_errors.mean(axis=0, keepdims=True)
        z = components.rep_z(features)
        decision = self._decision(RepDecision, p[0], float(fused[0]), calibration, errors, z, self._rep_names)
        decision.n_windows, decision.windows_skipped, decision.raw_scores = len(prepared.windows), skipped, raw
        if ae_scores is not None:
            decision.reconstruction_error = float(np.mean(ae_scores))
        return decision

    def uses_profile_rep(self, profile: AthleteProfile | None) -> bool:
        """Whether a rep scored with ``profile`` gets the profile rep decision (a profile is
        passed and the bundle has one); else the population rep decision, as before."""
        return profile is not None and self.profile_rep is not None

    def drift_alpha(self, profile: AthleteProfile | None = None) -> float:
        """The technique-drift threshold for the rep decision ``profile`` selects
        (``models.set_drift``): the profile decision's own (``profile_rep.set_drift``) when it is
        used and has one, else the bundle's (``set_drift_alpha``)."""
        if self.uses_profile_rep(profile):
            return section_alpha(self.profile_rep.section, self.set_drift_alpha)
        return self.set_drift_alpha

    def _athlete(self, overlay: AthleteProfile) -> AthleteProfile:
        """The athlete's own norm from an overlay (athlete - population) and the population norm."""
        population = self._population_norm
        return AthleteProfile(overlay.channel_offset + population.channel_offset,
                              overlay.window_feature_centre + population.window_feature_centre,
                              overlay.rep_feature_centre + population.rep_feature_centre,
                              overlay.rep_distance_baseline)

    def _neutral_duration(self, features: np.ndarray, components: Components) -> None:
        i, scaler = self._duration_index, components.rep_scaler
        features[i] = (components.rep_median[i] - scaler.min[i]) / scaler.scale[i]

    def decide_segments(self, segments: Sequence[np.ndarray], profile: AthleteProfile | None = None, *,
                        score_duration: bool = True) -> RepDecisions:
        """Rep decisions for many segments in one call: scores to rank, calibrated decisions,
        and every detector's own score (see ``RepDecisions``). Unscored segments are logged."""
        decisions = [self.rep_decision(segment, profile, score_duration=score_duration) for segment in segments]
        skipped = [d for d in decisions if not d.scored]
        if skipped:
            totals = SkipCounts()
            for d in skipped:
                totals.add(SkipCounts(**d.windows_skipped))
            log.warning("%d of %d segments not scored (bad windows: %s)", len(skipped), len(decisions), totals.as_dict())
        calibration = self.profile_rep.calibration if self.uses_profile_rep(profile) else self.rep_calibration
        available = self.components.available_rep_detectors
        if self.uses_profile_rep(profile):
            available = tuple(name for name in available if name in REPORTED)
        return RepDecisions.of(decisions, calibration.detectors, available)

    def score_segments(self, segments: Sequence[np.ndarray], profile: AthleteProfile | None = None, *,
                       score_duration: bool = True) -> np.ndarray:
        """One anomaly score per segment (``-log10`` fused tail probability; higher = more
        anomalous); NaN for a segment that could not be scored (bad windows), never 'normal'."""
        return self.decide_segments(segments, profile, score_duration=score_duration).scores

    def _decision(self, cls, p, fused_p, calibration, channel_errors, z, names):
        channels: list[tuple[str, float]] = []
        if channel_errors is not None:
            share = channel_errors[0] / max(float(channel_errors[0].sum()), 1e-300)
            order = np.argsort(share)[::-1]
            channels = [(self.geometry.channels[i], round(float(share[i]), 4)) for i in order]
        top = np.argsort(np.abs(z))[::-1][:TOP_FEATURES]
        return cls(
            scored=True,
            anomalous=fused_p <= self.false_alarm_rate,
            score=float(-np.log10(fused_p)) + 0.0,
            fused_p=fused_p,
            p_values={name: float(value) for name, value in zip(calibration.detectors, p)},
            attribution={"channels": channels, "features": [(names[i], round(float(z[i]), 2)) for i in top]},
        )


def load_model(
    bundle_dir: Path,
    expect_channels: Sequence[str] | None = None,
    expect_rate: float | None = None,
    signing_key: bytes | None = None,
) -> AnomalyModel:
    """Verify a bundle (checksums, signature, sensors) and only then deserialise its parts."""
    bundle_dir = Path(bundle_dir)
    manifest = read_verified_manifest(bundle_dir, expect_channels, expect_rate, signing_key)
    try:
        geometry, components, window_cal, rep_cal = _build(bundle_dir, manifest)
        profile_rep = None
        if manifest.get(PROFILE_REP_KEY):
            profile_rep = _load_file(bundle_file(bundle_dir, manifest, manifest[PROFILE_REP_KEY]["file"]),
                                     lambda _: load_profile_rep(bundle_dir, manifest, components))
        model = AnomalyModel(manifest, geometry, components, window_cal, rep_cal, bundle_dir, profile_rep)
        model.score_window(np.zeros((geometry.window_len, geometry.n_channels)), model._identity)
    except BundleError:
        raise
    except Exception as exc:  # whatever a bad bundle raises, it is refused
        raise BundleError(f"{bundle_dir}: manifest or bundle contents malformed: "
                          f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    log.info(
        "loaded anomaly bundle %s: %d channels at %.1f Hz, window %d samples, autoencoder %s",
        bundle_dir, geometry.n_channels, geometry.sample_rate_hz, geometry.window_len,
        "on" if components.autoencoder else "off",
    )
    return model


def _load_file(path: Path, load: Callable[[Path], Any]) -> Any:
    """``load(path)``, or ``BundleError`` naming the file (truncated, wrong format, ...)."""
    try:
        return load(path)
    except Exception as exc:  # any loader error means the file is unusable
        raise BundleError(f"{path}: does not load ({type(exc).__name__}: {str(exc)[:200]}); "
                          f"the bundle is corrupt or was built for other libraries") from exc


def _build(bundle_dir: Path, manifest: dict[str, Any]):
    channels = tuple(manifest["channels"])
    limits = manifest.get("saturation_limits")
    geometry = Geometry(
        channels=channels,
        sample_rate_hz=float(manifest["sample_rate_hz"]),
        window_len=int(manifest["window"]["length_samples"]),
        hop=int(manifest["window"]["hop_samples"]),
        saturation_limits=None if limits is None else np.array([np.inf if v is None else v for v in limits], dtype=np.float64),
        body_frame=bool(manifest.get("rep_features", {}).get("body_frame", False)),
    )
    n_window, n_rep = len(window_feature_names(channels)), len(geometry.rep_feature_names)
    scalers, norms = manifest["scalers"], manifest["norms"]
    estimators = _load_file(bundle_file(bundle_dir, manifest, manifest["detectors"]["file"]), joblib.load)
    autoencoder = None
    ae_steps = 0
    if manifest.get("autoencoder"):
        runtime = _load_file(bundle_file(bundle_dir, manifest, manifest["autoencoder"]["file"]), AutoencoderRuntime)
        if runtime.n_channels != geometry.n_channels:
            raise BundleError(f"{bundle_dir}: autoencoder expects {runtime.n_channels} channels, manifest lists {geometry.n_channels}")
        autoencoder, ae_steps = runtime.channel_errors, runtime.steps
    components = Components(
        channel_scaler=MinMaxParams.from_manifest(scalers["channels"], geometry.n_channels, "channels"),
        window_scaler=MinMaxParams.from_manifest(scalers["window_features"], n_window, "window_features"),
        rep_scaler=MinMaxParams.from_manifest(scalers["rep_features"], n_rep, "rep_features"),
        window_iforest=CompiledIsolationForest(estimators["window_iforest"]),
        window_ocsvm=CompiledOneClassSVM(estimators["window_ocsvm"]),
        rep_iforest=CompiledIsolationForest(estimators["rep_iforest"]),
        rep_ocsvm=CompiledOneClassSVM(estimators["rep_ocsvm"]),
        window_median=np.asarray(norms["window_median"], dtype=np.float64),
        window_spread=np.asarray(norms["window_spread"], dtype=np.float64),
        rep_median=np.asarray(norms["rep_median"], dtype=np.float64),
        rep_spread=np.asarray(norms["rep_spread"], dtype=np.float64),
        extent_index=extent_feature_index(channels),
        autoencoder=autoencoder,
        ae_steps=ae_steps,
        rep_fusion=tuple(manifest["detectors"].get("rep") or DEFAULT_REP_FUSION),
        rep_mahalanobis=CompiledMahalanobis(estimators["rep_mahalanobis"]) if "rep_mahalanobis" in estimators else None,
        rep_baseline_weight=_baseline_weight(bundle_dir, manifest),
    )
    components.check_rep_fusion()
    window_cal, rep_cal = _load_file(bundle_file(bundle_dir, manifest, manifest["calibration"]["file"]),
                                     lambda path: _calibrations(path, components))
    return geometry, components, window_cal, rep_cal


def _baseline_weight(bundle_dir: Path, manifest: dict[str, Any]) -> float:
    """``detectors.rep_baseline_weight`` (its range is checked with the other manifest values)."""
    value = manifest["detectors"].get("rep_baseline_weight", 0.0)
    if value and "rep_mahalanobis" not in manifest["detectors"].get("rep", ()):
        raise BundleError(f"{bundle_dir}: detectors.rep_baseline_weight needs rep_mahalanobis in detectors.rep")
    return float(value)


def _calibrations(path: Path, components: Components) -> tuple[FusionCalibration, FusionCalibration]:
    with np.load(path, allow_pickle=False) as arrays:
        return (FusionCalibration.from_arrays(arrays, "window", components.window_detectors),
                FusionCalibration.from_arrays(arrays, "rep", components.rep_fusion))
