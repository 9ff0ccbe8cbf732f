"""GET /dashboard, per role (what each sees: ``coach.review.dashboard``)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template

from coach.access import visible_athlete_ids
from coach.auth import login_required
from coach.db import get_db
from coach.review import dashboard
from coach.review.athlete_pages import trend_chart
from coach.review.trends import session_points

bp = Blueprint("dashboard", __name__)

ATHLETE_RECENT = 15


@bp.route("/dashboard")
@login_required
def index() -> Any:
    conn = get_db()
    user = g.user
    if user["role"] == "athlete":
        mine = {user["id"]}
        points = session_points(conn, user["id"])
        return render_template("review/dashboard_athlete.html",
                               recent=dashboard.recent_sessions(conn, mine, ATHLETE_RECENT),
                               trend=trend_chart(points[-30:]) if points else None)
    visible = visible_athlete_ids(conn, user)
    context: dict[str, Any] = {
        "athletes": dashboard.athletes_with_last_session(conn, visible),
        "flagged": dashboard.flagged_sessions(conn, visible),
        "active": dashboard.active_sessions(conn, visible),
        "large_loss": dashboard.LARGE_VELOCITY_LOSS_PCT,
    }
    if user["role"] == "admin":
        context["summary"] = dashboard.admin_summary(conn)
        context["devices"] = dashboard.devices(conn)
    return render_template("review/dashboard.html", **context)
