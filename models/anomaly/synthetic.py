"""Synthetic squat-like reps for tests and benchmarks (not a physics model; the simulator is).

A clean rep is a smooth down-up profile on every channel with per-rep jitter in duration,
depth and sensor noise. Faults change what real faults change: ``partial`` shrinks the range
of motion, ``wobble`` adds a lateral oscillation on one channel.
"""
from __future__ import annotations

import numpy as np

DEFAULT_CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")


def synthetic_rep(
    rng: np.random.Generator,
    n_channels: int = len(DEFAULT_CHANNELS),
    sample_rate_hz: float = 100.0,
    fault: str | None = None,
    wobble_channel: int = 0,
) -> np.ndarray:
    duration = rng.uniform(2.0, 2.6)
    n = int(duration * sample_rate_hz)
    phase = np.linspace(0.0, 1.0, n)[:, None]
    depth = rng.uniform(0.9, 1.1) * (0.45 if fault == "partial" else 1.0)
    gains = np.linspace(1.0, 2.0, n_channels)[None, :]
    profile = depth * gains * np.sin(np.pi * phase) ** 2 * np.cos(np.pi * phase * np.arange(1, n_channels + 1)[None, :] / 3)
    rep = profile + 0.03 * rng.normal(size=(n, n_channels))
    if fault == "wobble":
        t = np.arange(n) / sample_rate_hz
        rep[:, wobble_channel] += 0.6 * np.sin(2 * np.pi * 6.0 * t)
    return rep


def synthetic_reps(
    count: int, seed: int, fault: str | None = None, n_channels: int = len(DEFAULT_CHANNELS), sample_rate_hz: float = 100.0
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [synthetic_rep(rng, n_channels, sample_rate_hz, fault) for _ in range(count)]
