"""CSV exports of the sessions and reps a user may see (optionally one athlete's), with every
text cell neutralised against spreadsheet formulas (``coach.review.csv_safe``). Streamed: one
query each, rows written as they come."""
from __future__ import annotations

from typing import Any, Iterator

from flask import Blueprint, Response, abort, g, request, stream_with_context

from coach.access import athlete_filter, can_see_athlete, parse_uuid, visible_athlete_ids
from coach.auth import login_required
from coach.db import get_db
from coach.review.csv_safe import csv_lines

bp = Blueprint("export", __name__)

SESSION_HEADER = ("session_id", "started_at", "ended_at", "lift_type", "status", "athlete_email",
                  "athlete_first_name", "athlete_last_name", "device_id", "rep_count",
                  "balance_score", "stability_score", "injury_risk", "feedback_text")
REP_HEADER = ("session_id", "started_at", "lift_type", "athlete_email", "rep_number", "rom_m",
              "mean_concentric_velocity_mps", "peak_concentric_velocity_mps", "max_tilt_deg",
              "lateral_displacement_m", "asymmetry_pct", "bar_load_kg", "balance_score",
              "stability_score", "injury_risk", "feedback_text")
_REP_KEYS = REP_HEADER[5:12]


def _scope() -> tuple[str, tuple[Any, ...]]:
    conn = get_db()
    athlete = request.args.get("athlete")
    if athlete:
        canonical = parse_uuid(athlete)
        if canonical is None or not can_see_athlete(conn, g.user, canonical):
            abort(404)
        return "s.athlete = %s", (canonical,)
    return athlete_filter(visible_athlete_ids(conn, g.user))


def _rows(sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    with get_db().cursor() as cur:
        cur.execute(sql, params)
        while batch := cur.fetchmany(500):
            yield from batch


def _csv(name: str, header: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> Response:
    return Response(stream_with_context(csv_lines(header, rows)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/export/sessions.csv")
@login_required
def sessions_csv() -> Any:
    where, params = _scope()
    sql = f"""
        SELECT s.id::text, s.started_at, s.ended_at, s.lift_type::text, s.status, a.email,
               a.first_name, a.last_name, s.device_id,
               (SELECT count(*) FROM rep_metrics r WHERE r.session_id = s.id),
               pm.balance_score, pm.stability_score, pm.injury_risk, f.feedback_text
          FROM sessions s LEFT JOIN users a ON a.id = s.athlete
          LEFT JOIN performance_metrics pm ON pm.id = s.performance_metric_id
          LEFT JOIN feedback f ON f.id = s.feedback_id
         WHERE {where} ORDER BY s.started_at DESC NULLS LAST, s.id"""
    return _csv("sessions.csv", SESSION_HEADER, _rows(sql, params))


@bp.route("/export/reps.csv")
@login_required
def reps_csv() -> Any:
    where, params = _scope()
    metrics = ", ".join(f"CASE WHEN jsonb_typeof(r.metrics->'{k}') = 'number' "
                        f"THEN (r.metrics->>'{k}')::float8 END" for k in _REP_KEYS)
    sql = f"""
        SELECT s.id::text, s.started_at, s.lift_type::text, a.email, r.rep_number, {metrics},
               r.balance_score, r.stability_score, r.injury_risk, r.feedback_text
          FROM rep_metrics r JOIN sessions s ON s.id = r.session_id
          LEFT JOIN users a ON a.id = s.athlete
         WHERE {where} ORDER BY s.started_at DESC NULLS LAST, s.id, r.rep_number"""
    return _csv("reps.csv", REP_HEADER, _rows(sql, params))
