"""Create the least-privilege PostgreSQL roles: group roles from roles.sql plus LOGIN roles.

Run as ``scripts/create-db-roles --dsn ADMIN_DSN [--writer NAME]... [--reader NAME]...
[--web NAME]...`` by a
database administrator (superuser, or a role with CREATEROLE that owns the database).

Passwords never live in the repository. For each login role the password comes from the
environment variable ``LIFTGUARD_DB_PASSWORD_<NAME>`` (name upper-cased, other characters as
``_``); otherwise a new role gets a generated password that is printed once, and an existing role
keeps its password (``--rotate`` generates new ones). The server only ever receives a SCRAM-SHA-256
verifier, never the password itself, so it cannot leak into server logs.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import psycopg2
import psycopg2.errors
from psycopg2 import sql

ROLES_SQL = Path(__file__).resolve().parent / "roles.sql"
GROUPS = {"writer": "liftguard_writer", "reader": "liftguard_reader",
          "web": "liftguard_webapp"}
DEFAULT_LOGINS = {"liftguard_ingest": "writer", "liftguard_coach": "reader",
                  "liftguard_web": "web"}
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)

_LOGIN_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")


class RolesError(Exception):
    """Bad role name or password, or the schema is not there yet."""


@dataclass(frozen=True)
class LoginRole:
    name: str
    kind: str  # "writer" or "reader"
    created: bool
    password: str | None  # set only when generated here, so that it can be shown once
    password_source: str  # "env:VAR", "generated" or "unchanged"


def password_env_var(login: str) -> str:
    return "LIFTGUARD_DB_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", login.upper())


def scram_sha256_verifier(password: str, salt: bytes | None = None,
                          iterations: int = SCRAM_ITERATIONS) -> str:
    """The ``SCRAM-SHA-256$...`` string PostgreSQL stores for ``password`` (RFC 5802/7677).

    Passwords must be printable ASCII: PostgreSQL would SASLprep-normalise anything else, and a
    verifier computed without that normalisation could silently never match.
    """
    if not password or not password.isascii() or not password.isprintable():
        raise RolesError("database passwords must be non-empty printable ASCII")
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return (f"SCRAM-SHA-256${iterations}:{_b64(salt)}"
            f"${_b64(stored_key)}:{_b64(server_key)}")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _role_exists(cur: Any, name: str) -> bool:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    return cur.fetchone() is not None


def _apply_login(cur: Any, name: str, kind: str, environ: Mapping[str, str],
                 rotate: bool) -> LoginRole:
    var = password_env_var(name)
    exists = _role_exists(cur, name)
    generated: str | None = None
    if environ.get(var):
        password, source = environ[var], f"env:{var}"
    elif not exists or rotate:
        password = generated = secrets.token_urlsafe(24)
        source = "generated"
    else:
        password, source = None, "unchanged"
    ident = sql.Identifier(name)
    verb = "ALTER" if exists else "CREATE"
    stmt = sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT")
    stmt = stmt.format(ident)
    if password is not None:
        stmt += sql.SQL(" PASSWORD {}").format(sql.Literal(scram_sha256_verifier(password)))
    cur.execute(stmt)
    cur.execute("SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s", (name,))
    member_of = {row[0] for row in cur.fetchall()}
    for other_kind, group in GROUPS.items():
        if other_kind == kind:
            cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), ident))
        elif group in member_of:
            cur.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), ident))
    return LoginRole(name, kind, not exists, generated, source)


def apply_roles(conn: Any, logins: Mapping[str, str], environ: Mapping[str, str],
                rotate: bool = False) -> list[LoginRole]:
    """Apply roles.sql, then create/update ``logins`` ({name: "writer"|"reader"|"web"}).

    All in one transaction: a failure leaves the roles as they were.
    """
    for name, kind in logins.items():
        if not _LOGIN_NAME.match(name):
            raise RolesError(f"role name {name!r}: use lower-case letters, digits, '_' or '-' "
                             "(at most 63, not starting with a digit)")
        if kind not in GROUPS:
            raise RolesError(f"role {name!r}: kind must be one of {', '.join(GROUPS)}")
    try:
        with conn.cursor() as cur:
            cur.execute(ROLES_SQL.read_text(encoding="utf-8"))
            results = [_apply_login(cur, name, kind, environ, rotate)
                       for name, kind in logins.items()]
        conn.commit()
    except psycopg2.errors.UndefinedTable as exc:
        conn.rollback()
        raise RolesError(f"{exc.diag.message_primary}: run `liftguard db migrate` on this "
                         "database first") from exc
    except Exception:
        conn.rollback()
        raise
    return results


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="create-db-roles",
        description="Create or update liftguard's least-privilege PostgreSQL roles. Give the "
                    "admin password through PGPASSWORD or ~/.pgpass, not on the command line.")
    p.add_argument("--dsn", required=True, help="admin libpq DSN or URI of the liftguard database")
    p.add_argument("--writer", action="append", default=[], metavar="NAME",
                   help="login role for a box or ingester (repeatable)")
    p.add_argument("--reader", action="append", default=[], metavar="NAME",
                   help="login role for coach read access (repeatable)")
    p.add_argument("--web", action="append", default=[], metavar="NAME",
                   help="login role for the coach web app (repeatable)")
    p.add_argument("--rotate", action="store_true",
                   help="give existing login roles new generated passwords")
    args = p.parse_args(argv)
    if not args.writer and not args.reader and not args.web:
        args.writer, args.reader, args.web = ["liftguard_ingest"], ["liftguard_coach"], \
            ["liftguard_web"]
    return args


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parse_args(argv)
    logins = {**{n: "writer" for n in args.writer}, **{n: "reader" for n in args.reader},
              **{n: "web" for n in args.web}}
    try:
        conn = psycopg2.connect(args.dsn)
    except psycopg2.Error as exc:
        print(f"create-db-roles: cannot connect: {str(exc).strip()}", file=sys.stderr)
        return 1
    try:
        results = apply_roles(conn, logins, os.environ if environ is None else environ,
                              args.rotate)
    except (RolesError, psycopg2.Error) as exc:
        print(f"create-db-roles: {str(exc).strip()}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    for r in results:
        state = "created" if r.created else "updated"
        print(f"{r.name}: {state}, member of {GROUPS[r.kind]}, password {r.password_source}")
        if r.password is not None:
            print(f"  password for {r.name} (shown once, store it now): {r.password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
