"""`liftguard sensors check`: probe the configured hardware and report it on one screen."""
from __future__ import annotations

import argparse

import serial

from sensors.imu_source import probe_imu
from sensors.loadcell_source import probe_loadcells

# Backends, swappable like gpiozero's pin factory: tests put the fake MPU-6050 bus here.
imu_bus_factory = None
open_serial_port = serial.serial_for_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sensors", help="sensor hardware tools")
    psub = p.add_subparsers(dest="sensors_command", metavar="ACTION")
    psub.required = True
    check = psub.add_parser("check", help="probe the configured IMU and load cells")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    cfg = args.cfg
    probes = (
        ("IMU", "imu", lambda s: probe_imu(s, bus_factory=imu_bus_factory)),
        ("load cells", "loadcells",
         lambda s: probe_loadcells(s, cfg.data_dir, open_port=open_serial_port)),
    )
    all_ok = True
    for label, section_name, probe in probes:
        section = cfg.section(section_name)
        if not section["enabled"]:
            ok, message = True, "disabled in config"
        else:
            ok, message = probe(section)
        all_ok &= ok
        print(f"{'OK  ' if ok else 'FAIL'} {label}: {message}")
    return 0 if all_ok else 1
