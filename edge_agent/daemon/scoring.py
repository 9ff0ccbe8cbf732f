"""The real-time decision: the anomaly bundle when one is installed, else the metric rules.

This is the one place that knows about ``models.anomaly``. Both scorers return an alert
probability for ``FeedbackDispatcher.on_decision`` (whose hysteresis is ``alert_on`` /
``alert_off``):

* model (``ModelScorer``): the window's calibrated tail probability mapped so that
  ``alert_on`` is reached at the bundle's real-time threshold, fused with the rules (max);
* rules (``edge_agent.daemon.instability``): ``alert_on * severity`` clipped to 1, so a check
  at its threshold enters the alert state and the state is left once every check is below
  ``alert_off / alert_on`` of its threshold. Not a probability, and /status says so.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from edge_agent.daemon.instability import InstabilityRules
from models.feedback_text import attribution_reason
from sensors.frame import BOX_CHANNELS, IMU_CHANNELS, PLATFORM_CHANNELS, Frame

log = logging.getLogger(__name__)


@dataclass
class Window:
    """The latest window at one decision: rows per source (oldest first) with their times."""

    end_ns: int
    imu: np.ndarray          # (n, 6) ax ay az gx gy gz
    imu_t_ns: np.ndarray
    platform: np.ndarray     # (m, 4) f_fl f_fr f_rl f_rr
    platform_t_ns: np.ndarray
    frames: Sequence[Frame]  # the same frames, for scorers that resample


@dataclass
class Score:
    probability: float       # NaN when the window could not be scored
    reason: str | None = None


class Scorer(Protocol):
    kind: str
    needs_frames: bool   # whether score() reads Window.frames (else they are not gathered)

    def score(self, window: Window) -> Score: ...
    def reset(self) -> None: ...
    def describe(self) -> dict[str, Any]: ...


class RuleScorer:
    kind = "rules"
    needs_frames = False

    def __init__(self, alert_on: float) -> None:
        self.alert_on = alert_on
        self.rules = InstabilityRules()

    def score(self, window: Window) -> Score:
        d = self.rules.evaluate(window.imu, window.imu_t_ns, window.platform,
                                window.platform_t_ns, window.end_ns)
        if not d.evaluated:
            return Score(0.0)
        if not math.isfinite(d.severity):
            return Score(math.nan, "bad samples in the window")
        top = d.top
        return Score(min(1.0, self.alert_on * d.severity),
                     top.describe() if top is not None and top.severity >= 1 else None)

    def reset(self) -> None:
        self.rules.reset()

    def describe(self) -> dict[str, Any]:
        from edge_agent.daemon.instability import THRESHOLDS
        return {"kind": self.kind, "thresholds": dict(THRESHOLDS)}


class ModelScorer:
    """The bundle's per-window decision fused with the metric rules (different evidence).

    Each hop the loop's window rows (already numpy, with times) are resampled onto the model's
    grid -- ``window_len`` samples at its rate, ending at the decision time -- with
    ``np.interp`` per channel; a stretch with no sample for longer than ``MAX_GAP_S`` is NaN,
    so the model skips the window (counted as unscored) instead of calling it normal. The
    model's alert probability is ``alert_on * log10(fused_p) / log10(threshold)``, clipped to
    [0, 1], with the real-time threshold calibrated on clean held-out sets
    (``models.anomaly.realtime``); the rules give theirs as in ``RuleScorer``. The decision is
    the larger of the two, so either kind of evidence alone can raise an alert; the reason is
    the rule's when a rule fires (it names the metric and value), else the model's attribution.
    """

    kind = "model"
    needs_frames = False
    MAX_GAP_S = 0.05

    def __init__(self, model: Any, bundle_dir: Path, alert_on: float,
                 profile_for: Callable[[], Any] | None = None) -> None:
        from models.anomaly.realtime import realtime_threshold

        self.model = model
        self.bundle_dir = bundle_dir
        self.alert_on = alert_on
        self.rules = RuleScorer(alert_on)
        self.profile_for = profile_for or (lambda: None)
        self.profile: Any = None
        self.threshold = realtime_threshold(model) or model.false_alarm_rate * FALLBACK_THRESHOLD_FACTOR
        self._log_threshold = math.log10(self.threshold)
        n = model.window_len
        self._offsets_ns = np.round((np.arange(n) - (n - 1)) * 1e9 / model.sample_rate_hz).astype(np.int64)
        self._columns = [_source_column(ch) for ch in model.channels]

    def score(self, window: Window) -> Score:
        rule, model = self.rules.score(window), self._model_score(window)
        if math.isnan(model.probability):
            return rule if not math.isnan(rule.probability) else model
        if math.isnan(rule.probability):
            return model
        # A firing rule names the metric and its value, so its reason is preferred.
        reason = rule.reason if rule.probability >= self.alert_on else model.reason
        return Score(max(rule.probability, model.probability), reason)

    def window_rows(self, window: Window) -> np.ndarray:
        """The model's input: ``window_len`` rows at its rate ending at ``window.end_ns``."""
        grid = window.end_ns + self._offsets_ns
        sources = {"imu": (window.imu, window.imu_t_ns), "platform": (window.platform, window.platform_t_ns)}
        resampled = {name: _resample(rows, t, grid, self.MAX_GAP_S) for name, (rows, t) in sources.items()}
        return np.column_stack([resampled[src][:, col] for src, col in self._columns])

    def _model_score(self, window: Window) -> Score:
        d = self.model.score_window(self.window_rows(window), self.profile)
        if not d.scored:
            return Score(math.nan, d.skip_reason)
        probability = self.alert_on * math.log10(max(d.fused_p, 1e-300)) / self._log_threshold
        probability = min(1.0, max(0.0, probability))
        return Score(probability, attribution_reason(d.attribution) if probability >= self.alert_on else None)

    def reset(self) -> None:
        self.rules.reset()
        self.profile = self.profile_for()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "bundle": str(self.bundle_dir), "channels": list(self.model.channels),
                "sample_rate_hz": self.model.sample_rate_hz, "window_p_threshold": self.threshold,
                "fused_with": self.rules.describe(), "athlete_overlay": self.profile is not None}


