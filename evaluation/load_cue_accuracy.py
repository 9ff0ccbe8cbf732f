"""Bar load weighed by the platform and the velocity-loss cue against simulator truth
(``scripts/eval-rep-accuracy``; docs/metrics.md gives the figures).

Imports ``sensors.simulator`` lazily: the daemon never needs it.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable

import numpy as np

from evaluation.metrics import count_with_interval
from models.analysis import analyze_frames, set_bar_load
from models.velocity_cue import cue_rep, cue_velocities, running_velocity_loss

LIFTS = ("squat", "bench_press", "deadlift")
LOADS_KG = (20.0, 50.0, 80.0, 110.0, 140.0, 170.0, 200.0)
PLATFORM_NOISE = {"hx711": {"loadcell_noise_n": 1.0},
                  "noisy_swaying": {"loadcell_noise_n": 5.0, "body_sway_force_n": 10.0}}
"""The HX711 model alone; five times its white noise plus a lifter breathing and adjusting
while "still" (10 N RMS of the total force at 0.2-1.5 Hz, about 1 % of body weight)."""
LOAD_PATH = {"bench_press": {"bench_setup": "rack_off_platform"},
             "deadlift": {"lockout_hold_s": 0.8}}
"""The set-ups the platform can weigh: a bench press racked off the platform, deadlifts held
at lockout. The ones it cannot are counted apart (``refusals``)."""
REFUSAL_CASES = {
    "bench_uprights_on_platform": ("bench_press", {"bench_setup": "uprights_on_platform"}),
    "bench_off_platform": ("bench_press", {"bench_setup": "bench_off_platform"}),  # config says so
    "deadlift_no_lockout_hold": ("deadlift", {}),
    "squat_spotter_touch": ("squat", {"spotter_rep": 3}),
    "bench_spotter_touch": ("bench_press", {"bench_setup": "rack_off_platform", "spotter_rep": 2}),
    "squat_spotter_touch_noisy_swaying": ("squat", {"spotter_rep": 3, "noise": "noisy_swaying"}),
    "bench_spotter_touch_noisy_swaying": ("bench_press", {"bench_setup": "rack_off_platform",
                                                          "spotter_rep": 2,
                                                          "noise": "noisy_swaying"}),
}
CUE_LIMITS_PCT = (10.0, 20.0, 30.0)
CUE_LIFT_SEED_OFFSET = 1000
"""Seed n of the cue's sample is simulator seed n for the squat, 1000 + n for the bench press
and 2000 + n for the deadlift. With one seed for all three lifts, the sets shared their rep
count, relative load and rep-to-rep velocity draws, hence the same true loss curve: a miss
came in threes and the judgements were not independent, as the intervals assume."""


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def bar_load_accuracy(seeds: Iterable[int] = range(2), reps: int = 4) -> dict[str, Any]:
    """Every lift x load x platform noise x seed: absolute error of the measured load, the
    share measured, per noise level; and how the set-ups the platform cannot weigh end."""
    from sensors.simulator import NoiseModel, simulate_set
    seeds = list(seeds)
    rows = []
    for lift, load, noise_n, seed in itertools.product(LIFTS, LOADS_KG, PLATFORM_NOISE, seeds):
        body = 80.0 + (seed % 3) * 15.0
        sim = simulate_set(lift=lift, reps=reps, seed=seed, athlete_mass_kg=body,
                           bar_load_kg=load, noise=NoiseModel(**PLATFORM_NOISE[noise_n]),
                           **LOAD_PATH.get(lift, {}))
        got = set_bar_load(analyze_frames(sim.frames, lift))
        rows.append({"lift": lift, "load": load, "noise": noise_n, "kg": got.kg,
                     "unc": got.uncertainty_kg, "reason": got.reason})
    measured = [r for r in rows if r["kg"] is not None]
    err = np.array([abs(r["kg"] - r["load"]) for r in measured])
    covered = [abs(r["kg"] - r["load"]) <= r["unc"] for r in measured]
    target = [abs(r["kg"] - r["load"]) <= max(1.0, 0.02 * r["load"]) for r in measured]
    out: dict[str, Any] = {
        "sets": len(rows), "lifts": list(LIFTS), "loads_kg": list(LOADS_KG),
        "platform_noise": PLATFORM_NOISE,
        "bar_load_measured_share": round(len(measured) / len(rows), 4),
        "bar_load_abs_err_median_kg": _round(np.median(err)) if err.size else None,
        "bar_load_abs_err_p95_kg": _round(np.percentile(err, 95)) if err.size else None,
        "bar_load_within_uncertainty_share": round(float(np.mean(covered)), 4) if covered else None,
        "bar_load_within_target_share": round(float(np.mean(target)), 4) if target else None,
        "per_lift_noise": {},
        "not_measured": [f"{r['lift']} {r['load']:g} kg noise {r['noise']}: {r['reason']}"
                         for r in rows if r["kg"] is None],
    }
    for lift, noise_n in itertools.product(LIFTS, PLATFORM_NOISE):
        e = [abs(r["kg"] - r["load"]) for r in measured if r["lift"] == lift and r["noise"] == noise_n]
        n = sum(1 for r in rows if r["lift"] == lift and r["noise"] == noise_n)
        out["per_lift_noise"][f"{lift}@{noise_n}"] = {
            "measured": f"{len(e)}/{n}", "median_kg": _round(np.median(e)) if e else None,
            "p95_kg": _round(np.percentile(e, 95)) if e else None}
    refusals = {}
    for name, (lift, kwargs) in REFUSAL_CASES.items():
        kwargs = dict(kwargs)
        on_platform = kwargs.get("bench_setup") != "bench_off_platform"
        kwargs["noise"] = NoiseModel(**PLATFORM_NOISE[kwargs.pop("noise", "hx711")])
        got = [set_bar_load(analyze_frames(simulate_set(lift=lift, reps=reps, seed=seed,
                                                        bar_load_kg=60.0, **kwargs).frames, lift,
                                           bench_on_platform=on_platform))
               for seed in seeds]
        refusals[name] = {"refused": f"{sum(g.kg is None for g in got)}/{len(got)}",
                          "reason": next((g.reason for g in got if g.reason), None),
                          "measured_kg": [_round(g.kg, 2) for g in got if g.kg is not None],
                          "uncertainty_kg": [_round(g.uncertainty_kg, 2) for g in got
                                             if g.kg is not None]}
    out["cannot_measure"] = refusals
    return out


def velocity_cue_accuracy(seeds: Iterable[int] = range(30)) -> dict[str, Any]:
    """Sets of 6-12 reps at 40-90 % of 1RM (the simulator's fatigue grows with both), each
    judged at limits of 10, 20 and 30 %: the rep at which the analysis cues (on the mid-range
    velocity, ``models.velocity_cue``) against the rep at which the simulator's true mean
    concentric velocities first reach the limit against their running best, computed here
    apart from ``models.velocity_cue`` (None for both when the set never does). The
    analysed velocities are those the box uses live: it analyses each rep within the set so
    far, which gives exactly these values.

    Shares come as counts with 95 % Clopper-Pearson intervals. ``loss_error_points``: per rep
    (from the second on), the cue's running velocity loss minus the true one, in percentage
    points; with it, the share of judgements whose true loss comes within 2 SD of the limit
    before the true crossing: those a cue on measured velocities cannot call reliably."""
    from sensors.simulator import simulate_set
    seeds = list(seeds)
    results, errors, unmatched = [], {lift: [] for lift in LIFTS}, []
    for lift, seed in itertools.product(LIFTS, seeds):
        seed += CUE_LIFT_SEED_OFFSET * LIFTS.index(lift)
        rng = np.random.default_rng([seed, 27])
        reps = int(rng.integers(6, 13))
        body = 80.0
        one_rm = {"squat": 1.5, "bench_press": 1.0, "deadlift": 1.8}[lift] * body
        load = round(float(rng.uniform(0.4, 0.9)) * one_rm, 1)
        sim = simulate_set(lift=lift, reps=reps, seed=seed, athlete_mass_kg=body, bar_load_kg=load)
        analysed = analyze_frames(sim.frames, lift).reps
        true_v = np.array([r.mean_concentric_velocity_mps for r in sim.reps])
        true_loss = list(100.0 * (1.0 - true_v / np.maximum.accumulate(true_v)))
        if [r.number for r in analysed] == [r.number for r in sim.reps]:
            got_loss = running_velocity_loss(cue_velocities(analysed))
            errors[lift] += [g - t for g, t in zip(got_loss[1:], true_loss[1:]) if g is not None]
        else:
            unmatched.append(f"{lift} seed {seed}: {len(analysed)} reps found, {reps} simulated")
        for limit in CUE_LIMITS_PCT:
            truth = next((r.number for r, loss in zip(sim.reps, true_loss) if loss >= limit), None)
            got = cue_rep([r.number for r in analysed], cue_velocities(analysed), limit)
            decisive = true_loss[:truth] if truth else true_loss
            results.append({"lift": lift, "seed": seed, "reps": reps, "load": load,
                            "limit": limit, "truth": truth, "cue": got and got[0],
                            "margin": _margin(decisive, limit)})
    err = np.array([e for lift in LIFTS for e in errors[lift]])
    sd = float(np.std(err, ddof=1)) if err.size > 1 else float("nan")
    reached = [r for r in results if r["truth"] is not None]
    never = [r for r in results if r["truth"] is None]
    return {
        "sets": len(results) // len(CUE_LIMITS_PCT), "judgements": len(results),
        "seeds": f"{min(seeds, default=0)}-{max(seeds, default=-1)} (+{CUE_LIFT_SEED_OFFSET} "
                 f"bench press, +{2 * CUE_LIFT_SEED_OFFSET} deadlift)",
        "velocity_loss_cue_exact_share": _share(results),
        "exact": _exact(results),
        "exact_when_reached": _exact(reached),
        "no_cue_when_never_reached": _counted([r["cue"] is None for r in never]),
        "within_one_rep_share_when_reached": round(
            sum(r["cue"] is not None and abs(r["cue"] - r["truth"]) <= 1 for r in reached)
            / len(reached), 4) if reached else None,
        "exact_true_loss_beyond_0.5_points": _exact(
            [r for r in results if abs(r["margin"]) > 0.5]),
        "loss_error_points": {
            "reps": int(err.size), "mean": _round(err.mean()) if err.size else None,
            "sd": _round(sd), "abs_p95": _round(np.percentile(np.abs(err), 95)) if err.size else None,
            "per_lift": {lift: {"mean": _round(np.mean(e)), "sd": _round(np.std(e, ddof=1))}
                         for lift, e in errors.items() if len(e) > 1},
            "sets_with_other_rep_count": unmatched},
        "share_true_loss_within_2sd_of_limit": round(
            float(np.mean([abs(r["margin"]) <= 2 * sd for r in results])), 4) if results else None,
        "mismatches": [f"{r['lift']} seed {r['seed']} {r['reps']} reps {r['load']:g} kg "
                       f"limit {r['limit']:g} %: cue {r['cue']}, truth {r['truth']} (closest "
                       f"true loss {r['margin']:+.2f} points from the limit)"
                       for r in results if r["cue"] != r["truth"]],
    }


def _share(rows: list[dict[str, Any]]) -> float | None:
    return round(sum(r["cue"] == r["truth"] for r in rows) / len(rows), 4) if rows else None


def _exact(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Count, share and 95 % Clopper-Pearson interval of the rows where the cue is exact."""
    return _counted([r["cue"] == r["truth"] for r in rows])


def _counted(flags: list[bool]) -> dict[str, Any]:
    c = count_with_interval(flags)
    return {**c, "rate": _round(c["rate"], 4), "ci95": [_round(x, 4) for x in c["ci95"]]}


def _margin(true_loss: list[float | None], limit: float) -> float:
    """How close the given true velocity losses come to the limit (points, signed)."""
    gaps = [x - limit for x in true_loss if x is not None]
    return min(gaps, key=abs) if gaps else float("nan")
