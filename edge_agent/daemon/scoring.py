"""The real-time decision: the anomaly bundle when one is installed, else the metric rules.

This is the one place that knows about ``models.anomaly``. Both scorers return an alert
probability for ``FeedbackDispatcher.on_decision`` (whose hysteresis is ``alert_on`` /
``alert_off``):

* model: ``1 - fused_p`` of the window decision (``fused_p`` is the calibrated tail
  probability of the window under clean reps);
* rules (``edge_agent.daemon.instability``): ``alert_on * severity`` clipped to 1, so a check
  at its threshold enters the alert state and the state is left once every check is below
  ``alert_off / alert_on`` of its threshold. Not a probability, and /status says so.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from sensors.frame import Frame

from edge_agent.daemon.instability import InstabilityRules

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
    kind = "model"
    needs_frames = True

    def __init__(self, model: Any, bundle_dir: Path) -> None:
        self.model = model
        self.bundle_dir = bundle_dir

    def score(self, window: Window) -> Score:
        from models import align_frames

        if not window.frames:
            return Score(math.nan, "no frames")
        sig = align_frames(window.frames, rate_hz=self.model.sample_rate_hz)
        if not sig.has(*self.model.channels) or len(sig.t) < self.model.window_len:
            return Score(math.nan, "window too short or channels missing")
        rows = sig.stack(self.model.channels)[-self.model.window_len:]
        d = self.model.score_window(rows)
        if not d.scored:
            return Score(math.nan, d.skip_reason)
        top = d.attribution.get("channels") or d.attribution.get("features") or []
        reason = ("unusual movement, mostly in " + ", ".join(n for n, _ in top[:2])) if top else None
        return Score(1.0 - d.fused_p, reason)

    def reset(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "bundle": str(self.bundle_dir),
                "channels": list(self.model.channels), "sample_rate_hz": self.model.sample_rate_hz}


def make_scorer(bundle_dir: Path, alert_on: float,
                signing_key: bytes | None = None) -> tuple[Scorer, dict[str, Any] | None, str | None]:
    """(scorer, model description or None, why there is no model)."""
    if not (bundle_dir / "manifest.json").exists():
        reason = (f"no model bundle at {bundle_dir}: real-time decisions use the metric rules "
                  f"only (bar tilt, lateral sway)")
        log.warning("%s", reason)
        return RuleScorer(alert_on), None, reason
    from models.anomaly import BundleError, load_bundle

    try:
        model = load_bundle(bundle_dir, signing_key=signing_key)
    except (BundleError, ValueError, OSError) as exc:
        reason = f"model bundle {bundle_dir} refused ({exc}): using the metric rules only"
        log.warning("%s", reason)
        return RuleScorer(alert_on), None, reason
    scorer = ModelScorer(model, bundle_dir)
    log.info("real-time decisions use the model bundle %s", bundle_dir)
    return scorer, scorer.describe(), None