FALLBACK_THRESHOLD_FACTOR = 1e-2
"""Without a calibrated real-time threshold in the manifest: the bundle's per-window
false-alarm rate divided by about the number of decisions in a rep (it decides every hop)."""


def _source_column(channel: str) -> tuple[str, int]:
    if channel in IMU_CHANNELS:
        return "imu", IMU_CHANNELS.index(channel)
    if channel in PLATFORM_CHANNELS:
        return "platform", PLATFORM_CHANNELS.index(channel)
    raise ValueError(f"bundle channel {channel!r} is not a channel of this box ({', '.join(BOX_CHANNELS)})")


def _resample(rows: np.ndarray, t_ns: np.ndarray, grid_ns: np.ndarray, max_gap_s: float) -> np.ndarray:
    """Linear interpolation of ``rows`` (all columns at once) at ``grid_ns``; NaN outside the
    samples or inside a gap longer than ``max_gap_s``."""
    if rows.shape[0] < 2:
        return np.full((grid_ns.size, rows.shape[1]), np.nan)
    right = np.clip(np.searchsorted(t_ns, grid_ns, side="left"), 1, t_ns.size - 1)
    t_left, t_right = t_ns[right - 1], t_ns[right]
    span = (t_right - t_left).astype(np.float64)
    weight = np.clip((grid_ns - t_left) / np.maximum(span, 1.0), 0.0, 1.0)[:, None]
    out = rows[right - 1] * (1.0 - weight) + rows[right] * weight
    half_gap = max_gap_s * 5e8
    bad = (grid_ns < t_ns[0] - half_gap) | (grid_ns > t_ns[-1] + half_gap) | (span > 2 * half_gap)
    out[bad] = np.nan
    return out


def make_scorer(bundle_dir: Path, alert_on: float, signing_key: bytes | None = None,
                profile_for: Callable[[], Any] | None = None,
                ) -> tuple[Scorer, dict[str, Any] | None, str | None]:
    """(scorer, model description or None, why there is no model).

    ``profile_for()`` gives the active session's athlete overlay (or None) at each session
    change."""
    if not (bundle_dir / "manifest.json").exists():
        reason = (f"no model bundle at {bundle_dir}: real-time decisions use the metric rules "
                  f"only (bar tilt, lateral sway)")
        log.warning("%s", reason)
        return RuleScorer(alert_on), None, reason
    from models.anomaly import BundleError, load_bundle

    try:
        model = load_bundle(bundle_dir, signing_key=signing_key)
        scorer = ModelScorer(model, bundle_dir, alert_on, profile_for)
    except (BundleError, ValueError, OSError) as exc:
        reason = f"model bundle {bundle_dir} refused ({exc}): using the metric rules only"
        log.warning("%s", reason)
        return RuleScorer(alert_on), None, reason
    except Exception as exc:  # a bundle must never keep the daemon from starting
        reason = (f"model bundle {bundle_dir} failed to load ({type(exc).__name__}: {exc}): "
                  f"using the metric rules only")
        log.exception("%s", reason)
        return RuleScorer(alert_on), None, reason
    log.info("real-time decisions use the model bundle %s (fused with the metric rules; window "
             "threshold fused_p <= %.3g)", bundle_dir, scorer.threshold)
    return scorer, scorer.describe(), None
