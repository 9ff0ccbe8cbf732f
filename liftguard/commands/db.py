"""`liftguard db migrate|status`: create or upgrade the PostgreSQL schema, show its version.

The DSN comes from ``--dsn`` or ``[database] dsn``; when it carries no password, the
``database_password`` secret is used (libpq's PGPASSWORD and ~/.pgpass also work).
"""
from __future__ import annotations

import argparse
from typing import Any

import psycopg2
import psycopg2.extensions

from liftguard.errors import EXIT_OK, EXIT_RUNTIME, UsageError
from liftguard.secrets import load_secrets
from sync.migrate import MigrationError, current_version, load_migrations, migrate, pending

CONNECT_TIMEOUT_S = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema tools")
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
