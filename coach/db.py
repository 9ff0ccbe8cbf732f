"""PostgreSQL access: one psycopg2 ThreadedConnectionPool per worker process, one connection
per request.

The pool is made lazily in the process that first needs it (gunicorn forks workers after
loading the app, and a libpq connection must never cross a fork). Connections are checked out
by ``get_db()`` and go back at request teardown, rolled back; a connection that broke (server
restart, network) is discarded instead, so the app recovers by itself once the database is
back. While it is unreachable every page answers 503 saying so (see ``coach.errors``).
"""
from __future__ import annotations

import logging
import os
import select
import threading
from typing import Any, Sequence

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from flask import Flask, current_app, g

log = logging.getLogger(__name__)

EXTENSION = "coach_db"


class DatabaseUnavailable(Exception):
    """The database cannot be reached (or the pool is exhausted); pages answer 503."""


class Database:
    """A lazily created, fork-aware connection pool."""

    def __init__(self, dsn: str, connect_kwargs: dict[str, Any], maxconn: int) -> None:
        self._dsn = dsn
        self._kwargs = connect_kwargs
        self._maxconn = maxconn
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._was_down = False

    def _the_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # Made with minconn=0 so that making it never connects (and cannot fail while
                # the database is down); then minconn is raised, because psycopg2 keeps only
                # up to minconn idle connections and closes the rest on putconn.
                pool = psycopg2.pool.ThreadedConnectionPool(
                    0, self._maxconn, self._dsn, **self._kwargs)
                pool.minconn = self._maxconn
                self._pool = pool
                self._pid = os.getpid()
            return self._pool

    def getconn(self) -> Any:
        pool = self._the_pool()
        for _ in range(self._maxconn + 1):
            conn = self._checkout(pool)
            if _looks_alive(conn):
                return conn
            pool.putconn(conn, close=True)  # the server hung up (restart): take a fresh one
        raise DatabaseUnavailable("no live connection to the database")

    def _checkout(self, pool: psycopg2.pool.ThreadedConnectionPool) -> Any:
        try:
            conn = pool.getconn()
        except psycopg2.pool.PoolError as exc:
            raise DatabaseUnavailable(f"connection pool exhausted: {exc}") from None
        except psycopg2.OperationalError as exc:
            if not self._was_down:
                log.error("database unreachable, pages answer 503 until it is back: %s",
                          str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
            self._was_down = True
            raise DatabaseUnavailable(str(exc).strip()) from None
        if self._was_down:
            log.info("database reachable again")
            self._was_down = False
        return conn

    def putconn(self, conn: Any, broken: bool = False) -> None:
        pool = self._the_pool()
        if not broken and not conn.closed:
            try:
                if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    conn.rollback()
            except psycopg2.Error:
                broken = True
        pool.putconn(conn, close=broken or bool(conn.closed))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.closeall()
            self._pool = None


def _looks_alive(conn: Any) -> bool:
    """False when an idle pooled connection is known to be dead, without a query.

    An idle connection has nothing to read unless the server closed it (shutdown, restart,
    terminated backend): then its socket is readable. Costs one non-blocking select.
    """
    if conn.closed:
        return False
    try:
        readable, _, _ = select.select([conn], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def mark_broken() -> None:
    """Discard this request's connection at teardown (its error was handled as a 503)."""
    g.db_broken = True


def init_app(app: Flask, database: Database) -> None:
    app.extensions[EXTENSION] = database
    app.teardown_appcontext(_return_connection)


def get_db() -> Any:
    """The request's psycopg2 connection (autocommit off: commit what you write)."""
    if "db_conn" not in g:
        g.db_conn = current_app.extensions[EXTENSION].getconn()
    return g.db_conn


def _return_connection(exc: BaseException | None) -> None:
    conn = g.pop("db_conn", None)
    if conn is not None:
        broken = (g.pop("db_broken", False)
                  or isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)))
        current_app.extensions[EXTENSION].putconn(conn, broken=broken)


def query(conn: Any, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
    """Rows as dicts (column name -> value)."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, params)
        return [dict(row) for row in cur.fetchall()]


def query_one(conn: Any, sql: str,
              params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
    rows = query(conn, sql, params)
    return rows[0] if rows else None


def execute(conn: Any, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
    """Run one statement; returns the affected row count. The caller commits."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount
