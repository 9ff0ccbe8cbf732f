"""`liftguard sensors check`: probe the configured hardware and report it on one screen."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sensors", help="sensor hardware tools")
    psub = p.add_subparsers(dest="sensors_command", metavar="ACTION")
    psub.required = True
    check = psub.add_parser("check", help="probe the configured IMU and load cells")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from sensors.imu_source import probe_imu
    from sensors.loadcell_source import probe_loadcells

    cfg = args.cfg
    results = []
    for label, section_name, probe in (("IMU", "imu", probe_imu),
                                       ("load cells", "loadcells", probe_loadcells)):
        section = cfg.section(section_name)
        if not section["enabled"]:
            results.append((label, True, "disabled in config"))
            continue
        ok, message = probe(section)
        results.append((label, ok, message))
    for label, ok, message in results:
        print(f"{'OK  ' if ok else 'FAIL'} {label}: {message}")
    return 0 if all(ok for _, ok, _ in results) else 1
