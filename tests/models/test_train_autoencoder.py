"""LSTM autoencoder training and TFLite export (needs the ``train`` extra; CI installs it)."""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from models.anomaly import fit_bundle, load_bundle
from models.anomaly.autoencoder_runtime import AutoencoderRuntime
from models.anomaly.autoencoder_training import (
    AGREEMENT_TOLERANCE,
    AutoencoderSpec,
    check_agreement,
    export_tflite,
    train_autoencoder,
)
from models.anomaly.synthetic import synthetic_reps
from tests.support.anomaly_data import assert_scoring_without_tensorflow

CHANNELS = ("ax", "ay", "az")


def test_exported_tflite_uses_builtin_ops_and_matches_keras(tmp_path):
    rng = np.random.default_rng(0)
    windows = rng.uniform(size=(64, 16, 3))
    trained = train_autoencoder(windows, AutoencoderSpec(steps=16, channels=3, units=8, epochs=2), seed=0)
    flatbuffer = export_tflite(trained)
    assert check_agreement(trained, flatbuffer, windows[:8]) <= AGREEMENT_TOLERANCE
    path = tmp_path / "ae.tflite"
    path.write_bytes(flatbuffer)
    runtime = AutoencoderRuntime(path)  # the box's interpreter has no Flex delegate: builtin ops only
    assert (runtime.steps, runtime.n_channels) == (16, 3)
    expected = np.mean((trained.model.predict(windows[:4], verbose=0) - windows[:4]) ** 2, axis=1)
    np.testing.assert_allclose(runtime.channel_errors(windows[:4]), expected, atol=1e-5)


def test_bundle_with_autoencoder_scores_and_attributes_channels(tmp_path):
    reps = synthetic_reps(12, seed=1, n_channels=3)
    path = fit_bundle(reps, CHANNELS, 100.0, tmp_path / "bundle", ae_epochs=2, ae_units=8, n_folds=2)
    manifest = json.loads((path / "manifest.json").read_text())
    assert "autoencoder.tflite" in manifest["files"]
    assert manifest["autoencoder"]["keras_tflite_max_abs_diff"] <= AGREEMENT_TOLERANCE
    assert "tensorflow" in manifest["libraries"]
    assert sum(p.stat().st_size for p in path.iterdir()) < 2_000_000

    model = load_bundle(path, expect_channels=CHANNELS, expect_rate=100.0)
    rep = synthetic_reps(1, seed=2, n_channels=3)[0]
    rep[:, 2] += np.random.default_rng(3).normal(scale=1.0, size=len(rep))
    decision = model.rep_decision(rep)
    # The autoencoder informs the window decision and the attribution; the rep decision fuses
    # the rep-level detectors only (pipeline.Components.rep_fusion).
    assert set(decision.p_values) == set(manifest["detectors"]["rep"]) == {
        "rep_iforest", "rep_ocsvm", "rep_extent"}
    channels = decision.attribution["channels"]
    assert channels[0][0] == "az", "noise was injected on az, so its reconstruction error share is largest"
    assert sum(share for _, share in channels) == pytest.approx(1.0, abs=1e-3)
    window = model.score_window(rep[: model.window_len])
    assert set(window.p_values) == {"autoencoder", "iforest", "ocsvm"}
    assert_scoring_without_tensorflow(path, len(CHANNELS))


def test_rep_decision_can_still_fuse_the_autoencoder(tmp_path):
    """``rep_autoencoder=True`` (and older bundles that list it) keep the mean reconstruction
    error in the rep decision; the choice travels in the manifest."""
    reps = synthetic_reps(12, seed=1, n_channels=3)
    path = fit_bundle(reps, CHANNELS, 100.0, tmp_path / "bundle", ae_epochs=2, ae_units=8,
                      n_folds=2, rep_autoencoder=True)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["detectors"]["rep"][-1] == "autoencoder_mean"
    model = load_bundle(path, expect_channels=CHANNELS, expect_rate=100.0)
    decision = model.rep_decision(synthetic_reps(1, seed=2, n_channels=3)[0])
    assert set(decision.p_values) == set(manifest["detectors"]["rep"])
