"""Tail-probability calibration of detector scores and the fusion rule.

Calibration (per detector): a score ``s`` becomes the probability that a *clean* window/rep
scores at least ``s``, estimated from clean calibration scores the detector was not fitted on
(out-of-fold). Inside the bulk this is the empirical survival function with the usual +1
smoothing, ``(1 + #{c >= s}) / (n + 1)``. Above the upper ``tail_fraction`` quantile ``u`` the
survival is modelled as an exponential peaks-over-threshold tail,
``tail_fraction * exp(-(s - u) / beta)`` with ``beta`` the mean excess over ``u`` (the maximum
likelihood fit). The tail keeps p-values ordered beyond the largest calibration score, which
matters when an athlete enrols only ~10 reps and ``1/(n+1)`` would otherwise floor every p.

Fusion: Fisher's statistic ``F = -2 * sum(log p_k)`` over the detectors. F rewards evidence
that several *different* detectors agree on (reconstruction error, isolation depth, kernel
density, distance from the athlete's own norm) and still fires on one very small p. Because
the detectors are correlated, the chi-square law of F does not hold; F is therefore
calibrated the same way as the detectors, against the clean calibration set (leave-one-out
p-values), and the decision is ``fused_p <= false_alarm_rate``. For exchangeable clean data
this keeps the false-alarm rate at about the stated rate (a conformal argument); it does not
hold across athletes or sets that drift, which the evaluation reports.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_P = 1e-12


@dataclass(frozen=True)
class TailCalibration:
    """Sorted clean calibration scores plus the exponential tail beyond their upper quantile."""

    scores: np.ndarray
    tail_start: float
    tail_fraction: float
    tail_scale: float

    @classmethod
    def fit(cls, clean_scores: np.ndarray, tail_fraction: float = 0.2) -> "TailCalibration":
        scores = np.sort(np.asarray(clean_scores, dtype=np.float64))
        if scores.size < 2 or not np.isfinite(scores).all():
            raise ValueError(f"need at least 2 finite calibration scores, got {scores.size}")
        tail_start = float(np.quantile(scores, 1.0 - tail_fraction))
        excess = scores[scores > tail_start] - tail_start
        spread = float(np.std(scores)) or 1.0
        tail_scale = float(excess.mean()) if excess.size and excess.mean() > 0 else spread * 1e-3
        return cls(scores, tail_start, tail_fraction, tail_scale)

    def survival(self, score: np.ndarray) -> np.ndarray:
        """P(clean score >= score), for an array of scores."""
        s = np.asarray(score, dtype=np.float64)
        n = self.scores.size
        at_least = n - np.searchsorted(self.scores, s, side="left")
        empirical = (1.0 + at_least) / (n + 1.0)
        tail = self.tail_fraction * np.exp(np.minimum(0.0, -(s - self.tail_start) / self.tail_scale))
        p = np.where(s > self.tail_start, np.minimum(empirical, tail), empirical)
        return np.clip(p, MIN_P, 1.0)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.scores": self.scores,
            f"{prefix}.tail": np.array([self.tail_start, self.tail_fraction, self.tail_scale]),
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "TailCalibration":
        tail = arrays[f"{prefix}.tail"]
        return cls(np.asarray(arrays[f"{prefix}.scores"], dtype=np.float64), float(tail[0]), float(tail[1]), float(tail[2]))


def fisher_statistic(p_values: np.ndarray) -> np.ndarray:
    """Fisher's combination ``-2 * sum(log p)`` over the last axis."""
    return -2.0 * np.log(np.clip(p_values, MIN_P, 1.0)).sum(axis=-1)


def leave_one_out_p_values(clean_scores: np.ndarray) -> np.ndarray:
    """Each clean score's empirical tail probability against the *other* clean scores.

    Used to build the null distribution of the fused statistic without scoring a calibration
    sample against itself. Columns are detectors, rows samples.
    """
    scores = np.asarray(clean_scores, dtype=np.float64)
    n = scores.shape[0]
    at_least_others = (scores[None, :, :] >= scores[:, None, :]).sum(axis=1) - 1
    return (1.0 + at_least_others) / n


@dataclass(frozen=True)
class FusionCalibration:
    """Per-detector calibrations and the calibration of their fused Fisher statistic."""

    detectors: tuple[str, ...]
    per_detector: dict[str, TailCalibration]
    fused: TailCalibration

    @classmethod
    def fit(cls, detectors: tuple[str, ...], clean_scores: np.ndarray) -> "FusionCalibration":
        """``clean_scores`` is (n_samples, n_detectors) of out-of-fold clean scores."""
        per_detector = {name: TailCalibration.fit(clean_scores[:, k]) for k, name in enumerate(detectors)}
        fused = TailCalibration.fit(fisher_statistic(leave_one_out_p_values(clean_scores)))
        return cls(detectors, per_detector, fused)

    def p_values(self, scores: np.ndarray) -> np.ndarray:
        """(n, n_detectors) scores -> (n, n_detectors) tail probabilities."""
        scores = np.atleast_2d(scores)
        return np.column_stack([self.per_detector[name].survival(scores[:, k]) for k, name in enumerate(self.detectors)])

    def fused_p(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-detector p-values and the fused tail probability for each row of ``scores``."""
        p = self.p_values(scores)
        return p, self.fused.survival(fisher_statistic(p))

    def threshold_statistic(self, false_alarm_rate: float) -> float:
        """The Fisher statistic above which ``fused_p <= false_alarm_rate`` (for the manifest)."""
        grid = np.linspace(0.0, max(200.0, float(self.fused.scores.max()) * 4), 20001)
        above = grid[self.fused.survival(grid) <= false_alarm_rate]
        return float(above[0]) if above.size else float("inf")

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for name, calibration in self.per_detector.items():
            arrays.update(calibration.to_arrays(f"{prefix}.{name}"))
        arrays.update(self.fused.to_arrays(f"{prefix}.fused"))
        return arrays

    @classmethod
    def from_arrays(cls, arrays, prefix: str, detectors: tuple[str, ...]) -> "FusionCalibration":
        per_detector = {name: TailCalibration.from_arrays(arrays, f"{prefix}.{name}") for name in detectors}
        return cls(detectors, per_detector, TailCalibration.from_arrays(arrays, f"{prefix}.fused"))
