"""Rule-based "instability now" check on the latest window: the decision used without a model.

Two checks run at every hop while the athlete stands loaded on the platform (total load at
least ``LOADED_FRACTION`` of the session's typical loaded value; always, when there is no
platform):

=================  ===========================================================  ==========
check              value                                                        threshold
=================  ===========================================================  ==========
bar tilt           roll ``asin(-ax/|a|)`` over the last 0.25 s, minus the        5 deg
                   session's median (removes accelerometer offset and mounting)
lateral sway       standard deviation of ``ax`` over the last second             0.35 m/s^2
=================  ===========================================================  ==========

Thresholds come from simulated sets (``scripts/bench`` re-measures them): the largest clean
values over squat, bench press and deadlift sets were 4.3 deg and 0.16 m/s^2; the smallest
injected faults (4 deg tilt, 2.5 cm sway at 0.8 Hz) reach 6 deg and 0.4 m/s^2. Load shifts
(asymmetry, COP) are not judged live: walk-outs and re-racks move the load just as much, so
they are judged per rep, after it, by the rep feedback rules. A check's severity is
value / threshold; the decision is the largest severity.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np

FAST_WINDOW_S = 0.25
SWAY_WINDOW_S = 1.0
LOADED_FRACTION = 0.6
MIN_LOAD_N = 150.0
HISTORY_HOPS = 600
REFRESH_EVERY = 10
"""Session references (median tilt, typical load) are recomputed every this many hops."""

THRESHOLDS = {"tilt_deg": 5.0, "lateral_accel_std_mps2": 0.35}
DESCRIPTIONS = {"tilt_deg": "bar tilting", "lateral_accel_std_mps2": "bar swaying sideways"}


@dataclass(frozen=True)
class Finding:
    check: str
    value: float
    threshold: float

    @property
    def severity(self) -> float:
        return abs(self.value) / self.threshold

    def describe(self) -> str:
        return f"{DESCRIPTIONS[self.check]} ({self.check} {self.value:+.2f}, limit {self.threshold:g})"


@dataclass
class RuleDecision:
    evaluated: bool
    severity: float                      # 0 when nothing is off; >= 1 means a check fired
    findings: list[Finding] = field(default_factory=list)

    @property
    def top(self) -> Finding | None:
        return max(self.findings, key=lambda f: f.severity, default=None)


def bar_tilt_deg(imu: np.ndarray) -> float:
    g = np.linalg.norm(imu[:, :3], axis=1)
    return float(np.degrees(np.mean(np.arcsin(np.clip(-imu[:, 0] / g, -1.0, 1.0)))))


class InstabilityRules:
    """Keeps the session's reference values and evaluates the checks on the latest window."""

    def __init__(self) -> None:
        self._tilts: collections.deque[float] = collections.deque(maxlen=HISTORY_HOPS)
        self._loads: collections.deque[float] = collections.deque(maxlen=HISTORY_HOPS)
        self._n = 0
        self._typical_load = 0.0
        self._level_tilt = 0.0

    def reset(self) -> None:
        self._tilts.clear()
        self._loads.clear()
        self._n = 0

    def _refresh(self) -> None:
        self._n += 1
        if self._n <= REFRESH_EVERY or self._n % REFRESH_EVERY == 0:
            if self._loads:
                self._typical_load = float(np.percentile(self._loads, 90))
            if self._tilts:
                self._level_tilt = float(np.median(self._tilts))

    def _loaded(self, platform: np.ndarray) -> bool:
        if platform.shape[0] == 0:
            return not self._loads   # no platform in this box: always judge
        load = float(platform.sum(axis=1).mean())
        self._loads.append(load)
        return load >= MIN_LOAD_N and load >= LOADED_FRACTION * max(self._typical_load, load)

    def evaluate(self, imu: np.ndarray, imu_t_ns: np.ndarray, platform: np.ndarray,
                 platform_t_ns: np.ndarray, now_ns: int) -> RuleDecision:
        """``imu`` (n, 6) and ``platform`` (m, 4) rows of the latest window with their times."""
        fast = imu[imu_t_ns > now_ns - FAST_WINDOW_S * 1e9]
        if fast.shape[0] < 2 or not self._loaded(platform[platform_t_ns > now_ns - FAST_WINDOW_S * 1e9]):
            return RuleDecision(False, 0.0)
        tilt = bar_tilt_deg(fast)
        self._tilts.append(tilt)
        self._refresh()
        sway = imu[imu_t_ns > now_ns - SWAY_WINDOW_S * 1e9, 0]
        findings = [Finding("tilt_deg", tilt - self._level_tilt, THRESHOLDS["tilt_deg"]),
                    Finding("lateral_accel_std_mps2", float(np.std(sway)),
                            THRESHOLDS["lateral_accel_std_mps2"])]
        return RuleDecision(True, max(f.severity for f in findings), findings)
