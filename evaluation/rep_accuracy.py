"""Accuracy of the rep analysis against the simulator's ground truth (``scripts/eval-rep-accuracy``
and ``tests/evaluation/test_analysis_accuracy.py``).

Imports ``sensors.simulator`` lazily: the daemon never needs it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from models.analysis import SetAnalysis, analyze_frames
from models.metrics import RepMetrics
from models.segmentation import body_worn_reps

# fault -> (metric that must move, direction, score that must drop)
FAULT_EFFECTS: dict[str, tuple[str, int, str]] = {
    "lateral_sway": ("lateral_displacement_m", +1, "stability_score"),
    "tilt": ("max_tilt_deg", +1, "stability_score"),
    "weight_shift": ("abs_asymmetry_pct", +1, "balance_score"),
    "cop_forward": ("cop_ap_shift_m", +1, "balance_score"),
    "cop_backward": ("cop_ap_shift_m", -1, "balance_score"),
    "tremor": ("tremor_rms_mps2", +1, "stability_score"),
    "sticking_point": ("sticking_ratio", -1, "stability_score"),
    "fast_eccentric": ("peak_eccentric_velocity_mps", +1, "stability_score"),
}
LIFTS = ("squat", "bench_press", "deadlift")


def metric_value(rep: RepMetrics, name: str) -> float | None:
    if name.startswith("abs_"):
        v = getattr(rep, name[4:])
        return None if v is None else abs(v)
    return getattr(rep, name)


def match_reps(truth_starts: list[float], reps: list[RepMetrics], tol_s: float = 0.5
               ) -> list[RepMetrics | None]:
    """For each truth rep, the analysed rep whose start is nearest (within ``tol_s``)."""
    out: list[RepMetrics | None] = []
    for t0 in truth_starts:
        best = min(reps, key=lambda r: abs(r.start_s - t0), default=None)
        out.append(best if best is not None and abs(best.start_s - t0) <= tol_s else None)
    return out


@dataclass
class AccuracyReport:
    recordings: int = 0
    clean_recordings: int = 0
    clean_count_exact: int = 0
    count_errors: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, list[float]] = field(default_factory=dict)
    fault_checks: list[dict[str, Any]] = field(default_factory=list)

    def add_error(self, name: str, value: float) -> None:
        self.errors.setdefault(name, []).append(value)

    def summary(self) -> dict[str, Any]:
        return {
            "recordings": self.recordings,
            "clean_recordings": self.clean_recordings,
            "clean_rep_count_exact": f"{self.clean_count_exact}/{self.clean_recordings}",
            "rep_count_mismatches": self.count_errors,
            "mae": {k: float(np.mean(np.abs(v))) for k, v in self.errors.items()},
            "max_abs_error": {k: float(np.max(np.abs(v))) for k, v in self.errors.items()},
            "reps_compared": len(next(iter(self.errors.values()), [])),
            "fault_checks_passed": f"{sum(c['ok'] for c in self.fault_checks)}/{len(self.fault_checks)}",
            "faulty_rep_count_exact": f"{sum(c['reps_found'] == c['reps_truth'] for c in self.fault_checks)}"
                                      f"/{len(self.fault_checks)}",
            "fault_checks": self.fault_checks,
        }


TRUTH_PAIRS = (("mean_concentric_velocity_mps", "mean_concentric_velocity_mps"),
               ("peak_concentric_velocity_mps", "peak_concentric_velocity_mps"),
               ("rom_m", "rom_m"), ("asymmetry_pct", "asymmetry_pct"),
               ("start_s", "start_s"), ("end_s", "end_s"),
               ("max_tilt_deg", "max_tilt_deg"), ("lateral_displacement_m", "lateral_displacement_m"),
               ("cop_ml_rms_m", "cop_ml_rms_m"),
               ("cop_ap_rms_m", "cop_ap_rms_m"))


def _compare(report: AccuracyReport, sim: Any, result: SetAnalysis, clean: bool) -> None:
    report.recordings += 1
    if clean:
        report.clean_recordings += 1
        report.clean_count_exact += len(result.reps) == len(sim.reps)
    if len(result.reps) != len(sim.reps):
        report.count_errors.append({"lift": sim.lift, "seed": sim.seed, "faults": sim.faults,
                                    "truth": len(sim.reps), "found": len(result.reps)})
    for truth, rep in zip(sim.reps, match_reps([r.start_s for r in sim.reps], result.reps)):
        if rep is None or truth.fault is not None:
            continue
        for t_name, a_name in TRUTH_PAIRS:
            value = getattr(rep, a_name)
            if value is not None:
                report.add_error(t_name, value - getattr(truth, t_name))


def _fault_check(lift: str, seed: int, fault: str, rep_no: int, reps: int,
                 clean_result: SetAnalysis) -> dict[str, Any]:
    from sensors.simulator import simulate_set
    faulty = simulate_set(lift=lift, reps=reps, faults={rep_no: fault}, seed=seed)
    result = analyze_frames(faulty.frames, lift)
    metric, direction, score = FAULT_EFFECTS[fault]
    truth_start = faulty.reps[rep_no - 1].start_s
    f_rep = match_reps([truth_start], result.reps)[0]
    c_rep = match_reps([truth_start], clean_result.reps, tol_s=2.0)[0]
    check: dict[str, Any] = {"lift": lift, "seed": seed, "fault": fault, "rep": rep_no,
                             "metric": metric, "score": score, "ok": False,
                             "reps_found": len(result.reps), "reps_truth": len(faulty.reps)}
    if f_rep is None or c_rep is None:
        check["why"] = "rep not found"
        return check
    mv_c, mv_f = metric_value(c_rep, metric), metric_value(f_rep, metric)
    sc_c, sc_f = getattr(c_rep, score), getattr(f_rep, score)
    check.update({"metric_clean": mv_c, "metric_fault": mv_f, "score_clean": sc_c,
                  "score_fault": sc_f})
    check["ok"] = (None not in (mv_c, mv_f, sc_c, sc_f)
                   and direction * (mv_f - mv_c) > 0 and sc_f < sc_c)
    return check


def simulator_accuracy(seeds: Iterable[int] = range(10), lifts: Iterable[str] = LIFTS,
                       reps: int = 6, fault_rep: int = 3) -> AccuracyReport:
    """Clean sets for every (lift, seed); each fault type once per lift (seeds in turn) against
    the same seed without faults. The clean sets alone give len(lifts) * len(seeds) recordings."""
    from sensors.simulator import FAULT_TYPES, simulate_set
    report = AccuracyReport()
    seeds = list(seeds)
    for lift in lifts:
        clean_results: dict[int, SetAnalysis] = {}
        for seed in seeds:
            sim = simulate_set(lift=lift, reps=reps, seed=seed)
            clean_results[seed] = analyze_frames(sim.frames, lift)
            _compare(report, sim, clean_results[seed], clean=True)
        for k, fault in enumerate(FAULT_TYPES):
            seed = seeds[k % len(seeds)]
            check = _fault_check(lift, seed, fault, fault_rep, reps, clean_results[seed])
            report.recordings += 1
            report.fault_checks.append(check)
    return report


def squat_dataset_accuracy(root: Path) -> dict[str, Any]:
    """Rep count per file and boundary error (ms) against the manual marks (waist IMU s0)."""
    from models.datasets import WAIST_PARAMS, load_squat_sets
    files, boundary_ms, start_bias, end_bias = [], [], [], []
    for s in load_squat_sets(root):
        found = body_worn_reps(s.accel, s.rate_hz, WAIST_PARAMS)
        files.append({"file": s.name, "truth": s.reps, "found": len(found)})
        if s.marks and len(found) == len(s.marks):
            for (a, b), (c, d) in zip(found, s.marks):
                start_bias.append(1000 * (a - c) / s.rate_hz)
                end_bias.append(1000 * (b - (d - 1)) / s.rate_hz)
                boundary_ms += [abs(start_bias[-1]), abs(end_bias[-1])]
    exact = sum(f["truth"] == f["found"] for f in files)
    return {"files": len(files), "exact_count_files": exact,
            "exact_count_fraction": exact / len(files) if files else math.nan,
            "boundary_error_ms_mean": float(np.mean(boundary_ms)) if boundary_ms else None,
            "boundary_error_ms_median": float(np.median(boundary_ms)) if boundary_ms else None,
            "boundary_error_ms_p90": float(np.percentile(boundary_ms, 90)) if boundary_ms else None,
            "start_offset_ms_mean_sd": [float(np.mean(start_bias)), float(np.std(start_bias))]
            if start_bias else None,
            "end_offset_ms_mean_sd": [float(np.mean(end_bias)), float(np.std(end_bias))]
            if end_bias else None,
            "mismatches": [f for f in files if f["truth"] != f["found"]], "per_file": files}


def wrist_dataset_accuracy(root: Path) -> dict[str, Any]:
    """Rep-count error per set and per exercise on the Ebbelaar wrist accelerometer sets."""
    from models.datasets import WRIST_PARAMS, load_wrist_sets
    per_ex: dict[str, list[int]] = {}
    sets = []
    for s in load_wrist_sets(root):
        err = len(body_worn_reps(s.accel, s.rate_hz, WRIST_PARAMS)) - s.reps
        per_ex.setdefault(s.exercise, []).append(err)
        sets.append({"set": s.name, "exercise": s.exercise, "truth": s.reps, "error": err})
    all_err = [abs(e) for v in per_ex.values() for e in v]
    return {"sets": len(sets),
            "mean_abs_count_error": float(np.mean(all_err)) if all_err else None,
            "per_exercise": {k: {"sets": len(v), "mean_abs_count_error": float(np.mean(np.abs(v))),
                                 "exact": int(sum(e == 0 for e in v))} for k, v in per_ex.items()},
            "per_set": sets}
