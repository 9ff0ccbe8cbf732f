"""Starting and ending sessions on a box from the web app (docs/session-commands.md).

POST /sessions stores a ``start`` command in ``session_commands`` (a box in direct mode polls
that table) and, when the web config's ``[mqtt]`` names a broker (``WebSettings.command_mqtt``),
publishes it to the box's command topic. The session id is made here, so
/sessions/<id>/control follows that session from pending to active (the box's
acknowledgement), refused, expired or cancelled, to ended, with its reps as they sync
(``coach.session_live``), and shows the analysis once the box has synced it. POST
/sessions/<id>/cancel withdraws a start the box has not answered; POST /sessions/<id>/end
issues an ``end`` command, at most one pending per session. Only an admin, or a trainer of that
athlete, may command a box for the athlete.
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import psycopg2.errors
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from coach.access import can_see_athlete, parse_uuid, visible_athlete_ids
from coach.auth import login_required, role_required
from coach.boxes import boxes
from coach.db import get_db, query, query_one
from coach.forms import choices
from coach.session_live import LiveView, live_view
from sync.entered_load import check_bar_load_kg
from sync.payloads import check_device_id
from sync.session_command_store import insert_command
from sync.session_commands import Command
from sync.velocity_limit import MAX_LIMIT_PCT, MIN_LIMIT_PCT, check_limit_pct

log = logging.getLogger(__name__)

bp = Blueprint("session_commands", __name__)

COMMAND_TTL_S = 30.0
"""A command the box has not received by then is ignored by it (reported expired)."""
LIFTS = [("squat", "squat"), ("bench_press", "bench press"), ("deadlift", "deadlift")]
POLL_INTERVAL_MS = 1000
"""How often the control page asks whether its session changed (a 304 when it did not)."""


def _typed_number(data: str | None, what: str, unit: str) -> float | None:
    """A number typed into a text field, a trailing unit allowed; None when empty, else
    ``ValueError`` naming ``what``."""
    text = (data or "").strip().rstrip(unit).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} {text[:20]!r} is not a number") from None


class StartForm(FlaskForm):
    athlete = SelectField("Athlete", validate_choice=False)
    device = SelectField("Box", validate_choice=False)
    lift = SelectField("Lift", validate_choice=False)
    bar_load = StringField("Bar load (kg; empty: the box's platform weighs it)")
    velocity_loss_limit_pct = StringField(
        f"Stop the set at a velocity loss of (%, {MIN_LIMIT_PCT:g}-{MAX_LIMIT_PCT:g}; empty: the "
        f"box's default)")

    def limit_pct(self) -> float | None:
        """The velocity-loss limit typed in, None when empty; ValueError naming the field."""
        return check_limit_pct(_typed_number(self.velocity_loss_limit_pct.data,
                                             "velocity loss limit", "%"), "velocity loss limit")

    def bar_load_kg(self) -> float | None:
        """The bar load typed in, None when empty; ValueError naming the field."""
        return check_bar_load_kg(_typed_number(self.bar_load.data, "bar load", "kg"),
                                 "bar load")


class EndForm(FlaskForm):
    pass


def start_publisher(app: Any, settings: Any) -> None:
    """Connect this process's command publisher (one MQTT connection per web worker) to the
    broker in ``settings`` (``MqttSettings``); it reconnects by itself when the broker is away."""
    from sync.session_command_mqtt import CommandPublisher

    pub = CommandPublisher(settings, f"liftguard-web-{uuid.uuid4().hex[:12]}")
    pub.start()
    app.extensions["coach_command_publisher"] = pub
    log.info("session commands are published to MQTT broker %s:%d as %s", settings.host,
             settings.port, settings.username or "(no login)")


def _publisher() -> Any:
    """This process's command publisher, or None when the app has no broker."""
    return current_app.extensions.get("coach_command_publisher")


def _issue(conn: Any, cmd: Command) -> None:
    insert_command(conn, cmd, g.user["id"])
    conn.commit()
    pub = _publisher()
    if pub is not None:
        try:
            pub.publish(cmd)
        except OSError as exc:   # stored: a direct-mode box still polls it
            log.error("%s", exc)


