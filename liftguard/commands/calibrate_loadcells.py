"""`liftguard calibrate loadcells --known-kg 20`: tare and per-corner scale with a known mass.

The operator follows prompts on stdout and presses Enter (one line on stdin) after each
step, so the flow can also be driven by a script or a test writing lines to stdin. Steps:
empty platform (tare), then the known mass at the centre and centred over each load cell.
The math lives in ``sensors.loadcell_calibration``; this module only records and asks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from liftguard.errors import EXIT_OK, EXIT_RUNTIME, UsageError
from sensors.clock import SYSTEM_CLOCK, Clock
from sensors.errors import SensorError
from sensors.frame import PLATFORM_CHANNELS
from sensors.loadcell_calibration import (
    CalibrationError,
    LoadCellCalibration,
    noise_counts,
    placement_from_samples,
    save_calibration,
    solve_calibration,
    standard_spots,
    tare_from_samples,
)
from sensors.loadcell_protocol import STATUS_SATURATED_SHIFT, STATUS_TIMEOUT_SHIFT, channels_flagged
from sensors.loadcell_source import SerialFrameReader, calibration_path

MIN_FRAMES_PER_STEP = 5
POLL_INTERVAL_S = 0.005


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "loadcells", help="calibrate the load-cell platform with a known mass",
        description="Tare the empty platform, then place one known mass at the centre and "
                    "over each load cell in turn, pressing Enter after each step. Writes "
                    "per-corner tare and counts-per-newton to a JSON file.")
    p.add_argument("--known-kg", type=float, required=True, metavar="KG",
                   help="mass of the calibration weight in kg (e.g. 20)")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="where to write the calibration (default: [loadcells] calibration_file, "
                        "else <data_dir>/loadcell-calibration.json)")
    p.add_argument("--seconds", type=float, default=3.0, metavar="N",
                   help="seconds recorded per step (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.known_kg > 0:
        raise UsageError(f"--known-kg must be positive, got {args.known_kg}")
    if not args.seconds > 0:
        raise UsageError(f"--seconds must be positive, got {args.seconds}")
    section = args.cfg.section("loadcells")
    out = Path(args.out) if args.out else calibration_path(section, args.cfg.data_dir)
    reader = SerialFrameReader(section["port"], section["baudrate"])
    try:
        opened = reader.open()
    except SensorError as exc:
        raise UsageError(f"[loadcells] port: {exc}") from exc
    if not opened:
        print(f"liftguard: {reader.health.last_error}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        calibration = _calibrate(reader, args.known_kg, args.seconds, SYSTEM_CLOCK)
    except SensorError as exc:
        print(f"liftguard: calibration failed: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    finally:
        reader.close()
    save_calibration(calibration, out)
    _print_result(calibration, out)
    return EXIT_OK


def _calibrate(reader: SerialFrameReader, known_kg: float, seconds: float,
               clock: Clock) -> LoadCellCalibration:
    _ask("Remove all weight from the platform and step off it, then press Enter.", "tare")
    empty = record_counts(reader, seconds, clock, "tare")
    tare, noise = tare_from_samples(empty), noise_counts(empty)
    print(f"  tare: {_corners(tare)} counts (noise {_corners(noise, '.1f')})")
    placements = []
    for spot in standard_spots():
        _ask(f"Place the {known_kg:g} kg mass {spot.where}, step away, then press Enter.",
             spot.name)
        placement = placement_from_samples(spot, record_counts(reader, seconds, clock, spot.name))
        print(f"  {spot.name}: {_corners(placement.counts)} counts")
        placements.append(placement)
    return solve_calibration(tare, placements, known_kg, noise=noise)


def record_counts(reader: SerialFrameReader, seconds: float, clock: Clock,
                  step: str) -> np.ndarray:
    """Raw counts (N x 4) of frames arriving during ``seconds``, after dropping what was
    buffered while the operator was moving the weight. Frames with a channel not ready
    are skipped; a saturated channel or a lost port aborts the step."""
    reader.read_frames()
    rows: list[tuple[int, ...]] = []
    end_ns = clock.mono_ns() + int(seconds * 1e9)
    while clock.mono_ns() < end_ns:
        for frame in reader.read_frames():
            saturated = channels_flagged(frame.status, STATUS_SATURATED_SHIFT)
            if saturated:
                raise CalibrationError(f"step '{step}': {', '.join(saturated)} at the end of the "
                                       "HX711 range: use a lighter mass or check the wiring")
            if not channels_flagged(frame.status, STATUS_TIMEOUT_SHIFT):
                rows.append(frame.counts)
        if not reader.connected:
            raise CalibrationError(f"step '{step}': {reader.health.last_error}")
        clock.sleep(POLL_INTERVAL_S)
    if len(rows) < MIN_FRAMES_PER_STEP:
        raise CalibrationError(f"step '{step}': only {len(rows)} complete frames in {seconds:g} s "
                               f"(need {MIN_FRAMES_PER_STEP}): is the platform streaming?")
    return np.array(rows, dtype=float)


def _ask(prompt: str, step: str) -> None:
    print(prompt, flush=True)
    if not sys.stdin.readline():
        raise UsageError(f"stdin closed before step '{step}' (one line is read per step)")


def _corners(values, fmt: str = ".0f") -> str:
    return " ".join(f"{c}={v:{fmt}}" for c, v in zip(PLATFORM_CHANNELS, values))


def _print_result(calibration: LoadCellCalibration, out: Path) -> None:
    print("corner  tare_counts  counts_per_N")
    for channel, tare, scale in zip(PLATFORM_CHANNELS, calibration.tare_counts,
                                    calibration.counts_per_newton):
        print(f"{channel:<7} {tare:>11.1f}  {scale:>12.3f}")
    residuals = ", ".join(f"{n} {r:+.2f} %" for n, r in calibration.residual_pct.items())
    print(f"known-weight check after calibration: {residuals}")
    print(f"saved load-cell calibration to {out}")
