"""Fixed-length, fixed-hop windowing of T×C segments and the bad-window screen.

A window holding NaN/inf (a gap in the recording is written as NaN rows) or a value at or
beyond a channel's saturation limit is never scored: it is skipped and counted, so that a
dropout can never pass for a normal window.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SkipCounts:
    """How many windows were left unscored, and why."""

    nonfinite: int = 0
    saturated: int = 0
    too_short: int = 0

    @property
    def total(self) -> int:
        return self.nonfinite + self.saturated + self.too_short

    def add(self, other: "SkipCounts") -> None:
        self.nonfinite += other.nonfinite
        self.saturated += other.saturated
        self.too_short += other.too_short

    def as_dict(self) -> dict[str, int]:
        return {"nonfinite": self.nonfinite, "saturated": self.saturated, "too_short": self.too_short}


def as_segment(segment: np.ndarray, n_channels: int) -> np.ndarray:
    """Validate one segment as a float64 T×C array with the expected number of channels."""
    array = np.asarray(segment, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != n_channels:
        raise ValueError(
            f"segment has shape {array.shape}; expected (samples, {n_channels}) "
            f"with one column per channel"
        )
    return array


def sliding_windows(segment: np.ndarray, window_len: int, hop: int) -> np.ndarray:
    """All windows of ``window_len`` samples every ``hop`` samples, shape (n, window_len, C).

    A segment shorter than one window gives no windows (the caller counts it as too short).
    """
    n_samples = segment.shape[0]
    if n_samples < window_len:
        return np.empty((0, window_len, segment.shape[1]))
    view = np.lib.stride_tricks.sliding_window_view(segment, window_len, axis=0)[::hop]
    return np.ascontiguousarray(view.transpose(0, 2, 1))


@dataclass
class WindowScreen:
    """Result of screening a stack of windows: which are usable, and the skip counts."""

    usable: np.ndarray
    skipped: SkipCounts = field(default_factory=SkipCounts)


def screen_windows(windows: np.ndarray, saturation_limits: np.ndarray | None) -> WindowScreen:
    """Mark windows with non-finite or saturated values as unusable."""
    finite = np.isfinite(windows).all(axis=(1, 2))
    saturated = np.zeros(len(windows), dtype=bool)
    if saturation_limits is not None:
        with np.errstate(invalid="ignore"):
            saturated = (np.abs(windows) >= saturation_limits).any(axis=(1, 2)) & finite
    skipped = SkipCounts(nonfinite=int((~finite).sum()), saturated=int(saturated.sum()))
    return WindowScreen(usable=finite & ~saturated, skipped=skipped)


def resample_steps(windows: np.ndarray, steps: int) -> np.ndarray:
    """Linearly resample windows (n, L, C) to (n, steps, C) for the autoencoder's fixed input."""
    length = windows.shape[1]
    if length == steps:
        return windows
    source = np.linspace(0.0, length - 1.0, steps)
    left = np.floor(source).astype(int)
    right = np.minimum(left + 1, length - 1)
    weight = (source - left)[None, :, None]
    return windows[:, left, :] * (1.0 - weight) + windows[:, right, :] * weight
