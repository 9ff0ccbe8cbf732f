"""`liftguard calibrate imu [--seconds N] [--out FILE]`: gyro and accelerometer offsets.

Records the raw (uncalibrated) IMU for N seconds while the bar rests level and untouched,
estimates the biases (``sensors.imu_calibration``), refuses a bar that moved or is not level,
and writes the calibration file atomically. Tests drive this exact code path on the fake bus
by setting ``bus_factory`` (and ``clock``) below, as gpiozero tests set a pin factory.
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from liftguard.errors import EXIT_OK, EXIT_RUNTIME, UsageError
from sensors.clock import SYSTEM_CLOCK, Clock
from sensors.errors import SensorError
from sensors.i2c import BusFactory
from sensors.imu_calibration import (
    DEFAULT_FILE_NAME,
    CalibrationError,
    estimate_still_calibration,
    save_calibration,
)
from sensors.imu_source import IMUSource, collect_frames

bus_factory: BusFactory | None = None
"""I2C backend; None = smbus2.SMBus. Tests put ``FakeI2CBus(...).factory`` here."""
clock: Clock = SYSTEM_CLOCK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "imu", help="estimate IMU gyro/accelerometer offsets from a still, level bar",
        description="Rest the bar level in the rack and do not touch it. Records the raw IMU, "
                    "estimates gyro bias and accelerometer bias (gravity along the axis that "
                    "reads about 1 g) and writes them to a JSON file.")
    p.add_argument("--seconds", type=float, default=10.0, metavar="N",
                   help="recording length in seconds (default 10)")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="where to write the calibration (default: [imu] calibration_file, "
                        f"else <data_dir>/{DEFAULT_FILE_NAME})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 1.0 <= args.seconds <= 600:
        raise UsageError(f"--seconds must be between 1 and 600, got {args.seconds:g}")
    cfg = args.cfg
    section = cfg.section("imu")
    out = cfg.data_path(args.out or section["calibration_file"], DEFAULT_FILE_NAME)
    try:
        source = IMUSource.from_config(section, cfg.data_dir, clock=clock,
                                       bus_factory=bus_factory, use_calibration=False)
    except ValueError as exc:
        raise UsageError(f"[imu] {exc}") from None
    try:
        source.start()
        print(f"calibrating IMU: keep the bar resting level and still for {args.seconds:g} s ...")
        try:
            frames = collect_frames(source, args.seconds, clock)
        finally:
            source.stop()
        samples = np.array([f.values for f in frames], dtype=float).reshape(-1, 6)
        calibration = estimate_still_calibration(samples)
    except CalibrationError as exc:
        print(f"liftguard: IMU calibration refused: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except SensorError as exc:
        print(f"liftguard: IMU not available: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    calibration.info.update(source=source.description, seconds=args.seconds,
                            health=source.health.as_dict())
    save_calibration(out, calibration)
    gyro_dps = ", ".join(f"{math.degrees(v):+.3f}" for v in calibration.gyro_bias_rad_s)
    accel = ", ".join(f"{v:+.3f}" for v in calibration.accel_bias_m_s2)
    print(f"{len(samples)} samples, gravity on {calibration.info['gravity_axis']}")
    print(f"gyro bias:  [{gyro_dps}] deg/s")
    print(f"accel bias: [{accel}] m/s^2")
    print(f"written: {out}")
    return EXIT_OK
