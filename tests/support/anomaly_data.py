"""Athletes and reps the anomaly-model tests fit and score."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

CHANNELS = ("hip_pitch", "hip_roll", "knee_pitch", "knee_roll")


RATE = 100.0


def _rep(rng, n=None, depth=1.0, offset=0.0):
    n = n or int(rng.uniform(1.8, 2.4) * RATE)
    phase = np.linspace(0.0, 1.0, n)[:, None]
    signal = depth * np.array([[1.0, 0.3, 1.6, 0.4]]) * np.sin(np.pi * phase) ** 2
    return signal + offset + 0.03 * rng.normal(size=signal.shape)


def _athletes(rng, n_athletes, reps_each=16):
    segments, groups = [], []
    for athlete in range(n_athletes):
        offset = rng.normal(0.0, 0.5, len(CHANNELS))
        segments += [_rep(rng, offset=offset) for _ in range(reps_each)]
        groups += [athlete] * reps_each
    return segments, groups


def assert_scoring_without_tensorflow(bundle_dir, n_channels: int) -> None:
    """Load and score in a fresh interpreter; fail if TensorFlow got imported on the way."""
    script = (
        "import sys\n"
        "from models.anomaly import load_bundle\n"
        "from models.anomaly.synthetic import synthetic_reps\n"
        f"m = load_bundle({str(bundle_dir)!r})\n"
        f"m.score_segments(synthetic_reps(2, seed=0, n_channels={n_channels}))\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
