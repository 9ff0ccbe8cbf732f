"""The drift cue on simulated sets, as the box's session worker computes it.

Each set is simulated, its reps found by the rep analysis and decided by the bundle's per-rep
decision (``models.anomaly.segments.rep_decisions``, as ``edge_agent.daemon.sessions``), and the
rep scores accumulated with ``models.set_drift``. Clean sets give the false cues per
clean set; "drifting" sets repeat one fault from a rep on to the end of the set.

``python -m evaluation.drift_cue BUNDLE OUT_DIR [--calibration-sets N] [--test-sets N]``
reports the cue at the bundle's own threshold (``calibration.set_drift``, calibrated by
``fit_bundle`` on its training data; ``DEFAULT_SET_ALPHA`` for a bundle without one) on clean
sets (seed 12) and drifting sets (seed 13), none used to choose it; and, for comparison and
to recalibrate ``DEFAULT_SET_ALPHA``, at a threshold chosen on another batch of clean sets
(seed 11, conformal over sets). ``scripts/eval-drift-cue`` runs it. Rep scores are cached in
OUT_DIR.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.metrics import count_with_interval
from models.set_drift import calibrate_set_alpha, first_cue

LIFTS = ("squat", "bench_press", "deadlift")
DRIFT_FAULTS = ("weight_shift", "cop_forward", "cop_backward", "lateral_sway", "tilt",
                "sticking_point")
REPS = 8


def set_scores(model: Any, frames: Sequence[Any], lift: str, profile: Any = None) -> list[float]:
    """``-log10 p`` of each rep the analysis finds in a set, NaN for an unscored rep."""
    from models.analysis import analyze_frames
    from models.anomaly.segments import rep_decisions

    reps = analyze_frames(frames, lift).reps
    return [d.score if d is not None and d.scored else float("nan")
            for d in rep_decisions(model, frames, reps, profile)]


def simulated_scores(model: Any, n_sets: int, seed: int, *, drift_from: int | None = None,
                     lifts: Sequence[str] = LIFTS,
                     rep_variability: tuple[float, float] = (1.0, 1.0)) -> list[dict[str, Any]]:
    """``n_sets`` per lift: clean, or (``drift_from``) one fault on every rep from that rep on;
    ``rep_variability``: the athletes' rep-to-rep spread (``simulate_sets``)."""
    from models.anomaly.segments import simulate_sets

    def faults_for(lift: str, index: int, rng: np.random.Generator) -> dict[int, str]:
        if drift_from is None:
            return {}
        fault = DRIFT_FAULTS[index % len(DRIFT_FAULTS)]
        return {rep: fault for rep in range(drift_from, REPS + 1)}

    out = []
    for lift, sset in simulate_sets(n_sets, lifts, seed, reps=REPS, faults_for=faults_for,
                                    rep_variability=rep_variability):
        fault = sorted(set(sset.faults.values())) if hasattr(sset, "faults") else []
        out.append({"lift": lift, "fault": fault[0] if fault else None,
                    "scores": set_scores(model, sset.frames, lift)})
    return out


def cue_figures(sets: Sequence[dict[str, Any]], alpha: float, drift_from: int | None) -> dict[str, Any]:
    cues = [first_cue(s["scores"], alpha) for s in sets]
    fired = [c is not None for c in cues]
    out: dict[str, Any] = {"sets": len(sets), "cued": count_with_interval(fired)}
    if drift_from is not None:
        delays = [c - drift_from for c in cues if c is not None]
        out["early_cues"] = sum(1 for d in delays if d < 0)
        out["reps_after_onset_median"] = float(np.median(delays)) if delays else None
        out["cue_rep_median"] = float(np.median([c for c in cues if c is not None])) if delays else None
    return out


def figures_at(alpha: float, test: Sequence[dict[str, Any]], drift: Sequence[dict[str, Any]], drift_from: int,
               spread: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
    """Clean, drifting (overall, by fault and by lift) and other-spread clean sets at ``alpha``."""
    out = {"alpha": alpha, "clean": cue_figures(test, alpha, None),
           "clean_by_lift": {lift: cue_figures([s for s in test if s["lift"] == lift], alpha, None) for lift in LIFTS},
           "drifting": cue_figures(drift, alpha, drift_from),
           "drifting_by_fault": {f: cue_figures([s for s in drift if s["fault"] == f], alpha, drift_from)
                                 for f in DRIFT_FAULTS},
           "drifting_by_lift": {lift: cue_figures([s for s in drift if s["lift"] == lift], alpha, drift_from)
                                for lift in LIFTS}}
    if spread is not None:
        out["clean_other_spread"] = cue_figures(spread, alpha, None)
        out["clean_other_spread"]["rep_variability"] = [0.5, 2.0]
    return out


def _fingerprint(manifest: dict[str, Any]) -> str:
    """Names the cache of a bundle's rep scores: the checksums of its files (a new threshold in
    the manifest alone keeps the scores)."""
    return "scores-" + hashlib.sha256(json.dumps(manifest.get("files"), sort_keys=True).encode()).hexdigest()[:12]


def _cached(path: Path, make: Any) -> Any:
    if path.exists():
        return json.loads(path.read_text())
    value = make()
    path.write_text(json.dumps(value, allow_nan=True))
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--calibration-sets", type=int, default=80, help="clean sets per lift")
    parser.add_argument("--test-sets", type=int, default=80, help="clean sets per lift")
    parser.add_argument("--drift-sets", type=int, default=12, help="drifting sets per lift")
    parser.add_argument("--rate", type=float, default=0.02,
                        help="nominal false cues per clean set of the comparison threshold")
    parser.add_argument("--drift-from", type=int, default=3)
    parser.add_argument("--spread-sets", type=int, default=0,
                        help="clean sets per lift from a population whose athletes' rep-to-rep "
                             "spread is 0.5-2x the training one (seed 14); 0 = none")
    args = parser.parse_args(argv)
    from models.anomaly import load_bundle

    model = load_bundle(args.bundle)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / _fingerprint(model.manifest)
    cache.mkdir(exist_ok=True)
    calib = _cached(cache / f"clean_s11_n{args.calibration_sets}.json",
                    lambda: simulated_scores(model, args.calibration_sets, 11))
    test = _cached(cache / f"clean_s12_n{args.test_sets}.json",
                   lambda: simulated_scores(model, args.test_sets, 12))
    drift = _cached(cache / f"drift_s13_n{args.drift_sets}_from{args.drift_from}.json",
                    lambda: simulated_scores(model, args.drift_sets, 13, drift_from=args.drift_from))
    spread = None
    if args.spread_sets:
        spread = _cached(cache / f"clean_s14_n{args.spread_sets}_spread.json",
                         lambda: simulated_scores(model, args.spread_sets, 14, rep_variability=(0.5, 2.0)))
    chosen = calibrate_set_alpha([s["scores"] for s in calib], args.rate)
    report = {"bundle": str(args.bundle),
              "bundle_threshold": {"calibration": model.manifest["calibration"].get("set_drift"),
                                   **figures_at(model.set_drift_alpha, test, drift, args.drift_from, spread)},
              "chosen_on_clean_sets": {"nominal_rate": args.rate, "calibration_sets": len(calib),
                                       **figures_at(chosen, test, drift, args.drift_from, spread)}}
    (args.out / "drift_cue.json").write_text(json.dumps(report, indent=2))
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
