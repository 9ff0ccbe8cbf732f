"""Opening PostgreSQL connections the same way on the box (direct sync, session commands)
and on the server (ingester, web app)."""
from __future__ import annotations

from typing import Any, Callable

import psycopg2
import psycopg2.extensions

CONNECT_TIMEOUT_S = 10


def pg_connect_factory(dsn: str | None, password: str | None) -> Callable[[], Any]:
    """A function opening a psycopg2 connection to ``dsn``, with ``password`` when the DSN
    carries none. ``ValueError`` if unusable."""
    if not dsn:
        raise ValueError("no database given: set [database] dsn (or pass --dsn)")
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        raise ValueError("[database] dsn is not a valid libpq connection string") from None
    extra: dict[str, Any] = {}
    if "password" not in params and password:
        extra["password"] = password
    extra.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    extra["application_name"] = "liftguard"
    return lambda: psycopg2.connect(dsn, **extra)
