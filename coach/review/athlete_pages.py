"""GET /athletes (the athletes a trainer or admin may see, with their last session) and
GET /athletes/<id>: trends across sessions and the load-velocity profile with an estimated
1RM. An athlete may open their own page only; anyone else's answers 404, like an unknown or
malformed id."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, render_template, request
from markupsafe import Markup

from coach.access import can_see_athlete, parse_uuid, visible_athlete_ids
from coach.auth import login_required, role_required
from coach.db import get_db, query_one
from coach.review import charts
from coach.review.dashboard import athletes_with_last_session
from coach.review.session_detail import display_name
from coach.review.trends import MVT_MPS, load_velocity_profile, session_points

bp = Blueprint("athletes", __name__)


@bp.route("/athletes")
@role_required("trainer", "admin")
def index() -> Any:
    conn = get_db()
    rows = athletes_with_last_session(conn, visible_athlete_ids(conn, g.user))
    return render_template("review/athletes.html", athletes=rows)


def _labels(points: list[Any]) -> list[str]:
    """Session dates for the x axis, with the time where one day holds several sessions."""
    days = [p.started_at.strftime("%d %b") if p.started_at else "?" for p in points]
    if len(set(days)) == len(days):
        return days
    return [p.started_at.strftime("%d %b %H:%M") if p.started_at else "?" for p in points]


def trend_chart(points: list[Any]) -> Markup:
    return Markup(charts.render_both(
        "trend", charts.trends, _labels(points),
        [p.mean_velocity for p in points], [p.velocity_loss_pct for p in points],
        [p.balance_score for p in points], [p.stability_score for p in points],
        [p.injury_risk for p in points]))


@bp.route("/athletes/<athlete_id>")
@login_required
def detail(athlete_id: str) -> Any:
    conn = get_db()
    canonical = parse_uuid(athlete_id)
    if canonical is None or not can_see_athlete(conn, g.user, canonical):
        abort(404)
    athlete = query_one(conn, "SELECT id::text AS id, first_name, last_name, email, role "
                              "FROM users WHERE id = %s", (canonical,))
    if athlete is None:
        abort(404)
    every = session_points(conn, canonical)
    lifts = sorted({p.lift_type for p in every})
    lift = request.args.get("lift") or (max(lifts, key=lambda l: sum(p.lift_type == l for p in every))
                                        if lifts else "squat")
    if lift not in MVT_MPS:
        abort(404)
    points = [p for p in every if p.lift_type == lift]
    profile = load_velocity_profile(points, lift)
    lv_chart = Markup(charts.render_both("load_velocity", charts.load_velocity, profile.loads,
                                         profile.velocities, profile.slope, profile.intercept,
                                         profile.one_rm_kg, profile.mvt_mps, profile.r2))
    return render_template(
        "review/athlete.html", athlete=athlete,
        name=display_name(athlete["first_name"], athlete["last_name"], athlete["email"]),
        lift=lift, lifts=lifts, points=points, profile=profile,
        trend_chart=trend_chart(points[-60:]), lv_chart=lv_chart)
