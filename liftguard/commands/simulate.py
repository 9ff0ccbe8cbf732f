"""`liftguard simulate`: simulate one set (with injected faults) into a recording + labels.

Defaults come from the ``[simulator]`` config section (rates from ``[imu]``, 80 Hz platform;
IMU ranges and DLPF from ``[imu]`` too). Without ``--out`` nothing is written: the set is
simulated and summarised only.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from liftguard.commands.output_paths import output_file
from liftguard.errors import UsageError
from sensors.recording import describe_frames, labels_path_for, write_labels, write_recording
from sensors.simulator import (
    BENCH_SETUPS,
    FAULT_TYPES,
    LIFTS,
    FaultSpecError,
    NoiseModel,
    SimulatedSet,
    parse_faults,
    simulate_set,
)

PLATFORM_RATE_HZ = 80


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="simulate a set of reps (with faults) into a recording CSV + labels",
        description="Simulate one set of squat, bench press or deadlift as IMU and load-cell "
                    "frames, with optional injected faults. Writes OUT (recording CSV) and "
                    "OUT's .labels.json (per-rep ground truth) when --out is given. "
                    f"Fault types: {', '.join(FAULT_TYPES)}.")
    p.add_argument("--lift", choices=LIFTS, help="default: [simulator] lift")
    p.add_argument("--reps", type=int, help="default: [simulator] reps")
    p.add_argument("--faults", metavar="SPEC",
                   help="TYPE@REP[,TYPE@REP...], e.g. lateral_sway@3,tilt@6 "
                        "(default: [simulator] faults)")
    p.add_argument("--seed", type=int, help="default: [simulator] seed")
    p.add_argument("--athlete-kg", type=float, help="default: [simulator] athlete_mass_kg")
    p.add_argument("--bar-kg", type=float, help="default: [simulator] bar_load_kg")
    p.add_argument("--bench-setup", choices=BENCH_SETUPS, default=BENCH_SETUPS[0],
                   help="bench press load path: where the bench and the racked bar stand "
                        "(docs/simulator.md; default %(default)s)")
    p.add_argument("--lockout-hold", type=float, default=0.0, metavar="S",
                   help="deadlift: seconds held still at lockout (0..10, default 0)")
    p.add_argument("--spotter", type=int, metavar="REP",
                   help="a spotter touches the bar around this rep (load-path fault)")
    p.add_argument("--imu-rate", type=float, metavar="HZ", help="default: [imu] sample_rate_hz")
    p.add_argument("--platform-rate", type=float, metavar="HZ",
                   help=f"default: {PLATFORM_RATE_HZ}")
    p.add_argument("--out", metavar="FILE.csv",
                   help="recording to write (labels go to FILE.labels.json); "
                        "without it only the summary is printed")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    sim, imu = args.cfg.section("simulator"), args.cfg.section("imu")

    def pick(given: Any, default: Any) -> Any:
        return default if given is None else given

    opts = dict(
        lift=pick(args.lift, sim["lift"]), reps=pick(args.reps, sim["reps"]),
        seed=pick(args.seed, sim["seed"]),
        athlete_mass_kg=float(pick(args.athlete_kg, sim["athlete_mass_kg"])),
        bar_load_kg=float(pick(args.bar_kg, sim["bar_load_kg"])),
        imu_rate_hz=float(pick(args.imu_rate, imu["sample_rate_hz"])),
        platform_rate_hz=float(pick(args.platform_rate, PLATFORM_RATE_HZ)))
    opts.update(bench_setup=args.bench_setup, lockout_hold_s=float(args.lockout_hold),
                spotter_rep=args.spotter)
    if args.spotter is not None and not 1 <= args.spotter <= opts["reps"]:
        raise UsageError(f"--spotter {args.spotter} is out of range 1..{opts['reps']}")
    checks = (("--reps", opts["reps"], 1, 100), ("--seed", opts["seed"], 0, 2**32 - 1),
              ("--lockout-hold", opts["lockout_hold_s"], 0, 10),
              ("--athlete-kg", opts["athlete_mass_kg"], 30, 250),
              ("--bar-kg", opts["bar_load_kg"], 0, 500),
              ("--imu-rate", opts["imu_rate_hz"], 4, 1000),
              ("--platform-rate", opts["platform_rate_hz"], 1, 1000))
    for flag, value, lo, hi in checks:
        if not lo <= value <= hi:
            raise UsageError(f"{flag} {value:g} is out of range {lo}..{hi}")
    try:
        opts["faults"] = parse_faults(pick(args.faults, sim["faults"]), opts["reps"])
    except FaultSpecError as exc:
        raise UsageError(f"--faults: {exc}") from None
    opts["noise"] = NoiseModel(dlpf_hz=imu["dlpf_hz"], accel_range_g=imu["accel_range_g"],
                               gyro_range_dps=imu["gyro_range_dps"])
    return opts


def run(args: argparse.Namespace) -> int:
    opts = _options(args)
    out = output_file(args.out, "--out") if args.out else None
    s = simulate_set(**opts)
    files: list[str] = []
    if out is not None:
        write_recording(out, s.frames)
        write_labels(labels_path_for(out), s.reps, s.meta())
        files = [str(out), str(labels_path_for(out))]
    summary = _summary(s, files)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_human(summary))
    return 0


def _summary(s: SimulatedSet, files: list[str]) -> dict[str, Any]:
    return {
        "set": s.meta(),
        "sources": [{"source": st.source, "frames": st.frames, "rate_hz": round(st.rate_hz, 3),
                     "channels": list(st.channels)} for st in describe_frames(s.frames)],
        "reps": [r.as_dict() for r in s.reps],
        "files": files,
    }


def _human(summary: dict[str, Any]) -> str:
    meta = summary["set"]
    lines = [f"simulated {meta['lift']}: {len(summary['reps'])} reps, seed {meta['seed']}, "
             f"athlete {meta['athlete_mass_kg']:g} kg, bar {meta['bar_load_kg']:g} kg, "
             f"{meta['duration_s']:.1f} s"]
    for st in summary["sources"]:
        lines.append(f"  {st['source']:<9} {st['frames']:>7} frames at {st['rate_hz']:g} Hz "
                     f"({', '.join(st['channels'])})")
    lines.append("  rep   start     end   ROM m  MCV m/s  fault")
    for r in summary["reps"]:
        fault = "-" if r["fault"] is None else f"{r['fault']} from {r['fault_onset_s']:.2f} s"
        lines.append(f"  {r['number']:>3} {r['start_s']:7.2f} {r['end_s']:7.2f} {r['rom_m']:7.3f} "
                     f"{r['mean_concentric_velocity_mps']:8.3f}  {fault}")
    if summary["files"]:
        lines.append("wrote " + ", ".join(summary["files"]))
    else:
        lines.append("nothing written (no --out)")
    return "\n".join(lines)
