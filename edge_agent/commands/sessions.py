"""`liftguard sessions list`: sessions in the local store, most recent first."""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from edge_agent.store import LocalStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sessions", help="list sessions in the local store")
    ssub = p.add_subparsers(dest="sessions_command", metavar="ACTION")
    ssub.required = True
    lp = ssub.add_parser("list", help="most recent sessions first")
    lp.add_argument("--limit", type=int, default=20, help="how many (1..1000, default 20)")
    lp.add_argument("--status", choices=("active", "ended"), default=None)
    lp.add_argument("--json", action="store_true", help="print JSON")
    lp.set_defaults(func=run_list)


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def run_list(args: argparse.Namespace) -> int:
    from edge_agent.cli import UsageError

    if not 1 <= args.limit <= 1000:
        raise UsageError(f"--limit {args.limit} is out of range 1..1000")
    with LocalStore(args.cfg.data_dir, args.cfg.get("device.id")) as store:
        rows = store.list_sessions(args.limit, args.status)
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return 0
        if not rows:
            print(f"no sessions in {store.path}")
            return 0
        for r in rows:
            print(f"{r['id']}  {r['lift_type']:<11} {r['status']:<6} {_when(r['start_time'])} UTC  "
                  f"{r['athlete'] or '-':<20} {r['end_reason'] or ''}")
    return 0
