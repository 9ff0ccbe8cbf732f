"""Accuracy against the simulator's ground truth: 30 clean sets (3 lifts x 10 seeds) plus one
faulty set per fault type and lift, each compared with the same seed without faults.

Run with ``-s`` to see the figures (also: ``scripts/eval-rep-accuracy``).
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sensors.simulator")

from evaluation.rep_accuracy import FAULT_EFFECTS, simulator_accuracy


@pytest.fixture(scope="module")
def report():
    result = simulator_accuracy(seeds=range(10))
    summary = result.summary()
    printable = {k: v for k, v in summary.items() if k != "fault_checks"}
    print("\nrep analysis vs simulator truth:\n" + json.dumps(printable, indent=1))
    return result, summary


def test_at_least_30_recordings_across_three_lifts(report):
    result, _ = report
    assert result.clean_recordings >= 30 and result.recordings >= 30 + 3 * len(FAULT_EFFECTS)


def test_rep_count_is_exact_on_every_recording(report):
    result, summary = report
    assert result.clean_count_exact == result.clean_recordings, summary["rep_count_mismatches"]
    faulty_wrong = [c for c in result.fault_checks if c["reps_found"] != c["reps_truth"]]
    assert not faulty_wrong


def test_velocity_rom_and_asymmetry_errors_within_targets(report):
    _, summary = report
    mae = summary["mae"]
    assert summary["reps_compared"] >= 150
    assert mae["mean_concentric_velocity_mps"] <= 0.03
    assert summary["max_abs_error"]["rom_m"] <= 0.03
    assert summary["max_abs_error"]["asymmetry_pct"] <= 2.0


def test_every_fault_moves_its_metric_and_lowers_its_score(report):
    result, _ = report
    failed = [c for c in result.fault_checks if not c["ok"]]
    assert {c["fault"] for c in result.fault_checks} == set(FAULT_EFFECTS)
    assert not failed, failed
