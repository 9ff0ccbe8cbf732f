"""The simulator part of `liftguard evaluate`, one process per lift (joblib).

Each lift's sets go through the daemon's scorer and feedback policy in their own process (the
TFLite interpreter is per process, built from the bundle there); the per-lift results are then
merged. Counts (sets, detections, clean reps, false alerts) merge exactly; a delay median
cannot, so the merged ``delay_median_ms`` is the median of the per-lift medians, and the
per-lift medians are kept in ``delay_median_ms_by_lift``. One lift runs in this process and
gives exactly ``simfaults.evaluate_faults``' figures.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.simfaults import summarise


@dataclass(frozen=True)
class SimulatorRun:
    bundle: Path
    seeds: tuple[int, ...]
    faults: tuple[str, ...]
    alert_on: float
    alert_off: float
    min_gap_s: float
    hop_s: float
    window_s: float
    with_profile: bool = False


def one_lift(run: SimulatorRun, lift: str) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """(result, model description, why no model) for one lift."""
    from edge_agent.daemon.scoring import make_scorer
    from evaluation.logs import quiet_libraries
    from evaluation.simfaults import evaluate_faults

    quiet_libraries()
    scorer, info, reason = make_scorer(run.bundle, run.alert_on)
    result = evaluate_faults(scorer, seeds=run.seeds, lifts=(lift,), faults=run.faults,
                             model=getattr(scorer, "model", None), with_profile=run.with_profile,
                             alert_on=run.alert_on, alert_off=run.alert_off,
                             min_gap_s=run.min_gap_s, hop_s=run.hop_s, window_s=run.window_s)
    return result, info or {"kind": scorer.kind, "why_no_model": reason}, reason


def evaluate_lifts(run: SimulatorRun, lifts: Sequence[str], n_jobs: int,
                   progress: Callable[[str], None] = lambda line: None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(merged result, scorer description) over ``lifts``."""
    if len(lifts) == 1 or n_jobs <= 1:
        outputs = (one_lift(run, lift) for lift in lifts)
    else:
        import joblib

        parallel = joblib.Parallel(n_jobs=min(n_jobs, len(lifts)), return_as="generator")
        outputs = parallel(joblib.delayed(one_lift)(run, lift) for lift in lifts)
    started, done = time.monotonic(), []
    for lift, output in zip(lifts, outputs):
        done.append(output)
        elapsed = time.monotonic() - started
        progress(f"simulator: {lift} done ({len(done)} of {len(lifts)} lifts); elapsed {elapsed:.0f} s, "
                 f"about {elapsed / len(done) * (len(lifts) - len(done)):.0f} s left")
    outputs = done
    results = [result for result, _, _ in outputs]
    return (results[0] if len(results) == 1 else merge(results, lifts)), outputs[0][1]


def _count(rate_per_100: float, reps: int) -> int:
    return int(round(rate_per_100 * reps / 100.0))


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def merge(results: list[dict[str, Any]], lifts: Sequence[str]) -> dict[str, Any]:
    per_fault: dict[str, dict[str, Any]] = {}
    for fault in results[0]["per_fault"]:
        rows = [r["per_fault"][fault] for r in results]
        sets = sum(row["sets"] for row in rows)
        per_fault[fault] = {
            "sets": sets,
            "detection_rate": round(sum(row["detection_rate"] * row["sets"] for row in rows) / sets, 3),
            "live_detection_rate": round(sum(row["live_detection_rate"] * row["sets"] for row in rows) / sets, 3),
            "delay_median_ms": _median([row["delay_median_ms"] for row in rows]),
            "live_delay_median_ms": _median([row["live_delay_median_ms"] for row in rows]),
            "delay_median_ms_by_lift": {lift: row["delay_median_ms"] for lift, row in zip(lifts, rows)},
        }
    clean = sum(r["clean_reps"] for r in results)
    live = sum(_count(r["live_false_alerts_per_100_clean_reps"], r["clean_reps"]) for r in results)
    rep = sum(_count(r["rep_flags_per_100_clean_reps"], r["clean_reps"]) for r in results)
    rep_scores: dict[str, list[float]] = {}
    for r in results:
        for key, values in r["rep_scores"].items():
            rep_scores.setdefault(key, []).extend(values)
    drift = {"alpha": results[0]["drift_cue"]["alpha"],
             "clean_sets": sum(r["drift_cue"]["clean_sets"] for r in results),
             "clean_sets_cued": sum(r["drift_cue"]["clean_sets_cued"] for r in results),
             "by_lift": {lift: {k: r["drift_cue"][k] for k in ("clean_sets", "clean_sets_cued")}
                         for lift, r in zip(lifts, results)}}
    return summarise(per_fault, clean, live, rep) | {
        "drift_cue": drift, "with_profile": results[0]["with_profile"],
        "by_lift": {lift: row for r in results for lift, row in r["by_lift"].items()},
        "false_alerts": {"live": live, "rep_verdicts": rep, "clean_reps": clean},
        "seeds": results[0]["seeds"], "lifts": list(lifts), "rep_scores": rep_scores, "merged_from_lifts": True}
