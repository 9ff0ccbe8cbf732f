"""`liftguard replay FILE`: play a recording CSV through ``ReplaySource`` and summarise it.

Exit 1 for a bad or missing recording (a runtime input problem, with ``file:line: what``).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sensors.clock import SYSTEM_CLOCK
from sensors.frame import Frame
from sensors.recording import RecordingError, describe_frames, labels_path_for, read_labels
from sensors.replay_source import ReplaySource

POLL_INTERVAL_S = 0.02


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording CSV and summarise it",
                       description="Read a recording CSV through the replay source and print "
                                   "its sources, channels, rates, duration and sample gaps.")
    p.add_argument("file", metavar="FILE", help="recording CSV (see docs/recording-format.md)")
    p.add_argument("--realtime", action="store_true",
                   help="pace frames at their recorded rate (takes as long as the recording)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = ReplaySource(args.file, realtime=args.realtime, clock=SYSTEM_CLOCK)
    try:
        source.start()
    except RecordingError as exc:
        print(f"liftguard: bad recording: {exc}", file=sys.stderr)
        return 1
    frames: list[Frame] = []
    while not source.exhausted:
        frames.extend(source.poll())
        if args.realtime:
            SYSTEM_CLOCK.sleep(POLL_INTERVAL_S)
    source.stop()
    summary = _summary(args.file, frames)
    print(json.dumps(summary, indent=2) if args.json else _human(summary))
    return 0


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
    return "\n".join(lines)
