"""`liftguard export SESSION --csv FILE`: a stored session as a recording CSV (replay format)."""
from __future__ import annotations

import argparse

from liftguard.commands.output_paths import output_file
from liftguard.commands.store_args import add_data_dir, open_reader
from liftguard.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a stored session's frames as a recording CSV",
                       description="Write the raw frames of a stored session in the recording "
                                   "format that 'liftguard replay' and 'analyze' read.")
    p.add_argument("session", metavar="SESSION", help="session id (liftguard sessions list)")
    p.add_argument("--csv", metavar="FILE", required=True, help="output CSV path")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sensors.recording import write_recording

    out = output_file(args.csv, "--csv")
    with open_reader(args) as store:
        if store.get_session(args.session) is None:
            raise UsageError(f"no session {args.session!r} in {store.path}")
        frames = store.session_frames(args.session)
    if not frames:
        print(f"session {args.session} has no stored frames; nothing written")
        return 1
    path = write_recording(out, frames)
    print(f"wrote {len(frames)} frames of session {args.session} to {path}")
    return 0
