"""POST /sessions and POST /sessions/<id>/end: their place in the pages is kept, and they come
with the next issue, which delivers the commands to a box. Until then they answer 501 and
change nothing."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template

from coach.access import session_or_404
from coach.auth import login_required, role_required
from coach.db import get_db

bp = Blueprint("session_commands", __name__)

NOT_YET = ("Starting and ending sessions from the web needs the box command channel, which "
           "is not installed yet. Start and end the session on the box (its button). Nothing "
           "was changed.")


@bp.route("/sessions", methods=("POST",))
@role_required("trainer", "admin")
def start() -> Any:
    return render_template("not_yet.html", message=NOT_YET), 501


@bp.route("/sessions/<session_id>/end", methods=("POST",))
@login_required
def end(session_id: str) -> Any:
    session_or_404(get_db(), g.user, session_id)
    return render_template("not_yet.html", message=NOT_YET), 501
