"""`liftguard replay FILE`: play a recording CSV through the daemon and summarise it.

The recording is read by ``ReplaySource`` and fed through the very same path as live sensors
(``edge_agent.daemon``: real-time loop, feedback, store, end-of-session analysis), paced with
``--realtime`` or as fast as possible without. The session goes to a temporary data directory
unless ``--data-dir`` names one. Exit 1 for a bad or missing recording (a runtime input
problem, with ``file:line: what``).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from edge_agent.bundles.choice import pin_bundle
from liftguard.errors import interrupted_exit
from sensors.clock import SYSTEM_CLOCK
from sensors.frame import Frame
from sensors.recording import (
    RecordingError,
    describe_frames,
    labels_path_for,
    read_labels,
    read_labels_meta,
)
from sensors.replay_source import ReplaySource
from sync.lifts import LIFT_TYPES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording CSV and summarise it",
                       description="Read a recording CSV through the replay source and print "
                                   "its sources, channels, rates, duration and sample gaps.")
    p.add_argument("file", metavar="FILE", help="recording CSV (see docs/recording-format.md)")
    p.add_argument("--realtime", action="store_true",
                   help="pace frames at their recorded rate (takes as long as the recording)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--lift", choices=LIFT_TYPES, default=None,
                   help="lift of the session (default: from the labels file, else squat)")
    p.add_argument("--data-dir", default=None,
                   help="store the session here (default: a new temporary directory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    probe = ReplaySource(args.file, realtime=False, clock=SYSTEM_CLOCK)
    try:
        probe.start()
    except RecordingError as exc:
        print(f"liftguard: bad recording: {exc}", file=sys.stderr)
        return 1
    frames: list[Frame] = list(probe.recording.frames) if probe.recording else []
    probe.stop()
    summary = _summary(args.file, frames)
    summary["daemon"] = _through_daemon(args, summary)
    print(json.dumps(summary, indent=2) if args.json else _human(summary))
    return interrupted_exit(summary["daemon"].get("interrupted_by"))


def _through_daemon(args: argparse.Namespace, summary: dict[str, Any]) -> dict[str, Any]:
    from liftguard.box import run_box_session
    from liftguard.config import validate

    lift = args.lift or _labelled_lift(args.file) or "squat"
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="liftguard-replay-"))
    values = {k: dict(v) for k, v in args.cfg.values.items()}
    values["device"]["data_dir"] = str(data_dir)
    for pin in ("buzzer_pin", "green_led_pin", "amber_led_pin", "red_led_pin", "button_pin"):
        values["feedback"][pin] = -1   # a replay never drives the box's buzzer
    values["feedback"]["console"] = not args.json
    pin_bundle(values, args.cfg)
    cfg = validate(values, "<replay>")
    source = ReplaySource(args.file, realtime=args.realtime, restamp=True, clock=SYSTEM_CLOCK)
    result = run_box_session(cfg, source, lift, realtime=args.realtime, console=not args.json)
    return {"session_id": result.session_id, "lift": lift, "data_dir": str(data_dir),
            "decisions": result.decisions, "alerts": result.alerts,
            "wall_s": round(result.wall_s, 3), "summary": result.summary,
            "model": result.status.get("model"), "model_reason": result.status.get("model_reason"),
            "interrupted_by": result.interrupted_by}


def _labelled_lift(path: str) -> str | None:
    labels = labels_path_for(path)
    if not labels.exists():
        return None
    try:
        lift = read_labels_meta(labels).get("lift")
    except RecordingError:
        return None
    return lift if lift in LIFT_TYPES else None


def _summary(path: str, frames: list[Frame]) -> dict[str, Any]:
    stats = describe_frames(frames)
    summary: dict[str, Any] = {
        "file": path, "frames": len(frames),
        "duration_s": round((frames[-1].mono_ns - frames[0].mono_ns) / 1e9, 6),
        "sources": [{"source": s.source, "channels": list(s.channels), "frames": s.frames,
                     "rate_hz": round(s.rate_hz, 3), "lost_samples": s.lost_samples,
                     "gaps": s.gaps} for s in stats],
    }
    labels = labels_path_for(path)
    if labels.exists():
        try:
            reps = read_labels(labels)
            summary["labels"] = {"file": str(labels), "reps": len(reps),
                                 "faults": [f"{r.fault}@{r.number}" for r in reps if r.fault]}
        except RecordingError as exc:
            summary["labels"] = {"file": str(labels), "error": str(exc)}
    return summary


def _human(summary: dict[str, Any]) -> str:
    lines = [f"{summary['file']}: {summary['frames']} frames over {summary['duration_s']:.2f} s"]
    for s in summary["sources"]:
        gaps = (f"{s['lost_samples']} samples lost in {s['gaps']} gaps" if s["gaps"]
                else "no gaps")
        lines.append(f"  {s['source']:<9} {s['frames']:>7} frames at {s['rate_hz']:g} Hz, "
                     f"{gaps} ({', '.join(s['channels'])})")
    labels = summary.get("labels")
    if labels:
        if "error" in labels:
            lines.append(f"  labels: {labels['error']}")
        else:
            lines.append(f"  labels: {labels['reps']} reps, faults: "
                         f"{', '.join(labels['faults']) or 'none'} ({labels['file']})")
    d = summary.get("daemon")
    if d:
        lines.append(f"  through the daemon: session {d['session_id']} ({d['lift']}), "
                     f"{d['decisions']} decisions, {len(d['alerts'])} alert(s), "
                     f"{(d['summary'] or {}).get('rep_count', 0)} reps; stored in "
                     f"{d['data_dir']}")
        lines.append("  real-time decisions: " + (f"model bundle {d['model']['bundle']}"
                                                 if d.get("model") else str(d.get("model_reason"))))
    return "\n".join(lines)
