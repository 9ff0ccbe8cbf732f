"""Per-window and per-rep feature vectors (numpy only), with stable feature names.

Window features describe the signal's level, spread and roughness in a short window.
Rep features add the rep's extent (range of motion proxy per channel), its duration and the
mean of each channel in each quarter of the rep (posture at descent/bottom/ascent, e.g. trunk
angle through the gravity direction),
because "too little" faults (partial squats) look *more* normal to variance-based
detectors and only show up as a shortfall against the athlete's own norm.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WINDOW_STATS = ("mean", "std", "min", "max", "rms_diff")
REP_STATS = ("mean", "std", "min", "max", "range", "rms_diff")
REP_EXTRA = ("duration_s",)
REP_PHASES = 4


def window_feature_names(channels: Sequence[str]) -> list[str]:
    return [f"{ch}_{stat}" for stat in WINDOW_STATS for ch in channels]


def rep_feature_names(channels: Sequence[str]) -> list[str]:
    phases = [f"{ch}_phase{k}_mean" for k in range(REP_PHASES) for ch in channels]
    return [f"{ch}_{stat}" for stat in REP_STATS for ch in channels] + phases + list(REP_EXTRA)


def window_features(windows: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """Features of a window stack (n, L, C) -> (n, len(WINDOW_STATS) * C)."""
    diff_rms = np.sqrt(np.mean(np.diff(windows, axis=1) ** 2, axis=1)) * sample_rate_hz
    return np.concatenate(
        [windows.mean(axis=1), windows.std(axis=1), windows.min(axis=1), windows.max(axis=1), diff_rms],
        axis=1,
    )


def rep_features(segment: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """Features of one rep segment (T, C) -> (len(REP_STATS) * C + len(REP_EXTRA),)."""
    low, high = segment.min(axis=0), segment.max(axis=0)
    diff_rms = np.sqrt(np.mean(np.diff(segment, axis=0) ** 2, axis=0)) * sample_rate_hz
    per_channel = [segment.mean(axis=0), segment.std(axis=0), low, high, high - low, diff_rms]
    phases = [part.mean(axis=0) for part in np.array_split(segment, REP_PHASES, axis=0)]
    return np.concatenate(per_channel + phases + [np.array([segment.shape[0] / sample_rate_hz])])