def _may_command(conn: Any, athlete_id: str | None) -> bool:
    if g.user["role"] == "admin":
        return True
    return g.user["role"] == "trainer" and athlete_id is not None and \
        can_see_athlete(conn, g.user, athlete_id)


def _form_choices(conn: Any, form: StartForm) -> None:
    visible = visible_athlete_ids(conn, g.user)
    athletes = query(conn, "SELECT id::text, first_name, last_name, email FROM users "
                           "WHERE role = 'athlete' ORDER BY last_name, first_name")
    form.athlete.choices = choices([(a["id"], f"{a['first_name']} {a['last_name']} "
                                              f"({a['email']})")
                                    for a in athletes if visible is None or a["id"] in visible])
    form.device.choices = choices([(b.device_id, b.label) for b in boxes(conn)])
    form.lift.choices = choices(LIFTS)


def _refuse(form: StartForm, message: str, status: int) -> Any:
    return render_template("commands/new.html", form=form, refusal=message), status


@bp.route("/sessions/new")
@role_required("trainer", "admin")
def new() -> Any:
    """The start form; ``?athlete=&device=&lift=&bar_load=`` preselect (start again, the
    athlete page)."""
    form = StartForm(formdata=None, athlete=request.args.get("athlete"),
                     device=request.args.get("device"), lift=request.args.get("lift"),
                     bar_load=request.args.get("bar_load", "")[:20])
    _form_choices(get_db(), form)
    return render_template("commands/new.html", form=form, refusal=None)


def _busy_reason(conn: Any, device: str) -> str | None:
    row = query_one(conn, """
        SELECT s.id::text FROM sessions s WHERE s.device_id = %s AND s.status = 'active'
           AND NOT EXISTS (SELECT 1 FROM session_commands e WHERE e.session_id = s.id
                           AND e.kind = 'end' AND e.status = 'done')
         LIMIT 1""", (device,))
    if row:
        return f"box {device} is recording session {row['id']}; end it first"
    row = query_one(conn, """
        SELECT c.session_id::text, c.status FROM session_commands c
          LEFT JOIN sessions s ON s.id = c.session_id
         WHERE c.device_id = %s AND c.kind = 'start' AND c.issued_at > now() - interval '12 hours'
           AND ((c.status = 'pending' AND c.expires_at > now()) OR c.status = 'done')
           AND s.status IS DISTINCT FROM 'ended'
           AND NOT EXISTS (SELECT 1 FROM session_commands e WHERE e.session_id = c.session_id
                           AND e.kind = 'end' AND e.status = 'done')
         LIMIT 1""", (device,))
    if row and row["status"] == "pending":
        return f"box {device} has not answered the start of session {row['session_id']} yet"
    if row:
        return f"box {device} is recording session {row['session_id']}; end it first"
    return None


@bp.route("/sessions", methods=("POST",))
@role_required("trainer", "admin")
def start() -> Any:
    conn = get_db()
    form = StartForm()
    _form_choices(conn, form)
    if not form.validate_on_submit():
        return _refuse(form, "the form expired or was incomplete; try again", 400)
    athlete_id = parse_uuid(form.athlete.data or "")
    athlete = athlete_id and query_one(conn, "SELECT id::text, email FROM users WHERE id = %s "
                                             "AND role = 'athlete'", (athlete_id,))
    if not athlete:
        return _refuse(form, "unknown athlete", 422)
    if not _may_command(conn, athlete_id):
        return _refuse(form, "you are not a trainer of this athlete", 403)
    if form.lift.data not in dict(LIFTS):
        return _refuse(form, f"lift type {(form.lift.data or '')[:40]} is not one of "
                             f"{', '.join(dict(LIFTS))}", 422)
    device = form.device.data or ""
    try:
        check_device_id(device)   # a NUL byte would not even reach PostgreSQL
    except ValueError:
        return _refuse(form, f"unknown box {device[:60]!r}", 422)
    if not query_one(conn, "SELECT 1 AS ok FROM devices WHERE device_id = %s", (device,)):
        return _refuse(form, f"unknown box {device[:60]}", 422)
    try:
        limit, load = form.limit_pct(), form.bar_load_kg()
    except ValueError as exc:
        return _refuse(form, str(exc), 422)
    busy = _busy_reason(conn, device)
    if busy:
        return _refuse(form, busy, 409)
    now = time.time()
    cmd = Command(id=str(uuid.uuid4()), device_id=device, kind="start",
                  session_id=str(uuid.uuid4()), issued_at=now, expires_at=now + COMMAND_TTL_S,
                  athlete=athlete["id"], athlete_email=athlete["email"].lower(),
                  trainer=g.user["id"] if g.user["role"] == "trainer" else None,
                  lift_type=form.lift.data,
                  velocity_loss_limit_pct=limit, bar_load_kg=load)
    _issue(conn, cmd)
    return redirect(url_for("session_commands.control", session_id=cmd.session_id), 303)


