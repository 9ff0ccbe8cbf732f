"""`liftguard web`: serve the coach web app (gunicorn), and `liftguard web create-user`.

The web app lives in the ``coach`` package and needs the ``web`` extra; it is imported only
when one of these commands runs, so the box never loads Flask.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from liftguard.connections import database_connector
from liftguard.errors import EXIT_OK, EXIT_RUNTIME, UsageError
from liftguard.secrets import load_secrets
from sync.roster import ROLES

NEEDS_EXTRA = "the web app needs the web extra: pip install 'liftguard[web]'"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="server: the coach web app (needs the web extra)",
                       description="Serve the coach web app with gunicorn. Reads [web] and "
                                   "[database]; the session secret is web_secret_key in the "
                                   "secrets file or LIFTGUARD_WEB_SECRET_KEY.")
    p.add_argument("--bind", metavar="HOST", default=None, help="override [web] bind")
    p.add_argument("--port", type=int, metavar="N", default=None, help="override [web] port")
    p.set_defaults(func=run_serve)
    wsub = p.add_subparsers(dest="web_command", metavar="ACTION")
    c = wsub.add_parser("create-user", help="create a user; the password is read from stdin",
                        description="Create a web app user. The password is read from "
                                    "standard input (one line), or asked twice on a terminal.")
    c.add_argument("--email", required=True)
    c.add_argument("--first-name", required=True)
    c.add_argument("--last-name", required=True)
    c.add_argument("--role", required=True, choices=ROLES)
    c.set_defaults(func=run_create_user)


def _settings(cfg: Any) -> Any:
    try:
        from coach.settings import SettingsError, settings_from_config
    except ImportError:
        raise UsageError(NEEDS_EXTRA) from None
    try:
        return settings_from_config(cfg, load_secrets(cfg.get("device.secrets_file")))
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def run_serve(args: argparse.Namespace) -> int:
    web = args.cfg.section("web")
    port = web["port"] if args.port is None else args.port
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port}: must be 1..65535")
    settings = _settings(args.cfg)
    try:
        from coach.server import serve
    except ImportError:
        raise UsageError(NEEDS_EXTRA) from None
    serve(settings, args.bind or web["bind"], port, web["workers"], web["threads"])
    return EXIT_OK


def read_password(stream: Any = None) -> str:
    stream = sys.stdin if stream is None else stream
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise UsageError("the two passwords differ")
        return first
    line = stream.readline()
    return line[:-1] if line.endswith("\n") else line


def run_create_user(args: argparse.Namespace) -> int:
    try:
        from coach.accounts import AccountError, check_account_fields, create_user
    except ImportError:
        raise UsageError(NEEDS_EXTRA) from None
    password = read_password()
    problems = check_account_fields(args.email, args.first_name, args.last_name, args.role,
                                    password)
    if problems:
        raise UsageError("; ".join(problems))
    try:
        connect = database_connector(args.cfg)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    conn = connect()
    try:
        try:
            user_id = create_user(conn, args.email, args.first_name, args.last_name, args.role,
                                  password)
        except AccountError as exc:
            raise UsageError(str(exc)) from None
        conn.commit()
    finally:
        conn.close()
    if user_id is None:
        print(f"liftguard: a user with email {args.email} exists already; nothing changed",
              file=sys.stderr)
        return EXIT_RUNTIME
    print(f"created {args.role} {args.email.strip().lower()} (id {user_id})")
    return EXIT_OK
