"""A coach's verdict on each rep ("clean" or "fault", the fault with an optional kind), or on a
whole set at once, stored in ``rep_labels`` with who and when; a label can be changed or
removed. The box that recorded the session pulls them and refreshes the athlete's profile
from the clean ones (docs/commands.md). The athlete page shows that refresh
(``profile_refresh`` in templates)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from coach.access import can_see_athlete, session_or_404
from coach.auth import login_required
from coach.db import execute, get_db, query

bp = Blueprint("rep_labels", __name__)

VERDICTS = ("clean", "fault", "")
MAX_FAULT_KIND = 64


class LabelForm(FlaskForm):
    pass


def _may_label(conn: Any, athlete: str | None) -> bool:
    return g.user["role"] == "admin" or (g.user["role"] == "trainer" and athlete is not None
                                         and can_see_athlete(conn, g.user, athlete))


def _reps(conn: Any, session_id: str) -> list[dict[str, Any]]:
    return query(conn, "SELECT r.rep_number, r.feedback_text, l.verdict, l.fault_kind, "
                       "l.labelled_at, u.first_name || ' ' || u.last_name AS labelled_by "
                       "FROM rep_metrics r LEFT JOIN rep_labels l ON l.session_id = r.session_id "
                       "AND l.rep_number = r.rep_number LEFT JOIN users u ON u.id = l.labelled_by "
                       "WHERE r.session_id = %s ORDER BY r.rep_number", (session_id,))


@bp.route("/sessions/<session_id>/labels", methods=("GET", "POST"))
@login_required
def edit(session_id: str) -> Any:
    conn = get_db()
    session = session_or_404(conn, g.user, session_id)
    may = _may_label(conn, session["athlete"])
    reps = _reps(conn, session["id"])
    errors: list[str] = []
    if request.method == "POST":
        if not may:
            abort(403)
        if not LabelForm().validate_on_submit():
            abort(400)
        numbers = {r["rep_number"] for r in reps}
        wanted = _wanted(request.form, numbers, errors)
        if not errors:
            _store(conn, session["id"], wanted)
            return redirect(url_for("rep_labels.edit", session_id=session["id"]), 303)
    return render_template("commands/labels.html", s=session, reps=reps, may_label=may,
                           form=LabelForm(), errors=errors), 422 if errors else 200


def _wanted(form: Any, numbers: set[int], errors: list[str]) -> dict[int, tuple[str, str | None]]:
    if form.get("whole_set") == "clean":
        return {n: ("clean", None) for n in numbers}
    wanted: dict[int, tuple[str, str | None]] = {}
    for n in sorted(numbers):
        verdict = form.get(f"verdict_{n}", "")
        kind = (form.get(f"kind_{n}") or "").strip() or None
        if verdict not in VERDICTS:
            errors.append(f"rep {n}: verdict must be clean, fault or empty")
        elif kind is not None and (verdict != "fault" or len(kind) > MAX_FAULT_KIND):
            errors.append(f"rep {n}: a fault kind (at most {MAX_FAULT_KIND} characters) goes "
                          f"only with the verdict fault")
        else:
            wanted[n] = (verdict, kind)
    return wanted


def _store(conn: Any, session_id: str, wanted: dict[int, tuple[str, str | None]]) -> None:
    for n, (verdict, kind) in wanted.items():
        if not verdict:
            execute(conn, "DELETE FROM rep_labels WHERE session_id = %s AND rep_number = %s",
                    (session_id, n))
            continue
        execute(conn, "INSERT INTO rep_labels (session_id, rep_number, verdict, fault_kind, "
                      "labelled_by) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id, "
                      "rep_number) DO UPDATE SET verdict = EXCLUDED.verdict, fault_kind = "
                      "EXCLUDED.fault_kind, labelled_by = EXCLUDED.labelled_by, labelled_at = "
                      "now() WHERE (rep_labels.verdict, rep_labels.fault_kind) IS DISTINCT FROM "
                      "(EXCLUDED.verdict, EXCLUDED.fault_kind)",
                    (session_id, n, verdict, kind, g.user["id"]))
    conn.commit()


@bp.app_context_processor
def _profile_refresh() -> dict[str, Any]:
    def profile_refresh(athlete_id: str) -> list[dict[str, Any]]:
        """The profiles boxes built for this athlete from coach labels, newest first."""
        return query(get_db(), "SELECT lift_type::text AS lift, device_id, refreshed_at, "
                               "rep_count, session_count FROM athlete_profiles "
                               "WHERE athlete = %s ORDER BY refreshed_at DESC", (athlete_id,))
    return {"profile_refresh": profile_refresh}
