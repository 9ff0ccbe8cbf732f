"""Login rate limits per account and per client address, counted in PostgreSQL
(``login_attempts``) so that they hold across workers and restarts.

An account's count is of failures since its last successful sign-in within the window; an
address's count is of all its failures within the window. Attempts refused because a limit was
reached are not recorded, so a limit lifts by itself once the window has passed. The account
key is the email as typed, whether or not such an account exists, so the answer is the same
for both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coach.db import execute, query_one

KEEP_ATTEMPTS = "1 day"
MAX_ADDRESS_CHARS = 64


@dataclass(frozen=True)
class Limits:
    window_s: int
    per_account: int
    per_address: int


def _key(email: str) -> str:
    return email.strip().lower()[:255]


def is_blocked(conn: Any, limits: Limits, email: str, address: str) -> bool:
    row = query_one(conn, """
        WITH recent AS (
            SELECT email, client_address, succeeded, attempted_at FROM login_attempts
             WHERE attempted_at > now() - make_interval(secs => %(window)s)
               AND (email = %(email)s OR client_address = %(address)s)),
        last_ok AS (SELECT max(attempted_at) AS at FROM recent
                     WHERE email = %(email)s AND succeeded)
        SELECT count(*) FILTER (WHERE r.email = %(email)s AND NOT r.succeeded
                                  AND (l.at IS NULL OR r.attempted_at > l.at)) AS account,
               count(*) FILTER (WHERE r.client_address = %(address)s
                                  AND NOT r.succeeded) AS address
          FROM recent r CROSS JOIN last_ok l""",
        {"window": limits.window_s, "email": _key(email), "address": address[:MAX_ADDRESS_CHARS]})
    return row["account"] >= limits.per_account or row["address"] >= limits.per_address


def record(conn: Any, email: str, address: str, succeeded: bool) -> None:
    """Store one attempt (the caller commits); a success also drops attempts older than a day."""
    execute(conn, "INSERT INTO login_attempts (email, client_address, succeeded) "
                  "VALUES (%s, %s, %s)", (_key(email), address[:MAX_ADDRESS_CHARS], succeeded))
    if succeeded:
        execute(conn, f"DELETE FROM login_attempts WHERE attempted_at < now() - interval "
                      f"'{KEEP_ATTEMPTS}'")
