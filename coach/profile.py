"""GET /profile: the user's account and the session history they may see, filtered by lift
and date, a page at a time (one query for the page and its total, no per-row queries);
POST /profile/password changes the password."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from coach import invitations, login_limits
from coach.access import athlete_filter, visible_athlete_ids
from coach.accounts import set_password, verify_login
from coach.auth import client_address, current_limits, login_required, wait_message
from coach.db import get_db, query
from coach.forms import HistoryFilterForm, PasswordChangeForm

bp = Blueprint("profile", __name__)


def session_history(conn: Any, user: dict[str, Any], lift: str, date_from: Any, date_to: Any,
                    page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """(rows of this page, total matching) for the sessions ``user`` may see."""
    where, params = athlete_filter(visible_athlete_ids(conn, user))
    clauses, args = [where], list(params)
    if lift:
        clauses.append("s.lift_type = %s")
        args.append(lift)
    if date_from:
        clauses.append("s.started_at >= %s")
        args.append(date_from)
    if date_to:
        clauses.append("s.started_at < %s")
        args.append(date_to + timedelta(days=1))
    rows = query(conn, f"""
        SELECT s.id::text AS id, s.lift_type::text AS lift_type, s.status, s.started_at,
               s.ended_at, s.device_id, a.first_name || ' ' || a.last_name AS athlete_name,
               pm.balance_score, pm.stability_score, pm.injury_risk,
               (SELECT count(*) FROM rep_metrics r WHERE r.session_id = s.id) AS reps,
               count(*) OVER () AS total
          FROM sessions s
          LEFT JOIN users a ON a.id = s.athlete
          LEFT JOIN performance_metrics pm ON pm.id = s.performance_metric_id
         WHERE {' AND '.join(clauses)}
         ORDER BY s.started_at DESC NULLS LAST, s.id
         LIMIT %s OFFSET %s""", (*args, page_size, (page - 1) * page_size))
    return rows, (rows[0]["total"] if rows else 0)


def _account_links(conn: Any, user: dict[str, Any]) -> list[dict[str, Any]]:
    """An athlete's trainers, or a trainer's athletes."""
    if user["role"] == "athlete":
        return query(conn, """
            SELECT u.first_name, u.last_name, u.email FROM trainer_athletes ta
              JOIN users u ON u.id = ta.trainer_id WHERE ta.athlete_id = %s
             ORDER BY u.last_name, u.first_name""", (user["id"],))
    if user["role"] == "trainer":
        return query(conn, """
            SELECT u.first_name, u.last_name, u.email FROM trainer_athletes ta
              JOIN users u ON u.id = ta.athlete_id WHERE ta.trainer_id = %s
             ORDER BY u.last_name, u.first_name""", (user["id"],))
    return []


def _render(password_form: PasswordChangeForm, status: int = 200,
            problems: list[str] | None = None) -> Any:
    form = HistoryFilterForm(request.args)
    if not form.validate():
        return render_template("profile.html", form=form, sessions=[], total=0, page=1,
                               pages=1, links=[], password_form=password_form), 400
    page_size = current_app.config["COACH_SETTINGS"].page_size
    page = form.page.data or 1
    conn = get_db()
    rows, total = session_history(conn, g.user, form.lift.data or "", form.date_from.data,
                                  form.date_to.data, page, page_size)
    links = _account_links(conn, g.user)
    requests = invitations.pending_requests(conn, g.user) if g.user["role"] == "athlete" else []
    conn.rollback()
    pages = max(1, -(-total // page_size))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("profile.html", form=form, sessions=rows, total=total, page=page,
                           pages=pages, links=links, filter_args=args,
                           password_form=password_form, problems=problems,
                           requests=requests), status


@bp.route("/profile")
@login_required
def index() -> Any:
    return _render(PasswordChangeForm(formdata=None))


@bp.route("/profile/password", methods=("POST",))
@login_required
def change_password() -> Any:
    """Needs the current password (failures count towards the sign-in limits); signs out
    every other session of the user and keeps this one."""
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _render(form, 400)
    conn = get_db()
    email, address = g.user["email"], client_address()
    wait = login_limits.retry_after_s(conn, current_limits(), email, address)
    if wait:
        conn.rollback()
        page, status = _render(form, 429, [wait_message(wait)])
        return page, status, {"Retry-After": str(wait)}
    if verify_login(conn, email, form.current.data) is None:
        login_limits.record(conn, email, address, succeeded=False)
        conn.commit()
        return _render(form, 400, ["Current password: it is not the right one."])
    session["epoch"] = set_password(conn, g.user["id"], form.password.data)
    conn.commit()
    flash("Password changed. Other browsers signed in as you are signed out.")
    return redirect(url_for("profile.index"))