def _render_control(conn: Any, view: LiveView, refusal: str | None = None,
                    status: int = 200) -> Any:
    return render_template("commands/control.html", v=view, form=EndForm(), refusal=refusal,
                           may_command=_may_command(conn, view.athlete),
                           poll_ms=POLL_INTERVAL_MS, now=datetime.now(timezone.utc)), status


@bp.route("/sessions/<session_id>/control")
@login_required
def control(session_id: str) -> Any:
    conn = get_db()
    return _render_control(conn, live_view(conn, session_id))


@bp.route("/sessions/<session_id>/live")
@login_required
def live(session_id: str) -> Any:
    """The control page's changing part, for its polling script: 304 while its ETag holds."""
    conn = get_db()
    view = live_view(conn, session_id)
    tag = view.etag()
    if tag in request.if_none_match:
        response = make_response("", 304)
    else:
        response = make_response(render_template(
            "commands/_live.html", v=view, form=EndForm(),
            may_command=_may_command(conn, view.athlete), now=datetime.now(timezone.utc)))
    response.set_etag(tag)
    return response


def _commanded_view(session_id: str) -> tuple[Any, LiveView]:
    conn = get_db()
    view = live_view(conn, session_id)
    if not _may_command(conn, view.athlete):
        abort(403)
    if not EndForm().validate_on_submit():
        abort(400)
    return conn, view


@bp.route("/sessions/<session_id>/cancel", methods=("POST",))
@login_required
def cancel(session_id: str) -> Any:
    """Withdraw a start the box has not answered. A box that gets it anyway before its expiry
    (MQTT, offline meanwhile) still starts, and the page then shows the session active."""
    conn, view = _commanded_view(session_id)
    if view.state != "pending" or view.start is None:
        return _render_control(conn, view, f"session is {view.state}, not pending: nothing to "
                                           f"cancel", 409)
    with conn.cursor() as cur:
        cur.execute("UPDATE session_commands SET status = 'cancelled', acked_at = now(), "
                    "ack_reason = %s WHERE id = %s AND status = 'pending'",
                    (f"cancelled by {g.user['first_name']} {g.user['last_name']}"[:200],
                     view.start["id"]))
    conn.commit()
    return redirect(url_for("session_commands.control", session_id=view.id), 303)


@bp.route("/sessions/<session_id>/end", methods=("POST",))
@login_required
def end(session_id: str) -> Any:
    conn, view = _commanded_view(session_id)
    if view.state != "active" or view.device is None:
        return _render_control(conn, view, f"session is {view.state}, not active: nothing to "
                                           f"end", 409)
    if view.pending_end is not None:
        return _render_control(conn, view, "an end is already waiting for the box's answer "
                                           f"(sent {view.pending_end['issued_at']:%H:%M:%S})",
                               409)
    now = time.time()
    try:
        _issue(conn, Command(id=str(uuid.uuid4()), device_id=view.device, kind="end",
                             session_id=view.id, issued_at=now,
                             expires_at=now + COMMAND_TTL_S))
    except psycopg2.errors.UniqueViolation:   # another End crossed this one
        conn.rollback()
        return _render_control(conn, live_view(conn, session_id),
                               "an end is already waiting for the box's answer", 409)
    return redirect(url_for("session_commands.control", session_id=view.id), 303)
