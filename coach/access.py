"""Who sees what. An athlete sees their own sessions, a trainer those of the athletes assigned
to them (``trainer_athletes``), an admin everything. Sessions nobody may see answer 404, the
same as sessions that do not exist, so a guessed UUID tells nothing."""
from __future__ import annotations

import uuid
from typing import Any

from flask import abort

from coach.db import query, query_one


def parse_uuid(text: str) -> str | None:
    """The canonical form of a UUID string, or None when ``text`` is not one."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def visible_athlete_ids(conn: Any, user: dict[str, Any]) -> set[str] | None:
    """Athlete ids whose sessions ``user`` may see; None means all (admin)."""
    if user["role"] == "admin":
        return None
    if user["role"] == "trainer":
        rows = query(conn, "SELECT athlete_id::text AS id FROM trainer_athletes "
                           "WHERE trainer_id = %s", (user["id"],))
        return {row["id"] for row in rows}
    if user["role"] == "athlete":
        return {user["id"]}
    return set()


def athlete_filter(visible: set[str] | None, column: str = "s.athlete") -> tuple[str, tuple]:
    """A WHERE fragment and its parameters limiting ``column`` to ``visible``.

    ``column`` is trusted SQL (a column name written in code), never user input.
    """
    if visible is None:
        return "TRUE", ()
    return f"{column} = ANY(%s::uuid[])", (sorted(visible),)


def can_see_athlete(conn: Any, user: dict[str, Any], athlete_id: str) -> bool:
    visible = visible_athlete_ids(conn, user)
    return visible is None or athlete_id in visible


def session_or_404(conn: Any, user: dict[str, Any], session_id: str) -> dict[str, Any]:
    """The ``sessions`` row (all columns, ids as text) if ``user`` may see it, else abort(404)."""
    canonical = parse_uuid(session_id)
    if canonical is None:
        abort(404)
    row = query_one(conn, """
        SELECT s.*, s.id::text AS id, s.athlete::text AS athlete, s.trainer::text AS trainer
          FROM sessions s WHERE s.id = %s""", (canonical,))
    if row is None:
        abort(404)
    visible = visible_athlete_ids(conn, user)
    if visible is not None and row["athlete"] not in visible:
        abort(404)
    return row
