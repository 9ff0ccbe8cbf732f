"""Per-window scoring latency and bundle load time, against the naive sklearn calls.

``run_benchmark`` pins itself to one CPU, loads the bundle repeatedly (``bundle_load_s``), then
scores single windows (wall ``scoring_ms``, and the thread's CPU time ``scoring_cpu_ms``)
through ``AnomalyModel.score_window`` (autoencoder + compiled IsolationForest + compiled
One-Class SVM + fusion + attribution) and, in the same run, the
naive path that calls the fitted sklearn estimators' ``score_samples`` once per window; last,
the per-rep decision of each synthetic rep (``rep_decision_ms``).
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np

from models.anomaly.api import fit_bundle, load_bundle
from models.anomaly.features import window_features
from models.anomaly.synthetic import synthetic_reps
from models.anomaly.windows import sliding_windows

BENCH_CHANNELS = tuple(f"s{s}_{a}" for s in range(3) for a in ("ax", "ay", "az", "gx", "gy", "gz"))
BENCH_RATE = 111.0


def _percentiles(samples_s: list[float], scale: float) -> dict[str, float]:
    values = np.asarray(samples_s) * scale
    return {"median": round(float(np.median(values)), 4), "p99": round(float(np.percentile(values, 99)), 4)}


def _autoencoder_available() -> bool:
    """Whether the ``train`` extra is installed (checked without importing TensorFlow)."""
    return importlib.util.find_spec("tensorflow") is not None


def run_benchmark(bundle_dir: Path | None = None, n_windows: int = 2000, n_naive: int = 200, n_loads: int = 20) -> dict:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory(prefix="liftguard-bench-") as tmp:
        note = f"bundle {bundle_dir}"
        if bundle_dir is None:
            with_ae = _autoencoder_available()
            bundle_dir = fit_bundle(synthetic_reps(40, 0, n_channels=len(BENCH_CHANNELS), sample_rate_hz=BENCH_RATE),
                                    BENCH_CHANNELS, BENCH_RATE, Path(tmp) / "bundle", autoencoder=with_ae, ae_epochs=5)
            note = "synthetic 18-channel bundle" + ("" if with_ae else " WITHOUT autoencoder (tensorflow not installed)")
        load_times = []
        for _ in range(n_loads):
            started = time.perf_counter()
            model = load_bundle(bundle_dir)
            load_times.append(time.perf_counter() - started)
        reps = synthetic_reps(60, 1, "wobble", n_channels=model.geometry.n_channels, sample_rate_hz=model.sample_rate_hz)
        windows = np.concatenate([sliding_windows(r, model.window_len, model.geometry.hop) for r in reps])
        windows = windows[np.arange(n_windows) % len(windows)]
        for window in windows[:50]:
            model.score_window(window)
        fast, fast_cpu = [], []
        for window in windows:
            started, cpu = time.perf_counter(), time.thread_time()
            model.score_window(window)
            fast.append(time.perf_counter() - started)
            fast_cpu.append(time.thread_time() - cpu)
        naive = _naive_times(model, bundle_dir, windows[:n_naive])
        rep_times = []
        for rep in reps:
            started = time.perf_counter()
            model.rep_decision(rep)
            rep_times.append(time.perf_counter() - started)
    scoring = _percentiles(fast, 1e3)
    naive_ms = _percentiles(naive, 1e3)
    return {
        "bundle": note,
        "autoencoder": model.components.autoencoder is not None,
        "windows_scored": len(fast),
        "scoring_ms": scoring,
        "scoring_p99_ms": scoring["p99"],
        # the scoring thread's own CPU time per window: on a shared machine the wall p99 also
        # counts the other processes' turns, this one only the work
        "scoring_cpu_ms": _percentiles(fast_cpu, 1e3),
        "naive_sklearn_ms": naive_ms,
        "speedup_p99_vs_naive": round(naive_ms["p99"] / scoring["p99"], 1),
        "bundle_load_s": _percentiles(load_times, 1.0),
        # the session worker's per-rep decision (every rep detector scored, incl. rep_mahalanobis
        # where the bundle has it); not on the real-time path
        "rep_decision_ms": _percentiles(rep_times, 1e3),
        "rep_detectors": sorted(model.components.available_rep_detectors),
    }


def _naive_times(model, bundle_dir: Path, windows: np.ndarray) -> list[float]:
    """Same windows through the AE + sklearn ``score_samples`` per single row (no fusion)."""
    estimators = joblib.load(Path(bundle_dir) / model.manifest["detectors"]["file"])
    components, times = model.components, []
    for window in windows:
        started = time.perf_counter()
        features = components.window_scaler.transform(window_features(window[None], model.sample_rate_hz))
        if components.autoencoder:
            components.autoencoder(components.autoencoder_input(window[None]))
        estimators["window_iforest"].score_samples(features)
        estimators["window_ocsvm"].score_samples(features)
        times.append(time.perf_counter() - started)
    return times
