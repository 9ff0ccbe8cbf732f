"""`liftguard demo`: the daemon on a simulated box (no hardware, server or network).

A squat set with one injected fault plays in real time through the full daemon path: live
alerts and per-rep feedback on the console, buzzer/LED patterns on gpiozero's mock pins,
everything stored in a SQLite file in a temporary (or given) data directory. At the end the
session summary and where the data is are printed.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from edge_agent.bundles.choice import pin_bundle
from liftguard.config import validate
from liftguard.errors import UsageError, interrupted_exit
from sync.lifts import LIFT_TYPES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the daemon on a simulated box and show the feedback",
                       description="Simulate a set with an injected fault and run it through "
                                   "the real daemon: alerts, rep feedback, stored session.")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: the whole set, about 4 s per rep)")
    p.add_argument("--lift", choices=LIFT_TYPES, default="squat")
    p.add_argument("--reps", type=int, default=5, help="reps in the simulated set (default 5)")
    p.add_argument("--faults", default="lateral_sway@3", metavar="SPEC",
                   help="faults to inject, e.g. 'tilt@2,weight_shift@4' (default lateral_sway@3)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--fast", action="store_true", help="do not pace the set in real time")
    p.add_argument("--data-dir", default=None,
                   help="where to keep the SQLite store (default: a new temporary directory, "
                        "or $LIFTGUARD_DEMO_DIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpiozero.pins.mock import MockFactory

    from liftguard.box import run_box_session
    from sensors.simulator import FaultSpecError, SimulatorSource, parse_faults

    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be positive, got {args.duration}")
    if not 1 <= args.reps <= 100:
        raise UsageError(f"--reps {args.reps} is out of range 1..100")
    try:
        faults = parse_faults(args.faults, args.reps)
    except FaultSpecError as exc:
        raise UsageError(f"--faults: {exc}") from None
    data_dir = Path(args.data_dir or os.environ.get("LIFTGUARD_DEMO_DIR")
                    or tempfile.mkdtemp(prefix="liftguard-demo-"))
    values = {k: dict(v) for k, v in args.cfg.values.items()}
    values["device"]["data_dir"] = str(data_dir)
    values["device"]["id"] = "demo-box"
    values["feedback"]["console"] = True
    pin_bundle(values, args.cfg)
    cfg = validate(values, "<demo>")
    source = SimulatorSource(lift=args.lift, reps=args.reps, faults=faults, seed=args.seed,
                             realtime=not args.fast)
    faults_txt = ", ".join(f"{k} on rep {r}" for r, k in sorted(faults.items())) or "none"
    print(f"liftguard demo: simulated {args.lift} set, {args.reps} reps, fault: {faults_txt}")
    print(f"  mock GPIO: buzzer 18, LEDs 23/24/25; data in {data_dir}")
    result = run_box_session(cfg, source, args.lift, realtime=not args.fast, athlete="demo athlete",
                         duration_s=args.duration, pin_factory=MockFactory(), console=True)
    print()
    print(f"session {result.session_id}: {result.sensor_s:.1f} s of sensor data, "
          f"{result.frames} frames, {result.decisions} real-time decisions, "
          f"{len(result.alerts)} instability alert(s)")
    for a in result.alerts:
        during = f" (rep {a['rep']})" if a.get("rep") else " (between reps)"
        print(f"  alert at {a['t_s']:.1f} s{during}: {a['reason']}")
    if source.set is not None:
        for rep in source.set.reps:
            if rep.fault and rep.fault_onset_s is not None and rep.fault_onset_s <= result.sensor_s:
                print(f"  injected {rep.fault} on rep {rep.number} at {rep.fault_onset_s:.1f} s")
    model = result.status.get("model")
    print(f"real-time decisions: {'model bundle ' + model['bundle'] if model else result.status.get('model_reason')}")
    print(f"data: {data_dir / 'liftguard.db'}; see it with: liftguard sessions show "
          f"{result.session_id} --data-dir {data_dir}")
    return interrupted_exit(result.interrupted_by)
