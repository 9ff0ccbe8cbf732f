"""`liftguard calibrate athlete --athlete EMAIL --lift L --session ID`: an athlete overlay.

Takes a finished session a coach marked clean from the local store, cuts its reps, and writes
the athlete's overlay on the installed bundle (``models.anomaly.overlay``) to
``<data_dir>/athletes/<hash of the e-mail>/<lift>/``. The daemon uses it for sessions of that
athlete and lift. No TensorFlow: the autoencoder, detectors and thresholds stay the bundle's.
Recording reps live (``--reps N``) is not supported yet: record a clean set as a session.
"""
from __future__ import annotations

import argparse

import numpy as np

from edge_agent.bundles.choice import choose_bundle
from liftguard.errors import UsageError
from sync.lifts import LIFT_TYPES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("athlete", help="calibrate the anomaly model to one athlete (overlay)",
                       description="Fit an athlete's overlay on the installed model bundle from a "
                                   "finished session a coach marked clean.")
    p.add_argument("--athlete", required=True, metavar="EMAIL")
    p.add_argument("--lift", required=True, choices=LIFT_TYPES)
    p.add_argument("--session", metavar="ID", help="finished clean session in the local store")
    p.add_argument("--reps", type=int, metavar="N", help="record N clean reps live (not supported yet)")
    p.add_argument("--bundle", default=None, help="model bundle (default: the daemon's)")
    p.add_argument("--confirm-clean", default="", metavar="REPS",
                   help="rep numbers (e.g. 2,5) a coach checked and confirms clean although "
                        "the analysis flagged them; a session with unconfirmed flagged reps is "
                        "refused")
    p.set_defaults(func=run)


def flagged_reps(frames: list, lift: str) -> dict[int, str]:
    """Rep number -> what the metric rules found, for every rep they flag. The anomaly model's
    own "unlike clean reps" is not counted: an athlete unlike the training set is what the
    overlay is for, so it would refuse exactly the athletes who need one."""
    from models import analyze_frames
    from models.feedback_text import findings

    out = {}
    for rep in analyze_frames(frames, lift).reps:
        found = findings(rep)
        if found:
            out[rep.number] = "; ".join(rule.describe(rep) for _, rule in found)
    return out


def _confirmed(text: str) -> set[int]:
    try:
        return {int(x) for x in text.replace(" ", "").split(",") if x}
    except ValueError:
        raise UsageError(f"--confirm-clean {text!r}: expected rep numbers such as 2,5") from None


def run(args: argparse.Namespace) -> int:
    from liftguard.commands.store_args import open_reader
    from models.anomaly import BundleError, load_bundle
    from models.anomaly.errors import OverlayError
    from models.anomaly.overlay import MIN_CLEAN_REPS, make_overlay, overlay_dir, save_overlay
    from models.anomaly.segments import set_segments

    if args.reps is not None or not args.session:
        raise UsageError("recording reps live is not supported yet: record a clean set as a session "
                         "(liftguard run + the API or button), then pass --session ID")
    cfg = args.cfg
    bundle = args.bundle or choose_bundle(cfg)[0]
    try:
        model = load_bundle(bundle)
    except BundleError as exc:
        print(f"liftguard calibrate athlete: {exc}")
        return 1
    args.data_dir = None
    with open_reader(args) as store:
        session = store.get_session(args.session)
        if session is None:
            raise UsageError(f"no session {args.session} in {store.path}")
        if session.get("status") == "active":
            raise UsageError(f"session {args.session} is still active; end it first")
        frames = store.session_frames(args.session)
    if not frames:
        raise UsageError(f"session {args.session} has no stored sensor data")
    flagged = flagged_reps(frames, args.lift)
    unconfirmed = sorted(set(flagged) - _confirmed(args.confirm_clean))
    if unconfirmed:
        which = "; ".join(f"rep {n}: {flagged[n]}" for n in unconfirmed)
        raise UsageError(
            f"session {args.session} has reps the form rules flagged ({which}). An overlay "
            f"fitted on faulty reps would teach the model that they are normal. Use a clean "
            f"session, or have a coach check those reps and confirm each one with "
            f"--confirm-clean {','.join(map(str, unconfirmed))}")
    try:
        segments = set_segments(frames, args.lift, model.channels, model.sample_rate_hz)
    except ValueError as exc:
        raise UsageError(f"session {args.session}: {exc}") from None
    if len(segments.reps) < MIN_CLEAN_REPS:
        raise UsageError(f"session {args.session} has {len(segments.reps)} reps; need at least {MIN_CLEAN_REPS} clean reps")
    try:
        overlay = make_overlay(model, segments.reps)
    except (OverlayError, ValueError) as exc:
        print(f"liftguard calibrate athlete: {exc}")
        return 1
    before = np.nanmedian(model.score_segments(segments.reps))
    after = np.nanmedian(model.score_segments(segments.reps, overlay))
    directory = overlay_dir(cfg.data_dir / "athletes", args.athlete, args.lift)
    save_overlay(directory, model, overlay, {"lift": args.lift, "session": args.session, "reps": len(segments.reps)})
    print(f"athlete overlay written to {directory} ({len(segments.reps)} clean reps of session {args.session}); "
          f"median rep score on those reps {before:.2f} -> {after:.2f} (lower = closer to clean)")
    return 0
