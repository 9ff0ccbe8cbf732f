"""`liftguard train`: fit a model bundle on clean recordings or simulated clean sets.

    liftguard train (RECORDING.csv | DIR) ... --lift L [--out DIR] ...
    liftguard train --sim N --lift L|all [--held-out-sim M] [--out DIR] ...

Recordings are aligned at the model rate and cut into reps by the rep analysis (see
``models.anomaly.segments``); a quarter of the sets of each lift (at least one when a lift has
two or more) is held out to calibrate the real-time threshold and report held-out false
alarms. ``--sim N`` simulates N clean sets per lift (varied athletes and loads, seeded), plus
``--held-out-sim`` more for that calibration. The bundle (manifest with checksums, ``.tflite``,
joblib files) and ``training_report.json``/``.md`` are written to ``--out``.

TensorFlow is imported only when the autoencoder is trained (not with ``--no-autoencoder``).
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shutil
import time
from pathlib import Path

from liftguard.commands.output_paths import output_dir
from liftguard.errors import EXIT_USAGE, UsageError

log = logging.getLogger(__name__)

LIFT_CHOICES = ("squat", "bench_press", "deadlift", "all")
HELD_OUT_FRACTION = 0.25
TRAIN_EXTRA_HINT = "install the train extra: pip install '.[train]'"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an anomaly-model bundle on clean sets",
                       description="Fit the anomaly models (LSTM autoencoder, IsolationForest, "
                                   "One-Class SVM) on clean recordings or simulated clean sets "
                                   "and write a verified bundle with a training report.")
    p.add_argument("inputs", nargs="*", metavar="RECORDING.csv|DIR",
                   help="clean recordings (CSV) or directories of them")
    p.add_argument("--sim", type=int, metavar="N", help="train on N simulated clean sets per lift")
    p.add_argument("--held-out-sim", type=int, default=None, metavar="M",
                   help="with --sim: M more simulated clean sets per lift for calibration "
                        "(default: a third of N, at least 1)")
    p.add_argument("--lift", required=True, choices=LIFT_CHOICES,
                   help="which lift the sets are ('all' with --sim: all three)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="bundle directory (default: ./liftguard-bundle-<lift>-<time>)")
    p.add_argument("--replace", action="store_true", help="replace --out if it exists")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-autoencoder", action="store_true",
                   help="IsolationForest + One-Class SVM only (no TensorFlow needed)")
    p.add_argument("--rep-autoencoder", action="store_true",
                   help="also fuse the autoencoder's reconstruction error into the rep decision "
                        "(helped on simulated sets, hurt on the real squat data: docs/models.md)")
    p.add_argument("--rep-detectors", default=None, metavar="NAMES",
                   help="comma-separated rep detectors fused into the rep decision, from rep_iforest, rep_ocsvm, "
                        "rep_extent, rep_mahalanobis, autoencoder_mean (default: rep_iforest,rep_ocsvm,rep_extent; "
                        "docs/models.md)")
    p.add_argument("--false-alarm-rate", type=float, default=0.01, metavar="R",
                   help="per-rep false-alarm rate the rep threshold is set for (default 0.01)")
    p.add_argument("--realtime-false-alerts", type=float, default=1.0, metavar="K",
                   help="real-time alerts allowed per 100 held-out clean reps (default 1)")
    p.add_argument("--sim-athletes", type=int, default=0, metavar="K",
                   help="with --sim: also K simulated athletes per lift with two clean sets each (the first is "
                        "their enrolment) to fit the rep decision used when an athlete profile is loaded "
                        "(docs/models.md); without it a profile only moves the athlete onto the population norm")
    p.add_argument("--held-out-sim-athletes", type=int, default=None, metavar="M",
                   help="with --sim-athletes: M more athletes per lift to calibrate that rep decision on "
                        "(default: half of K, at least 2)")
    p.add_argument("--sim-rep-variability", default="0.5,2", metavar="LOW,HIGH",
                   help="with --sim-athletes: each athlete's rep-to-rep spread is drawn log-uniformly from this "
                        "range (docs/simulator.md; default 0.5,2)")
    p.add_argument("--enrolment-baseline", type=float, default=0.75, metavar="W",
                   help="with --sim-athletes: weight of the athlete's enrolment baseline (default 0.75, the "
                        "validated value)")
    p.add_argument("--ae-epochs", type=int, default=40, help="autoencoder training epochs")
    p.add_argument("--rate", type=float, default=None, metavar="HZ",
                   help="model sample rate (default: the daemon's analysis rate, 100 Hz)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if (args.sim is None) == (not args.inputs):
        raise UsageError("give either recordings/directories or --sim N (not both, not neither)")
    if args.sim is not None and not 2 <= args.sim <= 500:
        raise UsageError(f"--sim {args.sim} is out of range 2..500")
    if args.lift == "all" and args.sim is None:
        raise UsageError("--lift all only works with --sim; recordings need their lift")
    if not 0 < args.false_alarm_rate < 1:
        raise UsageError(f"--false-alarm-rate must be in (0, 1), got {args.false_alarm_rate}")
    if args.ae_epochs < 1:
        raise UsageError(f"--ae-epochs must be at least 1, got {args.ae_epochs}")
    if args.sim_athletes and args.sim is None:
        raise UsageError("--sim-athletes needs --sim: recordings carry no athlete and set to group them by")
    if not 0 <= args.sim_athletes <= 500:
        raise UsageError(f"--sim-athletes {args.sim_athletes} is out of range 0..500")
    if args.held_out_sim_athletes is not None and not 2 <= args.held_out_sim_athletes <= 500:
        raise UsageError(f"--held-out-sim-athletes {args.held_out_sim_athletes} is out of range 2..500")
    args.rep_variability = _spread_range(args.sim_rep_variability)
    if not 0 <= args.enrolment_baseline <= 10:
        raise UsageError(f"--enrolment-baseline must be from 0 to 10, got {args.enrolment_baseline}")
    if args.rep_detectors is not None:
        from models.anomaly.pipeline import checked_rep_detectors

        try:
            checked_rep_detectors(args.rep_detectors.split(","), autoencoder=not args.no_autoencoder)
        except ValueError as exc:
            raise UsageError(f"--rep-detectors {args.rep_detectors!r}: {exc}") from None


def _spread_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--sim-rep-variability {text!r}: expected LOW,HIGH such as 0.5,2") from None
    if not 0.25 <= low <= high <= 3.0:
        raise UsageError(f"--sim-rep-variability {text!r}: need 0.25 <= LOW <= HIGH <= 3 (the simulator's range)")
    return low, high


def recording_paths(inputs: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.glob("*.csv"))
            if not found:
                raise UsageError(f"{path}: no *.csv recordings in this directory")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return paths


def _recorded_sets(paths: list[Path], lift: str, rate_hz: float):
    from models.anomaly.segments import set_segments
    from models.anomaly.training import LabelledSet
    from sensors.frame import BOX_CHANNELS
    from sensors.recording import RecordingError, read_recording

    sets, channels = [], None
    for path in paths:
        try:
            recording = read_recording(path)
        except RecordingError as exc:
            raise UsageError(str(exc)) from None
        present = tuple(c for c in BOX_CHANNELS if c in recording.channels)
        if channels is None:
            channels = present
        if present != channels or not channels:
            raise UsageError(f"{path}: channels {list(present)} differ from the first recording's "
                             f"{list(channels)}; train one channel set per bundle")
        segments = set_segments(recording.frames, lift, channels, rate_hz)
        log.info("%s: %d reps", path, len(segments.reps))
        sets.append(LabelledSet(str(path), lift, segments))
    return sets, channels


def _out_dir(args: argparse.Namespace) -> Path:
    out = output_dir(args.out or f"liftguard-bundle-{args.lift}-{time.strftime('%Y%m%d-%H%M%S')}",
                     "--out")
    if out.exists() and any(out.iterdir()) and not args.replace:
        raise UsageError(f"{out} exists and is not empty; choose another --out or add --replace")
    return out


def run(args: argparse.Namespace) -> int:
    from evaluation.logs import quiet_libraries

    _check_args(args)
    quiet_libraries()
    if not args.no_autoencoder and importlib.util.find_spec("tensorflow") is None:
        print(f"liftguard train: the autoencoder needs TensorFlow; {TRAIN_EXTRA_HINT} "
              f"(or pass --no-autoencoder)")
        return EXIT_USAGE
    from models import ANALYSIS_RATE_HZ
    from models.anomaly import TrainingDataError
    from models.anomaly.training import (
        TrainOptions,
        simulated_athlete_sets,
        simulated_clean_sets,
        split_held_out,
        train_bundle,
    )
    from sensors.frame import BOX_CHANNELS

    rate = args.rate or ANALYSIS_RATE_HZ
    out = _out_dir(args)
    athletes, held_out_athletes = [], []
    lifts = ("squat", "bench_press", "deadlift") if args.lift == "all" else (args.lift,)
    if args.sim is not None:
        held_n = args.held_out_sim if args.held_out_sim is not None else max(1, args.sim // 3)
        fit_sets = simulated_clean_sets(args.sim, lifts, args.seed, BOX_CHANNELS, rate)
        held_out = simulated_clean_sets(held_n, lifts, args.seed + 1_000_003, BOX_CHANNELS, rate) if held_n else []
        channels = BOX_CHANNELS
        if args.sim_athletes:
            held_athletes = args.held_out_sim_athletes or max(2, args.sim_athletes // 2)
            athletes = simulated_athlete_sets(args.sim_athletes, lifts, args.seed + 2_000_003, BOX_CHANNELS, rate,
                                              args.rep_variability)
            held_out_athletes = simulated_athlete_sets(held_athletes, lifts, args.seed + 3_000_017, BOX_CHANNELS, rate,
                                                       args.rep_variability)
    else:
        sets, channels = _recorded_sets(recording_paths(args.inputs), args.lift, rate)
        fit_sets, held_out = split_held_out(sets, HELD_OUT_FRACTION, args.seed)
    options = TrainOptions(channels=tuple(channels), sample_rate_hz=rate, lift_types=lifts, seed=args.seed,
                           autoencoder=not args.no_autoencoder, rep_autoencoder=args.rep_autoencoder,
                           rep_detectors=None if args.rep_detectors is None else tuple(args.rep_detectors.split(",")),
                           false_alarm_rate=args.false_alarm_rate,
                           realtime_false_alerts_per_100_reps=args.realtime_false_alerts,
                           ae_epochs=args.ae_epochs, enrolment_baseline=args.enrolment_baseline)
    staging = out.parent / f".{out.name}.new-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        report = train_bundle(fit_sets, held_out, staging, options, athletes=athletes,
                              held_out_athletes=held_out_athletes)
    except TrainingDataError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"training data refused: {exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.replace(out)
    size_kb = sum(p.stat().st_size for p in out.iterdir()) / 1024
    print(f"bundle written to {out} ({size_kb:.0f} KiB): {report['fit_reps']} clean reps from "
          f"{len(fit_sets)} sets, {len(held_out)} sets held out")
    from evaluation.metrics import format_count

    realtime, held = report.get("realtime"), report.get("held_out")
    if realtime and held:
        print(f"  real-time threshold fused_p <= {realtime['window_p_threshold']:.3g}, set on the held-out sets: "
              f"false alerts {format_count(held['realtime_false_alerts'])} clean reps")
        print(f"  held-out clean reps flagged at the rep threshold: {format_count(held['rep_flags'])}")
        for note in dict.fromkeys(n for n in (held["realtime_support"], held["rep_flags_support"]) if n):
            print(f"  note: {note}")
    else:
        print("  no held-out clean sets: the real-time threshold is not calibrated and no false-alarm figure exists")
    profile = report.get("profile_rep")
    if profile:
        print(f"  with an athlete profile: rep decision from {len(profile['athletes'])} athletes (first set = "
              f"enrolment), held-out athletes' clean reps flagged: {format_count(profile['rep_flags'])}")
    print(f"  report: {out / 'training_report.md'}")
    print(f"  install on the box: copy it to <data_dir>/models/default (or `liftguard model install {out}`)")
    return 0
