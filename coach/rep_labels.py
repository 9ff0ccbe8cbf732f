"""A coach's verdict on each rep ("clean" or "fault", the fault with an optional kind), or on a
whole set at once, stored in ``rep_labels`` with who and when; a label can be changed or
removed. "Whole set clean" never replaces a fault label a coach saved unless the coach confirms
it for those reps (``overwrite``); each save says what changed. The box that recorded the
session pulls them and refreshes the athlete's profile from the clean ones (docs/session-commands.md).
The athlete page shows that refresh (``profile_refresh`` in templates)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from coach.access import can_see_athlete, session_or_404
from coach.auth import login_required
from coach.db import execute, get_db, query, query_one

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
    kept: list[dict[str, Any]] = []
    if request.method == "POST":
        if not may:
            abort(403)
        if not LabelForm().validate_on_submit():
            abort(400)
        numbers = {r["rep_number"] for r in reps}
        replaced: set[int] | None = None
        if request.form.get("whole_set") == "clean":
            replaced = _overwrite(request.form, numbers, errors)
            wanted, kept = _whole_set_clean(reps, replaced)
        else:
            wanted = _wanted(request.form, numbers, errors)
        if not errors:
            flash(_saved_message(_store(conn, session["id"], wanted, replaced), kept))
            return redirect(url_for("rep_labels.edit", session_id=session["id"]), 303)
    return render_template("commands/labels.html", s=session, reps=reps, may_label=may,
                           athlete_name=_athlete_name(conn, session["athlete"]),
                           form=LabelForm(), errors=errors,
                           faults=[r for r in reps if r["verdict"] == "fault"],
                           to_clean=[r["rep_number"] for r in reps if r["verdict"] != "clean"
                                     and r["verdict"] != "fault"]), 422 if errors else 200


def _athlete_name(conn: Any, athlete: str | None) -> str:
    row = query_one(conn, "SELECT first_name, last_name, email FROM users WHERE id = %s",
                    (athlete,)) if athlete else None
    if row is None:
        return "no athlete"
    return " ".join(p for p in (row["first_name"], row["last_name"]) if p) or row["email"]


def _overwrite(form: Any, numbers: set[int], errors: list[str]) -> set[int]:
    """The reps whose saved fault label the coach confirmed to replace with clean."""
    raw = (form.get("overwrite") or "").strip()
    if not raw:
        return set()
    chosen: set[int] = set()
    for part in raw.split(","):
        part = part.strip()
        if not part.isdecimal() or len(part) > 6 or int(part) not in numbers:
            errors.append(f"overwrite: {part[:20]!r} is not a rep of this session")
            return set()
        chosen.add(int(part))
    return chosen


def _whole_set_clean(reps: list[dict[str, Any]], confirmed: set[int]
                     ) -> tuple[dict[int, tuple[str, str | None]], list[dict[str, Any]]]:
    """Every rep clean, except those a coach saved as a fault and did not confirm to replace
    (``overwrite``): a coach's word is never silently undone. Returns (labels to store, the
    fault labels kept)."""
    wanted: dict[int, tuple[str, str | None]] = {}
    kept: list[dict[str, Any]] = []
    for r in reps:
        if r["verdict"] == "fault" and r["rep_number"] not in confirmed:
            kept.append(r)
        else:
            wanted[r["rep_number"]] = ("clean", None)
    return wanted, kept


def _wanted(form: Any, numbers: set[int], errors: list[str]) -> dict[int, tuple[str, str | None]]:
    """The labels the form sets. A rep the form does not name (one synced after the page was
    loaded) keeps its label."""
    wanted: dict[int, tuple[str, str | None]] = {}
    for n in sorted(numbers):
        if f"verdict_{n}" not in form:
            if form.get(f"kind_{n}"):
                errors.append(f"rep {n}: a fault kind came without a verdict")
            continue
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


def _label_words(verdict: str, kind: str | None) -> str:
    if not verdict:
        return "unlabelled"
    return f"{verdict} ({kind})" if kind else verdict


def _saved_message(changed: list[tuple[int, str, str | None]],
                   kept: list[dict[str, Any]]) -> str:
    if changed:
        text = "Saved: " + "; ".join(f"rep {n} {_label_words(v, k)}" for n, v, k in changed) + "."
    else:
        text = "Saved: no label changed."
    if kept:
        text += " Kept the fault label a coach saved on " + "; ".join(
            f"rep {r['rep_number']}: {_label_words('fault', r['fault_kind'])} by "
            f"{r['labelled_by'] or 'a coach'}" for r in kept) + "."
    return text


def _store(conn: Any, session_id: str, wanted: dict[int, tuple[str, str | None]],
           faults_replaced: set[int] | None = None) -> list[tuple[int, str, str | None]]:
    """Store the labels; returns those that changed (rep, verdict, kind), in rep order. With
    ``faults_replaced`` (whole set clean) a fault label is replaced only on those reps, also
    one another coach saved since the page was read."""
    changed: list[tuple[int, str, str | None]] = []
    for n, (verdict, kind) in sorted(wanted.items()):
        if not verdict:
            if execute(conn, "DELETE FROM rep_labels WHERE session_id = %s AND rep_number = %s",
                       (session_id, n)):
                changed.append((n, "", None))
            continue
        if execute(conn, "INSERT INTO rep_labels (session_id, rep_number, verdict, fault_kind, "
                        "labelled_by) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id, "
                        "rep_number) DO UPDATE SET verdict = EXCLUDED.verdict, fault_kind = "
                        "EXCLUDED.fault_kind, labelled_by = EXCLUDED.labelled_by, labelled_at = "
                        "now() WHERE (rep_labels.verdict, rep_labels.fault_kind) IS DISTINCT FROM "
                        "(EXCLUDED.verdict, EXCLUDED.fault_kind) AND (rep_labels.verdict <> "
                        "'fault' OR %s)",
                   (session_id, n, verdict, kind, g.user["id"],
                    faults_replaced is None or n in faults_replaced)):
            changed.append((n, verdict, kind))
    conn.commit()
    return changed


@bp.app_context_processor
def _profile_refresh() -> dict[str, Any]:
    def profile_refresh(athlete_id: str) -> list[dict[str, Any]]:
        """The profiles boxes built for this athlete from coach labels, newest first."""
        return query(get_db(), "SELECT lift_type::text AS lift, device_id, refreshed_at, "
                               "rep_count, session_count FROM athlete_profiles "
                               "WHERE athlete = %s ORDER BY refreshed_at DESC", (athlete_id,))
    return {"profile_refresh": profile_refresh}
