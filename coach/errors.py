"""Error pages: 4xx with a sentence saying what was wrong, and 503 while the database is down."""
from __future__ import annotations

import logging
from typing import Any

import psycopg2
from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from coach.db import DatabaseUnavailable, mark_broken

log = logging.getLogger(__name__)

DB_DOWN = ("The database is not reachable right now, so this page cannot be shown. "
           "Nothing was changed. Try again in a minute; the app reconnects by itself.")
RETRY_AFTER_S = 30


def _page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


def database_down(exc: Exception) -> Any:
    mark_broken()
    if not isinstance(exc, DatabaseUnavailable):  # that one is logged by the pool, once
        log.warning("database connection lost during a request: %s",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    body, status = _page(503, "Database unavailable", DB_DOWN)
    return body, status, {"Retry-After": str(RETRY_AFTER_S)}


def csrf_failed(exc: CSRFError) -> Any:
    return _page(400, "Form expired", "The form was missing its security token or it had "
                 f"expired ({exc.description}). Nothing was changed: reload the page and try "
                 "again.")


def http_error(exc: HTTPException) -> Any:
    if exc.code is None or exc.code < 400:
        return exc
    messages = {
        403: "Your account's role does not allow this page.",
        404: "There is no such page, or it is not yours to see.",
        405: "This address does not accept that kind of request.",
        413: "What was sent is too large. Nothing was changed.",
    }
    return _page(exc.code, exc.name, messages.get(exc.code, exc.description or exc.name))


def register(app: Flask) -> None:
    app.register_error_handler(DatabaseUnavailable, database_down)
    app.register_error_handler(psycopg2.OperationalError, database_down)
    app.register_error_handler(psycopg2.InterfaceError, database_down)
    app.register_error_handler(CSRFError, csrf_failed)
    app.register_error_handler(HTTPException, http_error)
