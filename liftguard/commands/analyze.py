"""`liftguard analyze REC.csv --lift squat [--json]`: per-rep metrics, scores and feedback."""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from models import LIFTS, analyze_frames, rep_feedback, set_feedback
from models.analysis import set_bar_load
from models.bar_load import rep_load_fields
from models.feedback_text import bar_load_text
from sensors.recording import RecordingError, read_recording

TABLE_COLUMNS = (  # (header, field, scale, format)
    ("rep", "number", 1, "{:>3.0f}"),
    ("start s", "start_s", 1, "{:>7.2f}"),
    ("ecc s", "eccentric_s", 1, "{:>5.2f}"),
    ("con s", "concentric_s", 1, "{:>5.2f}"),
    ("ROM cm", "rom_m", 100, "{:>6.1f}"),
    ("MCV m/s", "mean_concentric_velocity_mps", 1, "{:>7.2f}"),
    ("PCV m/s", "peak_concentric_velocity_mps", 1, "{:>7.2f}"),
    ("tilt deg", "max_tilt_deg", 1, "{:>8.1f}"),
    ("lat cm", "lateral_displacement_m", 100, "{:>6.1f}"),
    ("asym %", "asymmetry_pct", 1, "{:>6.1f}"),
    ("ML mm", "cop_ml_rms_m", 1000, "{:>5.1f}"),
    ("AP mm", "cop_ap_rms_m", 1000, "{:>5.1f}"),
    ("bal", "balance_score", 1, "{:>3.0f}"),
    ("stab", "stability_score", 1, "{:>4.0f}"),
    ("risk", "injury_risk", 1, "{:>4.2f}"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="per-rep metrics, scores and feedback for a recording",
                       description="Segment the reps of one recorded set and print per-rep "
                                   "metrics, the three scores and feedback. Scores are training "
                                   "aids; injury_risk is a heuristic, not a diagnosis.")
    p.add_argument("recording", help="recording CSV (as written by `liftguard simulate`/export)")
    p.add_argument("--lift", required=True, choices=LIFTS + ("bench",),
                   help="which lift the set is")
    p.add_argument("--json", action="store_true",
                   help="print JSON: {'reps': [...], 'summary': {...}} instead of a table")
    p.set_defaults(func=run)


def _cell(value: Any, scale: float, fmt: str) -> str:
    width = len(fmt.format(0))
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-".rjust(width)
    return fmt.format(value * scale)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def run(args: argparse.Namespace) -> int:
    try:
        recording = read_recording(args.recording)
    except RecordingError as exc:
        print(f"liftguard: {exc}", file=sys.stderr)
        return 1
    if not recording.frames:
        print(f"liftguard: {args.recording}: recording has no samples", file=sys.stderr)
        return 1
    result = analyze_frames(recording.frames, args.lift)
    feedback = {r.number: rep_feedback(r) for r in result.reps}
    if args.json:
        reps = [dict(r.as_dict(), feedback=feedback[r.number]) for r in result.reps]
        summary = dict(result.summary, feedback=set_feedback(result.reps, result.summary),
                       issues=[str(i) for i in result.issues], unavailable=result.unavailable)
        print(json.dumps(_json_safe({"reps": reps, "summary": summary}), indent=2))
        return 0
    print("  ".join(h.rjust(len(fmt.format(0))) for h, _, _, fmt in TABLE_COLUMNS))
    for rep in result.reps:
        print("  ".join(_cell(getattr(rep, f), s, fmt) for _, f, s, fmt in TABLE_COLUMNS))
    print()
    for rep in result.reps:
        if feedback[rep.number]:
            print(feedback[rep.number])
    print(set_feedback(result.reps, result.summary))
    load = set_bar_load(result)
    if load.kg is not None:   # else "unavailable: bar_load_kg" below says why
        print(bar_load_text(rep_load_fields(load, None)))
    for issue in result.issues:
        print(f"data quality: {issue}")
    for what, why in sorted(result.unavailable.items()):
        print(f"unavailable: {what}: {why}")
    return 0
