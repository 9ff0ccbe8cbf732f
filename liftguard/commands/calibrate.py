"""`liftguard calibrate <imu|loadcells|...>`: one sub-subcommand per calibration."""
from __future__ import annotations

import argparse
import importlib

CALIBRATION_MODULES = (
    "liftguard.commands.calibrate_imu",
    "liftguard.commands.calibrate_loadcells",
    "liftguard.commands.calibrate_athlete",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate the IMU or the load cells")
    csub = p.add_subparsers(dest="calibrate_command", metavar="WHAT")
    csub.required = True
    for name in CALIBRATION_MODULES:
        importlib.import_module(name).register(csub)
