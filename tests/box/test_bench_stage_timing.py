"""scripts/bench's per-stage timing (edge_agent/daemon/stage_timing.py), run as the benchmark
runs it: one replay of its set through `scripts/bench --replay-run`, with and without
`--stages`. Asserts what the timing covers and that it changes nothing the daemon does; no
timing figure is asserted."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "scripts" / "bench"
LOOP_STAGES = {"handle", "ingest", "decision", "window", "score", "rules", "resample", "model",
               "screen", "features", "scale", "detector_autoencoder", "detector_iforest", "detector_ocsvm", "fusion",
               "attribution", "feedback", "hand_on", "store_submit_frames", "set_frames_kept",
               "segmentation"}
WORKER_STAGES = {"rep_job", "rep_set_so_far", "rep_analysis", "rep_model_decision",
                 "rep_store_live_rep", "rep_store_feedback", "session_end_analysis",
                 "session_end_analysis/rep_analysis", "session_end_analysis/rep_model_decision"}


def replay(*extra: str) -> dict:
    proc = subprocess.run([sys.executable, str(BENCH), "--replay-run", str(REPO), *extra],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs() -> tuple[dict, dict]:
    if not (REPO / "models" / "bundles" / "default" / "manifest.json").exists():
        pytest.skip("no shipped model bundle: the stages of the model path cannot be timed")
    return replay(), replay("--stages")


def test_timing_changes_nothing_the_daemon_decides_or_says(runs):
    plain, timed = runs
    assert plain["outcome"] == timed["outcome"]
    assert plain["outcome"]["reps_analysed"] == 12
    assert plain["outcome"]["decisions"] == pytest.approx(10 * plain["sensor_s"], abs=2)
    assert "stages" not in plain


def test_every_stage_of_this_daemon_is_timed_on_the_thread_that_runs_it(runs):
    _, timed = runs
    stages = timed["stages"]
    assert timed["stages_absent"] == []
    assert LOOP_STAGES <= set(stages["loop"])
    assert WORKER_STAGES <= set(stages["session-worker"])
    assert {"store_encode_chunks", "store_commit"} <= set(stages["store-writer"])
    decisions = timed["outcome"]["decisions"]
    assert stages["loop"]["decision"]["calls"] == decisions
    assert stages["loop"]["model"]["calls"] == stages["loop"]["score"]["calls"] == decisions
    assert stages["session-worker"]["rep_job"]["calls"] == 12
    for per_thread in stages.values():
        for figures in per_thread.values():
            assert figures["calls"] > 0
            assert 0 <= figures["median_ms"] <= figures["p99_ms"]
            assert figures["cpu_ms_per_sensor_s"] >= 0 and figures["wall_ms_per_sensor_s"] >= 0


def test_the_reference_workload_and_cpu_time_are_reported(runs):
    plain, _ = runs
    assert plain["reference_s"] > 0 and 0 < plain["steady_cpu_s"]
    assert plain["end_s"] > 0 and plain["whole_s"] >= plain["steady_s"]
