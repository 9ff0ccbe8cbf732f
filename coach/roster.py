"""Roster management: trainer <-> athlete assignments and sign-up invitations.

An admin assigns any athlete to any trainer and removes assignments; a trainer sees their
athletes, removes one from their roster, and invites athletes: a new one is assigned to them on
sign-up, an existing one only when they (or an admin) accept the request. Invitations are
e-mailed when the app sends mail, else the link is shown to the inviter. Every change is a
CSRF-protected POST.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from coach import invitations, mail
from coach.auth import role_required
from coach.db import execute, get_db, query
from coach.forms import (
    AssignmentForm,
    IdForm,
    InvitationForm,
    RosterRequestForm,
    UnassignForm,
    choices,
    form_problems,
)

log = logging.getLogger(__name__)

bp = Blueprint("roster", __name__)


def _people(conn: Any, role: str) -> list[dict[str, Any]]:
    return query(conn, """
        SELECT id::text AS id, first_name, last_name, email FROM users WHERE role = %s
         ORDER BY last_name, first_name, email""", (role,))


def _assignments(conn: Any, user: dict[str, Any]) -> list[dict[str, Any]]:
    where, params = ("TRUE", ()) if user["role"] == "admin" else ("ta.trainer_id = %s",
                                                                  (user["id"],))
    return query(conn, f"""
        SELECT ta.trainer_id::text AS trainer_id, ta.athlete_id::text AS athlete_id,
               ta.assigned_at, t.first_name || ' ' || t.last_name AS trainer_name,
               t.email AS trainer_email, a.first_name || ' ' || a.last_name AS athlete_name,
               a.email AS athlete_email
          FROM trainer_athletes ta
          JOIN users t ON t.id = ta.trainer_id JOIN users a ON a.id = ta.athlete_id
         WHERE {where} ORDER BY trainer_name, athlete_name""", params)


def _person_choices(conn: Any, role: str) -> list:
    return choices([(p["id"], f"{p['first_name']} {p['last_name']} <{p['email']}>")
                    for p in _people(conn, role)])


def _assignment_form(conn: Any) -> AssignmentForm:
    form = AssignmentForm()
    form.trainer_id.choices = _person_choices(conn, "trainer")
    form.athlete_id.choices = _person_choices(conn, "athlete")
    return form


def _render(conn: Any, status: int = 200, assign: AssignmentForm | None = None,
            problems: list[str] | None = None) -> Any:
    user = g.user
    assign = assign or (_assignment_form(conn) if user["role"] == "admin" else None)
    page = render_template("roster.html", assignments=_assignments(conn, user), assign=assign,
                           problems=problems, requests=invitations.pending_requests(conn, user))
    conn.rollback()
    return page, status


@bp.route("/roster")
@role_required("admin", "trainer")
def index() -> Any:
    return _render(get_db())


@bp.route("/roster/assign", methods=("POST",))
@role_required("admin")
def assign() -> Any:
    conn = get_db()
    form = _assignment_form(conn)
    if not form.validate_on_submit():
        return _render(conn, 400, form)
    execute(conn, """
        INSERT INTO trainer_athletes (trainer_id, athlete_id, assigned_by)
        SELECT t.id, a.id, %s FROM users t, users a
         WHERE t.id = %s AND t.role = 'trainer' AND a.id = %s AND a.role = 'athlete'
        ON CONFLICT DO NOTHING""", (g.user["id"], form.trainer_id.data, form.athlete_id.data))
    conn.commit()
    flash("Athlete assigned.")
    return redirect(url_for("roster.index"))


@bp.route("/roster/unassign", methods=("POST",))
@role_required("admin", "trainer")
def unassign() -> Any:
    conn = get_db()
    form = UnassignForm()
    if not form.validate_on_submit():
        return _render(conn, 400, problems=form_problems(form))
    trainer_id = g.user["id"] if g.user["role"] == "trainer" else form.trainer_id.data
    if not trainer_id:
        return _render(conn, 400, problems=["trainer: say which trainer's roster to change"])
    removed = execute(conn, "DELETE FROM trainer_athletes WHERE trainer_id = %s "
                            "AND athlete_id = %s", (trainer_id, form.athlete_id.data))
    conn.commit()
    flash("Athlete removed from the roster." if removed else "That assignment did not exist.")
    return redirect(url_for("roster.index"))


def _invitation_form(**kwargs: Any) -> InvitationForm:
    form = InvitationForm(**kwargs)
    form.role.choices = choices([(r, r) for r in invitations.roles_invitable_by(g.user)])
    return form


def _render_invitations(conn: Any, form: InvitationForm, status: int = 200,
                        link: str | None = None, problems: list[str] | None = None) -> Any:
    page = render_template("invitations.html", form=form, link=link, problems=problems,
                           invitations=invitations.listed_for(conn, g.user))
    conn.rollback()
    return page, status


@bp.route("/invitations", methods=("GET", "POST"))
@role_required("admin", "trainer")
def invite() -> Any:
    """With mail, the link goes to the invited address and nobody sees it; without, it is shown
    to the inviter. The answer never says whether the address already has an account."""
    conn = get_db()
    form = _invitation_form()
    if request.method == "GET":
        return _render_invitations(conn, form)
    if not form.validate_on_submit():
        return _render_invitations(conn, form, 400)
    settings = current_app.config["COACH_SETTINGS"]
    email, role = form.email.data.strip(), form.role.data
    invitation_id, token = invitations.create(
        conn, g.user, email, role, settings.invitation_days,
        delivery="mailed" if settings.sends_mail else "shown")
    conn.commit()
    if not settings.sends_mail:
        link = url_for("auth.signup", invite=token, _external=True)
        return _render_invitations(conn, _invitation_form(formdata=None), link=link)
    link = settings.public_url + url_for("auth.signup", invite=token)
    inviter = f"{g.user['first_name']} {g.user['last_name']}"
    try:
        mail.send(settings, mail.invitation_message(settings, email, link, inviter, role,
                                                    settings.invitation_days))
    except mail.MailError as exc:
        invitations.revoke(conn, g.user, invitation_id)
        conn.commit()
        log.error("invitation e-mail not sent through %s:%d (%s); the invitation is revoked",
                  settings.smtp_host, settings.smtp_port, exc)
        return _render_invitations(conn, form, 502, problems=[
            "The invitation e-mail could not be sent (the mail server did not take it), so "
            "the invitation was withdrawn. Try again later; the log says why."])
    log.info("invitation %s e-mailed by user %s", invitation_id, g.user["id"])
    flash(f"Invitation e-mailed to {email}.")
    return redirect(url_for("roster.invite"))


@bp.route("/invitations/revoke", methods=("POST",))
@role_required("admin", "trainer")
def revoke() -> Any:
    conn = get_db()
    form = IdForm()
    if not form.validate_on_submit():
        return _render_invitations(conn, _invitation_form(formdata=None), 400,
                                   problems=form_problems(form))
    done = invitations.revoke(conn, g.user, form.id.data)
    conn.commit()
    flash("Invitation revoked." if done else "No open invitation of yours has that id.")
    return redirect(url_for("roster.invite"))


@bp.route("/roster/requests", methods=("POST",))
@role_required("admin", "athlete")
def answer_request() -> Any:
    """An athlete accepts or declines a trainer's request to add them to their roster (an
    admin may answer any request); the form comes from the profile or the roster page."""
    conn = get_db()
    form = RosterRequestForm()
    back = url_for("roster.index" if g.user["role"] == "admin" else "profile.index")
    if not form.validate_on_submit():
        abort(400, "Nothing was changed: " + "; ".join(form_problems(form)) + ".")
    accept = form.decision.data == "accept"
    done = invitations.answer_request(conn, g.user, form.id.data, accept)
    conn.commit()
    if done:
        log.info("roster request %s %s by user %s", form.id.data,
                 "accepted" if accept else "declined", g.user["id"])
    flash(("Request accepted: the trainer now sees your sessions." if accept
           else "Request declined.") if done else "No open request of yours has that id.")
    return redirect(back)
