"""`liftguard sessions list | show ID`: sessions in the local store, read-only."""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any

from liftguard.commands.store_args import add_data_dir, open_reader
from liftguard.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sessions", help="list and show sessions in the local store",
                       description="Read the local store (never changes it, so it is safe "
                                   "while the daemon records).")
    ssub = p.add_subparsers(dest="sessions_command", metavar="ACTION")
    ssub.required = True
    lp = ssub.add_parser("list", help="most recent sessions first, with reps and scores")
    lp.add_argument("--limit", type=int, default=20, help="how many (1..1000, default 20)")
    lp.add_argument("--status", choices=("active", "ended"), default=None)
    lp.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(lp)
    lp.set_defaults(func=run_list)
    sp = ssub.add_parser("show", help="one session: per-rep table, scores and feedback")
    sp.add_argument("session", metavar="ID", help="session id (liftguard sessions list)")
    sp.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(sp)
    sp.set_defaults(func=run_show)


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _scores(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    last = metrics[-1] if metrics else {}
    return {k: last.get(k) for k in ("balance_score", "stability_score", "injury_risk")}


LIST_HEADER = (f"{'SESSION':<36}  {'LIFT':<11} {'STATUS':<6} {'STARTED (UTC)':<19}  "
               f"{'ATHLETE':<20} {'REPS':>4} {'BAL':>4} {'STAB':>4} {'RISK':>5}  END")


def run_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise UsageError(f"--limit {args.limit} is out of range 1..1000")
    with open_reader(args) as store:
        rows = store.list_sessions(args.limit, args.status)
        counts = store.rep_counts()
        for r in rows:
            r["rep_count"] = counts.get(r["id"], 0)
            r.update(_scores(store.session_metrics(r["id"])))
        path = store.path
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"no sessions in {path}")
        return 0
    print(LIST_HEADER)
    for r in rows:
        print(f"{r['id']:<36}  {r['lift_type']:<11} {r['status']:<6} {_when(r['start_time']):<19}  "
              f"{(r['athlete'] or '-')[:20]:<20} {r['rep_count']:>4} "
              f"{_num(r['balance_score'], '.0f'):>4} {_num(r['stability_score'], '.0f'):>4} "
              f"{_num(r['injury_risk'], '.2f'):>5}  {r['end_reason'] or ''}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_reader(args) as store:
        session = store.get_session(args.session)
        if session is None:
            raise UsageError(f"no session {args.session!r} in {store.path}")
        reps = store.session_reps(args.session)
        metrics = store.session_metrics(args.session)
        feedback = store.session_feedback(args.session)
    if args.json:
        print(json.dumps({"session": session, "reps": reps, "metrics": metrics,
                          "feedback": feedback}, indent=2, default=str))
        return 0
    print(f"session {session['id']}: {session['lift_type']}, {session['athlete'] or 'no athlete'}, "
          f"{session['status']}")
    print(f"  started {_when(session['start_time'])} UTC, ended {_when(session['end_time'])} UTC"
          + (f" ({session['end_reason']})" if session["end_reason"] else ""))
    if reps:
        print(f"{'REP':>3} {'START s':>7} {'END s':>6} {'ROM m':>5} {'MCV m/s':>7} {'BAL':>4} "
              f"{'STAB':>4} {'RISK':>5}  FEEDBACK")
        t0 = session["start_mono_ns"]
        for r in reps:
            m = r["metrics"] or {}
            print(f"{r['rep_number']:>3} {(r['start_mono_ns'] - t0) / 1e9:>7.1f} "
                  f"{(r['end_mono_ns'] - t0) / 1e9:>6.1f} {_num(m.get('rom_m'), '.2f'):>5} "
                  f"{_num(m.get('mean_concentric_velocity_mps'), '.2f'):>7} "
                  f"{_num(r['balance_score'], '.0f'):>4} {_num(r['stability_score'], '.0f'):>4} "
                  f"{_num(r['injury_risk'], '.2f'):>5}  {r['feedback_text'] or ''}")
    elif session["status"] == "active":
        print("no reps stored yet: the session is still recording (reps are stored when it ends)")
    else:
        print("no reps found in this session")
    scores = _scores(metrics)
    if reps and any(v is not None for v in scores.values()):
        print(f"scores: balance {_num(scores['balance_score'], '.0f')}/100, stability "
              f"{_num(scores['stability_score'], '.0f')}/100, injury risk "
              f"{_num(scores['injury_risk'], '.2f')} (a heuristic, not a diagnosis)")
    for f in feedback:
        print(f"  {f['feedback_text']}")
    return 0
