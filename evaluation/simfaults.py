"""Simulator faults through the daemon's decision path, without the store: detection per fault
type, false alerts per 100 clean reps, delay from fault onset.

Each simulated set is replayed hop by hop exactly as ``RealtimeLoop`` sees it (the same
per-source ``RecentRows`` buffers and ``Window``s, the same scorer, the feedback policy's
hysteresis and minimum gap on sensor time), and every rep the rep analysis finds gets the
session worker's verdict (``rep_feedback`` rules, plus the model's per-rep decision when a
bundle is loaded) at its end. A faulty rep counts as detected when a live alert falls between
its fault onset and 0.5 s after the rep, or when its rep verdict reports a problem. A clean
rep's live alerts and flagged verdicts are false alerts.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_agent.daemon.recent import RecentRows
from edge_agent.daemon.scoring import Scorer, Window
from edge_agent.feedback.policy import AlertPolicy, Verdict
from models import analyze_frames, rep_feedback
from models.anomaly.segments import flagged_attribution, rep_decisions, simulated_athlete
from models.set_drift import DEFAULT_SET_ALPHA, first_cue
from sensors.clock import ManualClock
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS
from sensors.simulator import FAULT_TYPES, SimulatedSet

LIFTS = ("squat", "bench_press", "deadlift")
AFTER_REP_S = 0.5
REP_CONFIRM_S = 0.45
"""A rep verdict is known this long after the rep ends (segmenter confirmation + block)."""


@dataclass
class SetOutcome:
    lift: str
    alerts_s: list[float]
    rep_problems: dict[int, bool]            # analysed rep index -> verdict says "problem"
    rep_bounds_s: list[tuple[float, float]]
    rep_scores: list[float] = field(default_factory=list)   # model score per analysed rep (NaN: none)


def replay_set(sset: SimulatedSet, scorer: Scorer, *, alert_on: float = 0.9, alert_off: float = 0.6,
               min_gap_s: float = 2.0, hop_s: float = 0.1, window_s: float = 1.0,
               model: Any = None, profile: Any = None) -> SetOutcome:
    """One set through the scorer and the rep verdicts (see module doc)."""
    window_ns, hop_ns = int(window_s * 1e9), int(round(hop_s * 1e9))
    buffers = {"imu": RecentRows(IMU_CHANNELS, window_ns), "platform": RecentRows(PLATFORM_CHANNELS, window_ns)}
    frames = sset.frames
    t0 = frames[0].mono_ns
    clock = ManualClock(t0 + hop_ns)
    policy = AlertPolicy(alert_on, alert_off, min_gap_s, clock)
    scorer.reset()
    alerts, scores = [], []
    i, next_hop = 0, t0 + hop_ns
    while i < len(frames):
        j = i
        while j < len(frames) and frames[j].mono_ns <= next_hop:
            j += 1
        for source, buffer in buffers.items():
            buffer.extend([f for f in frames[i:j] if f.source == source])
        i = j
        imu, imu_t = buffers["imu"].window(next_hop - window_ns, next_hop)
        plat, plat_t = buffers["platform"].window(next_hop - window_ns, next_hop)
        score = scorer.score(Window(next_hop, imu, imu_t, plat, plat_t, []))
        scores.append(score.probability)
        if policy.observe(score.probability) is Verdict.ALERT:
            alerts.append((next_hop - t0) / 1e9)
        next_hop += hop_ns
        clock.advance(hop_s)
    analysis = analyze_frames(frames, sset.lift)
    decisions = rep_decisions(model, frames, analysis.reps, profile) if model is not None else [None] * len(analysis.reps)
    problems = {k: rep_feedback(rep, flagged_attribution(d), earlier=analysis.reps[:k]) is not None
                for k, (rep, d) in enumerate(zip(analysis.reps, decisions))}
    return SetOutcome(sset.lift, alerts, problems, [(r.start_s, r.end_s) for r in analysis.reps],
                      [d.score if d is not None else math.nan for d in decisions])


def _matching_rep(outcome: SetOutcome, start_s: float, end_s: float) -> int | None:
    best, overlap = None, 0.0
    for k, (a, b) in enumerate(outcome.rep_bounds_s):
        o = min(b, end_s) - max(a, start_s)
        if o > overlap:
            best, overlap = k, o
    return best


ENROLMENT_SEED_OFFSET = 700_001


def enrolment_overlay(model: Any, lift: str, seed: int, reps: int = 6) -> Any:
    """The overlay the box would load for the athlete of the set simulated with ``seed``: built
    as a coach-label refresh or ``liftguard calibrate athlete`` builds it (``make_overlay`` on
    the reps the rep analysis cuts), from another clean set of the same athlete (same body mass,
    bar load, depth and descent time, ``sensors.simulator.set_style``; its own seed for
    everything else, the IMU's bias included)."""
    from models.anomaly.overlay import make_overlay
    from models.anomaly.segments import set_segments
    from sensors.simulator import set_style, simulate_set

    athlete = simulated_athlete(lift, np.random.default_rng([seed, 17]))
    enrolment = simulate_set(lift, reps=reps, seed=seed + ENROLMENT_SEED_OFFSET, athlete_mass_kg=athlete.body_mass_kg,
                             bar_load_kg=athlete.bar_load_kg, style=set_style(lift, seed))
    cut = set_segments(enrolment.frames, lift, model.channels, model.sample_rate_hz)
    return make_overlay(model, cut.reps)


def evaluate_faults(scorer: Scorer, *, seeds: Sequence[int], lifts: Sequence[str] = LIFTS,
                    faults: Sequence[str] = FAULT_TYPES, reps: int = 6, fault_rep: int = 4,
                    model: Any = None, with_profile: bool = False, **replay: Any) -> dict[str, Any]:
    """Per-fault detection, delays and false alerts over ``lifts`` x ``seeds`` simulated sets.

    ``with_profile``: each set's athlete has a profile (``enrolment_overlay``), loaded as the
    daemon loads an overlay at session start (windows and rep decisions scored with it)."""
    from sensors.simulator import simulate_set

    if with_profile and model is None:
        raise ValueError("with_profile needs the model the profiles are made for")

    def one(lift: str, seed: int, fault_map: dict[int, str]) -> tuple[SimulatedSet, SetOutcome]:
        athlete = simulated_athlete(lift, np.random.default_rng([seed, 17]))
        sset = simulate_set(lift, reps=reps, faults=fault_map, seed=seed,
                            athlete_mass_kg=athlete.body_mass_kg, bar_load_kg=athlete.bar_load_kg)
        profile = enrolment_overlay(model, lift, seed, reps) if with_profile else None
        if hasattr(scorer, "profile_for"):
            scorer.profile_for = lambda: profile
        drift_alpha[0] = model.drift_alpha(profile) if model is not None else DEFAULT_SET_ALPHA
        return sset, replay_set(sset, scorer, model=model, profile=profile, **replay)

    drift_alpha = [DEFAULT_SET_ALPHA]   # the box's threshold for the last set's rep decision (the bundle's own)

    per_fault: dict[str, dict[str, Any]] = {}
    rep_scores: dict[str, list[float]] = {"clean": []}
    by_lift = {lift: {"faulty_sets": 0, "detected": 0, "clean_reps": 0, "false_alerts": 0} for lift in lifts}
    for fault in faults:
        rep_scores[fault] = []
        hits, live_hits, delays, live_delays = 0, 0, [], []
        n = 0
        for lift in lifts:
            for seed in seeds:
                sset, out = one(lift, seed, {fault_rep: fault})
                truth = sset.reps[fault_rep - 1]
                onset = truth.fault_onset_s if truth.fault_onset_s is not None else truth.start_s
                live = [t for t in out.alerts_s if onset <= t <= truth.end_s + AFTER_REP_S]
                k = _matching_rep(out, truth.start_s, truth.end_s)
                by_rep = k is not None and out.rep_problems.get(k, False)
                if k is not None:
                    rep_scores[fault].append(out.rep_scores[k])
                n += 1
                by_lift[lift]["faulty_sets"] += 1
                by_lift[lift]["detected"] += bool(live or by_rep)
                if live:
                    live_hits += 1
                    live_delays.append(1000 * (live[0] - onset))
                if live or by_rep:
                    hits += 1
                    rep_end = out.rep_bounds_s[k][1] if by_rep else math.inf
                    delays.append(1000 * (min(live[0] if live else math.inf, rep_end + REP_CONFIRM_S) - onset))
        per_fault[fault] = {
            "sets": n, "detection_rate": round(hits / n, 3), "live_detection_rate": round(live_hits / n, 3),
            "delay_median_ms": _median(delays), "live_delay_median_ms": _median(live_delays),
        }
    live_false = rep_false = clean_reps = clean_sets = clean_cued = 0
    for lift in lifts:
        for seed in seeds:
            sset, out = one(lift, 10_000 + seed, {})
            clean_reps += len(sset.reps)
            live_false += len(out.alerts_s)
            rep_false += sum(out.rep_problems.values())
            rep_scores["clean"] += out.rep_scores
            by_lift[lift]["clean_reps"] += len(sset.reps)
            by_lift[lift]["false_alerts"] += len(out.alerts_s) + sum(out.rep_problems.values())
            clean_sets += 1
            clean_cued += model is not None and first_cue(out.rep_scores, drift_alpha[0]) is not None
    return summarise(per_fault, clean_reps, live_false, rep_false) | {
        "seeds": list(seeds), "lifts": list(lifts), "rep_scores": rep_scores, "with_profile": with_profile,
        "by_lift": {lift: lift_figures(counts) for lift, counts in by_lift.items()},
        "drift_cue": {"alpha": drift_alpha[0], "clean_sets": clean_sets, "clean_sets_cued": int(clean_cued)}}


def summarise(per_fault: dict[str, dict[str, Any]], clean_reps: int, live_false: int, rep_false: int) -> dict[str, Any]:
    """Mean detection over faults and false alerts per 100 clean reps (live, rep verdicts, both)."""
    all_delays = [d for f in per_fault.values() for d in ([f["delay_median_ms"]] if f["delay_median_ms"] is not None else [])]
    return {
        "per_fault": per_fault,
        "detection_rate": round(statistics.mean(f["detection_rate"] for f in per_fault.values()), 3),
        "clean_reps": clean_reps,
        "live_false_alerts_per_100_clean_reps": round(100 * live_false / clean_reps, 2),
        "rep_flags_per_100_clean_reps": round(100 * rep_false / clean_reps, 2),
        "false_alerts_per_100_clean_reps": round(100 * (live_false + rep_false) / clean_reps, 2),
        "delay_median_ms_over_faults": _median(all_delays),
    }


def lift_figures(counts: dict[str, int]) -> dict[str, Any]:
    """One lift's counts with 95 % Clopper-Pearson intervals: faulty sets detected (live alert or
    rep verdict) and false alerts (live alerts and flagged verdicts) over its clean reps; the
    interval treats each false alert as one clean rep, which holds while they are few."""
    from evaluation.metrics import count_with_interval

    def interval(k: int, n: int) -> dict[str, Any]:
        return count_with_interval([True] * min(k, n) + [False] * (n - min(k, n))) | {"k": k}

    return {**counts, "detection": interval(counts["detected"], counts["faulty_sets"]),
            "false_alerts_per_clean_rep": interval(counts["false_alerts"], counts["clean_reps"])}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None
