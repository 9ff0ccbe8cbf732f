"""`liftguard run`: the daemon on the box (systemd starts it; SIGTERM ends it cleanly)."""
from __future__ import annotations

import argparse
import logging
import signal

from edge_agent.daemon import Daemon, DaemonError
from edge_agent.daemon.wiring import build_daemon
from liftguard.errors import UsageError
from liftguard.secrets import secrets_for
from liftguard.startup_rules import source_problems

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the real-time daemon (sensors, feedback, sessions, API)",
                       description="Run the daemon: read the sensors, give feedback during "
                                   "reps, store sessions and serve the local API until "
                                   "SIGTERM/SIGINT. The global --config names the file.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    secrets = secrets_for(args.cfg)
    problems = source_problems(args.cfg)
    if problems:
        raise UsageError(problems[0])
    try:
        daemon = build_daemon(args.cfg, secrets)
    except DaemonError as exc:
        raise UsageError(str(exc)) from None
    stop = lambda signum, frame: daemon.request_stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        daemon.start()
    except DaemonError as exc:
        log.error("%s", exc)
        return 1
    return run_until_stopped(daemon)


def run_until_stopped(daemon: Daemon, check_s: float = 0.5) -> int:
    """Serve until SIGTERM/SIGINT (exit 0) or until one of the daemon's threads has died
    (exit 1, so that systemd's Restart=on-failure starts a fresh daemon)."""
    dead: list[str] = []
    while not daemon.wait(check_s):
        dead = daemon.dead_threads()
        if dead:
            log.critical("thread(s) %s stopped unexpectedly; shutting down so that systemd "
                         "restarts the daemon", ", ".join(dead))
            break
    log.info("stopping: ending the active session, committing what is queued")
    daemon.stop("error" if dead else "shutdown")
    return 1 if dead else 0
