"""Detect channels that must not be averaged into metrics: NaN, saturated, frozen or missing.

Checks run on each source's raw samples (before resampling):

* ``nan``: non-finite values.
* ``saturated``: runs of >= ``SATURATION_RUN`` identical samples at the channel's own extreme
  (an ADC pinned at full scale repeats its limit), where that extreme is a standard MPU-6050
  full scale (IMU channels: +-2/4/8/16 g, +-250/500/1000/2000 deg/s, within 0.5 %) or, for
  other channels, lies more than ``SATURATION_SPREAD`` typical sample-to-sample steps from the
  median (a small signal repeating its few-LSB extreme is not saturated).
* ``frozen``: runs of identical values lasting >= ``FROZEN_S`` seconds (a stuck or disconnected
  sensor repeating its last reading).

Flagged samples are set to NaN in place, so resampling treats them as holes. A channel whose
flagged fraction exceeds ``UNUSABLE_FRACTION`` is reported unusable and dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.signals import SourceSamples
from sensors.frame import STANDARD_GRAVITY

SATURATION_RUN = 3
SATURATION_SPREAD = 50.0
FROZEN_S = 0.5
UNUSABLE_FRACTION = 0.5
FULL_SCALES = {  # MPU-6050 selectable ranges in SI units
    **{c: tuple(g * STANDARD_GRAVITY for g in (2, 4, 8, 16)) for c in ("ax", "ay", "az")},
    **{c: tuple(np.radians(d) for d in (250, 500, 1000, 2000)) for c in ("gx", "gy", "gz")},
}


@dataclass(frozen=True)
class ChannelIssue:
    channel: str
    kind: str          # "nan" | "saturated" | "frozen" | "missing"
    fraction: float    # share of the channel's samples affected
    detail: str

    def __str__(self) -> str:
        return f"{self.channel}: {self.kind} ({self.detail})"


def _run_lengths(x: np.ndarray) -> np.ndarray:
    """Length of the run of identical consecutive values each sample belongs to."""
    if x.size == 0:
        return np.zeros(0, np.int64)
    change = np.concatenate(([True], x[1:] != x[:-1]))
    run_id = np.cumsum(change) - 1
    lengths = np.bincount(run_id)
    return lengths[run_id]


def _full_scale_extremes(name: str, finite: np.ndarray) -> list[float]:
    """The channel's minimum and maximum that sit at full scale (module docstring); the
    medians are taken once for both."""
    extremes = (finite.min(), finite.max())
    if name in FULL_SCALES:
        return [x for x in extremes
                if any(abs(abs(x) - fs) <= 0.005 * fs for fs in FULL_SCALES[name])]
    step = float(np.median(np.abs(np.diff(finite)))) if finite.size > 1 else 0.0
    middle = float(np.median(finite))
    return [x for x in extremes if abs(x - middle) > SATURATION_SPREAD * max(step, 1e-12)]


def inspect_channel(name: str, values: np.ndarray, rate_hz: float) -> tuple[np.ndarray, list[ChannelIssue]]:
    """(bad-sample mask, issues) for one channel's raw samples."""
    n = values.size
    issues: list[ChannelIssue] = []
    nan = ~np.isfinite(values)
    finite = values[~nan]
    runs = _run_lengths(np.where(nan, np.inf, values))
    sat = np.zeros(n, bool)
    if finite.size:
        pinned = _full_scale_extremes(name, finite)
        sat = ~nan & (runs >= SATURATION_RUN) & np.isin(values, pinned)
    frozen = ~nan & ~sat & (runs >= max(2, int(round(FROZEN_S * rate_hz))))
    for kind, mask, what in (("nan", nan, "non-finite values"),
                             ("saturated", sat, "pinned at full scale"),
                             ("frozen", frozen, f"identical for >= {FROZEN_S} s")):
        if mask.any():
            issues.append(ChannelIssue(name, kind, float(mask.mean()),
                                       f"{mask.sum()} of {n} samples {what}"))
    return nan | sat | frozen, issues


def clean_source(samples: SourceSamples) -> list[ChannelIssue]:
    """Set flagged samples of every channel to NaN; drop unusable channels. Returns the issues."""
    dt = np.diff(samples.mono_ns)
    rate_hz = 1e9 / float(np.median(dt)) if dt.size else 1.0
    issues: list[ChannelIssue] = []
    for name in list(samples.values):
        bad, found = inspect_channel(name, samples.values[name], rate_hz)
        issues += found
        vals = samples.values[name].copy()
        vals[bad] = np.nan
        if bad.mean() > UNUSABLE_FRACTION:
            del samples.values[name]
            issues.append(ChannelIssue(name, "missing", float(bad.mean()),
                                       f"{bad.mean():.0%} of samples unusable; channel dropped"))
        else:
            samples.values[name] = vals
    return issues
