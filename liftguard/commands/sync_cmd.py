"""`liftguard sync --once | status | roster`: push the local outbox to PostgreSQL (directly or
through MQTT, per ``[sync] mode``), show the backlog and the last success/error, pull the
athlete roster."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from edge_agent.store.errors import StoreError
from edge_agent.uplink import sync_runner
from liftguard.commands.status import DaemonUnreachable, daemon_status, describe_sync_hold
from liftguard.connections import database_connector
from liftguard.errors import EXIT_OK, EXIT_RUNTIME, UsageError
from liftguard.secrets import secrets_for
from sync.roster import fetch_roster
from sync.sync_state import SyncState


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sync", help="send stored sessions and data to PostgreSQL")
    p.add_argument("--once", action="store_true",
                   help="drain the outbox once and exit (the daemon syncs continuously)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="mqtt mode: give up waiting for commit acks after S seconds")
    p.add_argument("action", nargs="?", choices=("status", "roster"),
                   help="status: backlog, last success, last error; roster: pull users")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "status":
        return _status(args)
    if args.action == "roster":
        return _roster(args)
    if not args.once:
        raise UsageError("say what to do: `liftguard sync --once`, `liftguard sync status` or "
                         "`liftguard sync roster`")
    return _once(args)


def _open_outbox(args: argparse.Namespace) -> sync_runner.OutboxFile:
    try:
        return sync_runner.OutboxFile(args.cfg.data_dir)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def _once(args: argparse.Namespace) -> int:
    mode = args.cfg.get("sync.mode")
    if mode == "off":
        raise UsageError("[sync] mode is off")
    outbox = _open_outbox(args)
    try:
        if mode == "direct":
            try:
                worker = sync_runner.direct_worker(args.cfg, secrets_for(args.cfg), outbox)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            report = worker.drain_once()
            print(f"stored {report.sent} rows; waiting for a related row: {report.deferred}; "
                  f"backlog now {sum(outbox.backlog().values())}")
            if report.error:
                print(f"liftguard: sync failed: {report.error}")
                return EXIT_RUNTIME
            return EXIT_OK
        try:
            pub = sync_runner.publisher(args.cfg, secrets_for(args.cfg), outbox)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        pub.start()
        try:
            ok = sync_runner.publish_until_empty(pub, outbox, args.timeout)
            if not ok:
                pub.record_error(pub.last_error or "timed out waiting for commit acks")
        finally:
            pub.stop()
        print(f"acknowledged {pub.acked} rows; backlog now {sum(outbox.backlog().values())}")
        return EXIT_OK if ok else EXIT_RUNTIME
    finally:
        outbox.close()


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def _status(args: argparse.Namespace) -> int:
    outbox = _open_outbox(args)
    try:
        backlog = outbox.backlog()
    finally:
        outbox.close()
    mode = args.cfg.get("sync.mode")
    state = SyncState.load(sync_runner.state_path(args.cfg))
    try:
        hold = daemon_status(args.cfg, timeout_s=2.0).get("sync_hold")
        daemon = "running"
    except DaemonUnreachable as exc:
        hold, daemon = None, str(exc)
    print(f"mode: {mode}")
    print(f"backlog: {sum(backlog.values())}" +
          (f" ({', '.join(f'{k} {v}' for k, v in backlog.items())})" if backlog else ""))
    print(f"last success: {_when(state.last_success)}"
          + (" (last commit ack from the ingester)" if mode == "mqtt" and state.last_success
             else ""))
    print(f"last error: {state.last_error or 'none'}"
          + (f" at {_when(state.last_error_at)}" if state.last_error else ""))
    print(f"NTP hold: {_hold_text(hold, daemon)}")
    print(json.dumps({"mode": mode, "backlog": backlog, **state.__dict__, "sync_hold": hold}))
    return EXIT_OK


def _hold_text(hold: dict | None, daemon: str) -> str:
    if daemon != "running":
        return f"unknown: {daemon}"
    return describe_sync_hold(hold)


def _roster(args: argparse.Namespace) -> int:
    try:
        conn = database_connector(args.cfg)()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        roster = fetch_roster(conn, time.time())
    finally:
        conn.close()
    path = args.cfg.data_path(args.cfg.get("sync.roster_file"), "roster.json")
    roster.save(path)
    print(f"roster: {len(roster)} users saved to {path}")
    return EXIT_OK
