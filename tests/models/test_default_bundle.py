"""The default bundle shipped in the repo: verifies, fits the box, small, and scores sensibly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import ANALYSIS_RATE_HZ
from models.anomaly import load_bundle
from models.anomaly.segments import set_segments
from sensors.frame import BOX_CHANNELS
from sensors.simulator import simulate_set

BUNDLE = Path(__file__).resolve().parents[2] / "models" / "bundles" / "default"


@pytest.fixture(scope="module")
def model():
    return load_bundle(BUNDLE, expect_channels=BOX_CHANNELS, expect_rate=ANALYSIS_RATE_HZ)


def test_it_verifies_and_matches_the_box(model):
    manifest = model.manifest
    assert list(model.channels) == list(BOX_CHANNELS)
    assert model.sample_rate_hz == ANALYSIS_RATE_HZ
    assert sorted(manifest["lift_types"]) == ["bench_press", "deadlift", "squat"]
    assert manifest["autoencoder"] is not None and model.components.autoencoder is not None
    assert manifest["autoencoder"]["keras_tflite_max_abs_diff"] <= 1e-5
    assert 0 < manifest["realtime"]["window_p_threshold"] < model.false_alarm_rate
    assert manifest["population_norm"]
    assert "tensorflow" in manifest["libraries"] and manifest["training"]["seed"] is not None


def test_it_is_well_under_2_mb():
    size = sum(p.stat().st_size for p in BUNDLE.iterdir() if p.is_file())
    assert size < 2 * 1024 * 1024, f"{size} bytes"


@pytest.mark.parametrize("lift, fault", [("squat", "tremor"), ("bench_press", "lateral_sway"),
                                         ("deadlift", "fast_eccentric")])
def test_faulty_reps_score_higher_than_the_clean_reps_of_the_same_set(model, lift, fault):
    sset = simulate_set(lift, reps=6, faults={3: fault, 5: fault}, seed=41)
    cut = set_segments(sset.frames, lift, model.channels, model.sample_rate_hz)
    faulty_windows = [(r.fault_onset_s, r.end_s) for r in sset.reps if r.fault]
    is_faulty = [any(min(end, b) - max(start, a) > 0 for a, b in faulty_windows) for start, end in cut.rep_bounds_s]
    scores = model.score_segments(cut.reps)
    assert any(is_faulty) and not all(is_faulty)
    faulty = scores[np.array(is_faulty)]
    clean = scores[~np.array(is_faulty)]
    assert np.isfinite(scores).all()
    assert faulty.mean() > clean.mean()
    assert faulty.min() > np.median(clean)
