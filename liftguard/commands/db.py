"""`liftguard db migrate|status|prune-raw`: create or upgrade the PostgreSQL schema, show its
version, delete the raw chunks of old sessions (``sync.retention``).

The DSN comes from ``--dsn`` or ``[database] dsn``; when it carries no password, the
``database_password`` secret is used (libpq's PGPASSWORD and ~/.pgpass also work).
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import psycopg2
import psycopg2.extensions

from liftguard.errors import EXIT_OK, EXIT_RUNTIME, UsageError
from liftguard.secrets import load_secrets
from sync.migrate import MigrationError, current_version, load_migrations, migrate, pending
from sync.retention import (
    PrunePlan,
    RetentionArgumentError,
    SessionRaw,
    parse_days,
    plan_prune,
    prune_raw,
)

CONNECT_TIMEOUT_S = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema and raw-data retention tools")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dsub.required = True
    m = dsub.add_parser("migrate", help="create or upgrade the schema (safe to run again)")
    _add_dsn_argument(m)
    m.add_argument("--to", type=int, metavar="VERSION", default=None,
                   help="stop after this schema version (default: the newest)")
    m.set_defaults(func=run_migrate)
    s = dsub.add_parser("status", help="show the schema version and pending migrations")
    _add_dsn_argument(s)
    s.set_defaults(func=run_status)
    r = dsub.add_parser(
        "prune-raw", help="delete the raw chunks of sessions that ended more than DAYS ago",
        description="Delete the raw sensor chunks (sensor_data) of sessions that ended more "
                    "than DAYS days ago, keeping their metrics, reps, feedback and derived "
                    "series, and record per session what was deleted. Active sessions are "
                    "never pruned. Nothing runs this on its own: only this command prunes.")
    _add_dsn_argument(r)
    r.add_argument("--older-than", metavar="DAYS", required=True, type=_days,
                   help="whole number of days (1 to 36500) since the session ended")
    r.add_argument("--dry-run", action="store_true",
                   help="list what would be deleted (sessions, chunks, bytes), delete nothing")
    r.set_defaults(func=run_prune_raw)


def _days(text: str) -> int:
    try:
        return parse_days(text)
    except RetentionArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_dsn_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", default=None,
                   help="libpq DSN or postgresql:// URI (default: [database] dsn); "
                        "leave the password out, it comes from the secrets")


def connect(args: argparse.Namespace) -> Any:
    dsn = args.dsn or args.cfg.get("database.dsn")
    if not dsn:
        raise UsageError("no database given: pass --dsn or set [database] dsn in the config")
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        # The parser's message may quote the DSN, password included: do not repeat it.
        raise UsageError("--dsn / [database] dsn is not a valid libpq connection string "
                         "(key=value pairs or a postgresql:// URI)") from None
    extra: dict[str, Any] = {}
    if "password" not in params:
        password = load_secrets(args.cfg.get("device.secrets_file")).get("database_password")
        if password:
            extra["password"] = password
    if "connect_timeout" not in params:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    return psycopg2.connect(dsn, **extra)


def run_migrate(args: argparse.Namespace) -> int:
    migrations = load_migrations()
    if args.to is not None and args.to not in {m.version for m in migrations}:
        known = ", ".join(str(m.version) for m in migrations)
        raise UsageError(f"--to {args.to}: no such schema version (known: {known})")
    labels = {m.version: m.label for m in migrations}
    conn = connect(args)
    try:
        applied = migrate(conn, target=args.to, migrations=migrations)
        version = current_version(conn)
    except MigrationError as exc:
        print(f"liftguard db migrate: {exc}")
        return EXIT_RUNTIME
    finally:
        conn.close()
    for v in applied:
        print(f"applied {labels[v]}")
    if not applied:
        print(f"schema already at version {version}; nothing to apply")
    else:
        print(f"schema now at version {version}")
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    conn = connect(args)
    try:
        version = current_version(conn)
        todo = pending(conn)
    finally:
        conn.close()
    print(f"schema version: {version}")
    print("pending: " + (", ".join(m.label for m in todo) if todo else "none"))
    return EXIT_OK


def _session_line(s: SessionRaw) -> str:
    ended = f"{s.ended_at:%Y-%m-%d %H:%M}" if s.ended_at is not None else "(no end time)"
    return (f"  {s.session_id}  {s.lift_type:<11}  {s.device_id or '-':<16}  ended {ended}  "
            f"{s.chunks} chunks  {s.frames} frames  {_mb(s.raw_bytes)}")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _plan_summary(plan: PrunePlan, verb: str) -> str:
    return (f"{verb} the raw data of {len(plan.sessions)} session(s) that ended before "
            f"{plan.cutoff:%Y-%m-%d %H:%M} UTC (older than {plan.older_than_days} days): "
            f"{plan.chunks} chunks, {plan.frames} frames, {_mb(plan.raw_bytes)} of raw_data "
            f"as stored")


def run_prune_raw(args: argparse.Namespace) -> int:
    conn = connect(args)
    try:
        if pending(conn):
            print("liftguard db prune-raw: the schema is not up to date; run "
                  "`liftguard db migrate` first")
            return EXIT_RUNTIME
        plan = plan_prune(conn, args.older_than)
        if args.dry_run:
            print(_plan_summary(plan, "dry run: would delete"))
            for s in plan.sessions:
                print(_session_line(s))
        else:
            done = prune_raw(conn, plan)
            print(_plan_summary(dataclasses.replace(plan, sessions=done), "deleted"))
            for s in done:
                print(_session_line(s))
            if done:
                print("autovacuum makes the space reusable; `VACUUM FULL sensor_data` returns "
                      "it to the operating system (locks the table while it runs)")
        print("kept: sessions, metrics, reps, feedback and derived series"
              + (f"; {plan.active_skipped} active session(s) older than that are never pruned"
                 if plan.active_skipped else "")
              + (f"; {plan.no_series_skipped} old session(s) keep their raw data until their "
                 "display series is made (open each once in the web app)"
                 if plan.no_series_skipped else ""))
    finally:
        conn.close()
    return EXIT_OK
