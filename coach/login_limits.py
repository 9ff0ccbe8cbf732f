"""Sign-in throttling with growing delays, counted in PostgreSQL (``login_attempts``) so that
it holds across workers and restarts. Nothing is ever locked: after a few failures the next
attempt has to wait, and each further failure doubles the wait up to a cap.

Three counts over the last ``window_s`` (docs/security.md has the numbers and the bounds):

- **account and address**: failures for this email from this address since this address last
  signed in to it. After ``free_per_account_address`` of them, the pair waits 1 s, 2 s, 4 s ...
  up to ``max_delay_s`` after its last failure.
- **account**, from every address: only an address that has itself failed on this account
  feels it, counted from its own last failure, doubling after ``ACCOUNT_FREE_FAILURES`` up to
  ``max_address_delay_s``. It slows one account guessed from many addresses without touching
  the owner on a clean address, and what it costs the owner after a typo is bounded.
- **address**: failures from this address on any email (credential stuffing). After
  ``free_per_address``, every attempt from the address waits up to ``max_address_delay_s``
  after its last failure. The cap is short because a gym behind NAT shares one address, and
  an account that signed in from this address within ``KNOWN_ADDRESS_DAYS`` skips this count
  altogether: a regular at a gym is not slowed by a stranger guessing from the same NAT.

An address with no failures in the window never waits, so the owner of an account signs in
from a clean address whatever an attacker elsewhere did. Attempts refused for waiting are not
recorded and check no password, so hammering neither extends a wait nor guesses. The account
key is the email as typed, whether or not such an account exists, so the answer is the same
for both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coach.db import execute, query_one

KEEP_FAILURES = "1 day"  # at least the longest login_window_s
KNOWN_ADDRESS_DAYS = 30
MAX_ADDRESS_CHARS = 64
ACCOUNT_FREE_FAILURES = 10


@dataclass(frozen=True)
class Limits:
    window_s: int = 3600
    free_per_account_address: int = 3
    free_per_address: int = 20
    max_delay_s: int = 900
    max_address_delay_s: int = 60


@dataclass(frozen=True)
class Counts:
    """Failures within the window; ``*_ago_s`` are seconds since the last one (None: none)."""
    pair_failures: int = 0
    pair_ago_s: float | None = None
    account_failures: int = 0
    address_failures: int = 0
    address_ago_s: float | None = None
    known_address: bool = False  # this account signed in from this address lately


def backoff_s(failures: int, free: int, cap_s: int) -> float:
    """0 for the first ``free`` failures, then 1 s doubling per failure, at most ``cap_s``."""
    if failures < free:
        return 0.0
    return float(min(cap_s, 2 ** min(failures - free, 32)))


def wait_s(counts: Counts, limits: Limits) -> float:
    """Seconds before this address may try this account again (0: now)."""
    waits = [0.0]
    if counts.pair_ago_s is not None:
        delay = max(backoff_s(counts.pair_failures, limits.free_per_account_address,
                              limits.max_delay_s),
                    backoff_s(counts.account_failures, ACCOUNT_FREE_FAILURES,
                              limits.max_address_delay_s))
        waits.append(delay - counts.pair_ago_s)
    if counts.address_ago_s is not None and not counts.known_address:
        waits.append(backoff_s(counts.address_failures, limits.free_per_address,
                               limits.max_address_delay_s) - counts.address_ago_s)
    return max(waits)


def _key(email: str) -> str:
    return email.strip().lower()[:255]


def counts(conn: Any, limits: Limits, email: str, address: str,
           now: datetime | None = None) -> Counts:
    """The counts for ``email`` from ``address``; ``now`` defaults to the database clock."""
    # now() written out (not a parameter that may be NULL) lets the planner bound the scans of
    # the (email, attempted_at) and (client_address, attempted_at) indexes
    clock = "now()" if now is None else "%(now)s::timestamptz"
    row = query_one(conn, f"""
        WITH recent AS (
            SELECT a.email = %(email)s AS mine, a.client_address = %(address)s AS here,
                   a.succeeded, a.attempted_at
              FROM login_attempts a
             WHERE a.attempted_at > {clock} - make_interval(secs => %(window)s)
               AND a.attempted_at <= {clock}
               AND (a.email = %(email)s OR a.client_address = %(address)s)),
        pair_ok AS (SELECT max(attempted_at) AS at FROM recent WHERE mine AND here AND succeeded),
        failed AS (
            SELECT r.*, r.mine AND r.here AND (p.at IS NULL OR r.attempted_at > p.at) AS pair
              FROM recent r CROSS JOIN pair_ok p WHERE NOT r.succeeded)
        SELECT count(*) FILTER (WHERE pair) AS pair_failures,
               extract(epoch FROM {clock} - max(attempted_at) FILTER (WHERE pair))
                   AS pair_ago_s,
               count(*) FILTER (WHERE mine) AS account_failures,
               count(*) FILTER (WHERE here) AS address_failures,
               extract(epoch FROM {clock} - max(attempted_at) FILTER (WHERE here))
                   AS address_ago_s,
               EXISTS (SELECT 1 FROM login_attempts k
                        WHERE k.email = %(email)s AND k.client_address = %(address)s
                          AND k.succeeded AND k.attempted_at <= {clock}
                          AND k.attempted_at > {clock} - make_interval(days => %(known)s))
                   AS known_address
          FROM failed""",
        {"now": now, "window": limits.window_s, "email": _key(email),
         "address": address[:MAX_ADDRESS_CHARS], "known": KNOWN_ADDRESS_DAYS})
    return Counts(row["pair_failures"], _seconds(row["pair_ago_s"]), row["account_failures"],
                  row["address_failures"], _seconds(row["address_ago_s"]),
                  row["known_address"])


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def retry_after_s(conn: Any, limits: Limits, email: str, address: str,
                  now: datetime | None = None) -> int:
    """Whole seconds this attempt must wait (0: go ahead and check the password)."""
    return math.ceil(max(0.0, wait_s(counts(conn, limits, email, address, now), limits)))


def record(conn: Any, email: str, address: str, succeeded: bool,
           now: datetime | None = None) -> None:
    """Store one attempt (the caller commits). A success also drops failures older than a day
    and successes older than ``KNOWN_ADDRESS_DAYS``. The time is when the answer was known
    (``clock_timestamp()``, after the password check), so a wait is never shortened by it."""
    execute(conn, "INSERT INTO login_attempts (email, client_address, succeeded, attempted_at) "
                  "VALUES (%s, %s, %s, COALESCE(%s::timestamptz, clock_timestamp()))",
            (_key(email), address[:MAX_ADDRESS_CHARS], succeeded, now))
    if succeeded:
        execute(conn, f"""
            DELETE FROM login_attempts
             WHERE (NOT succeeded AND attempted_at < now() - interval '{KEEP_FAILURES}')
                OR attempted_at < now() - make_interval(days => %s)""", (KNOWN_ADDRESS_DAYS,))
