"""Starting and ending sessions on a box from the web app (docs/commands.md).

POST /sessions stores a ``start`` command in ``session_commands`` (a box in direct mode polls
that table) and, when the app has a broker (``COMMAND_MQTT`` in the Flask config, a
``sync.mqtt_publisher.MqttSettings``), publishes it to the box's command topic. The session id
is made here, so /sessions/<id>/control follows that session from pending to active (the box's
acknowledgement) to ended, and shows the analysis once the box has synced it. POST
/sessions/<id>/end does the same with an ``end`` command. Only an admin, or a trainer of that
athlete, may command a box for the athlete.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from coach.access import can_see_athlete, parse_uuid, visible_athlete_ids
from coach.auth import login_required, role_required
from coach.db import get_db, query, query_one
from coach.forms import choices
from sync.command_store import insert_command
from sync.commands import Command
from sync.velocity_limit import MAX_LIMIT_PCT, MIN_LIMIT_PCT, check_limit_pct

log = logging.getLogger(__name__)

bp = Blueprint("session_commands", __name__)

COMMAND_TTL_S = 30.0
"""A command the box has not received by then is ignored by it (reported expired)."""
LIFTS = [("squat", "squat"), ("bench_press", "bench press"), ("deadlift", "deadlift")]
_publisher_lock = threading.Lock()


class StartForm(FlaskForm):
    athlete = SelectField("Athlete", validate_choice=False)
    device = SelectField("Box", validate_choice=False)
    lift = SelectField("Lift", validate_choice=False)
    velocity_loss_limit_pct = StringField(
        f"Stop the set at a velocity loss of (%, {MIN_LIMIT_PCT:g}-{MAX_LIMIT_PCT:g}; empty: the "
        f"box's default)")

    def limit_pct(self) -> float | None:
        """The velocity-loss limit typed in, None when empty; ValueError naming the field."""
        text = (self.velocity_loss_limit_pct.data or "").strip().rstrip("%").strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"velocity loss limit {text[:20]!r} is not a number") from None
        return check_limit_pct(value, "velocity loss limit")


class EndForm(FlaskForm):
    pass


def _publisher() -> Any:
    """This process's command publisher (one MQTT connection per web worker), or None."""
    settings = current_app.config.get("COMMAND_MQTT")
    if settings is None:
        return None
    with _publisher_lock:
        pub = current_app.extensions.get("coach_command_publisher")
        if pub is None:
            from sync.command_mqtt import CommandPublisher
            pub = CommandPublisher(settings, f"liftguard-web-{uuid.uuid4().hex[:12]}")
            pub.start()
            pub.wait_ready(2.0)
            current_app.extensions["coach_command_publisher"] = pub
    return pub


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
    form.device.choices = choices([(d["device_id"], d["device_id"]) for d in
                                   query(conn, "SELECT device_id FROM devices ORDER BY 1")])
    form.lift.choices = choices(LIFTS)


def _refuse(form: StartForm, message: str, status: int) -> Any:
    return render_template("commands/new.html", form=form, refusal=message), status


@bp.route("/sessions/new")
@role_required("trainer", "admin")
def new() -> Any:
    form = StartForm()
    _form_choices(get_db(), form)
    return render_template("commands/new.html", form=form, refusal=None)


def _busy_reason(conn: Any, device: str) -> str | None:
    row = query_one(conn, "SELECT id::text FROM sessions WHERE device_id = %s AND "
                          "status = 'active' LIMIT 1", (device,))
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
    if not query_one(conn, "SELECT 1 AS ok FROM devices WHERE device_id = %s", (device[:128],)):
        return _refuse(form, f"unknown box {device[:60]}", 422)
    try:
        limit = form.limit_pct()
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
                  velocity_loss_limit_pct=limit)
    _issue(conn, cmd)
    return redirect(url_for("session_commands.control", session_id=cmd.session_id), 303)


def _session_view(conn: Any, session_id: str) -> dict[str, Any]:
    """What the control page shows; 404 when the user may not see it or it is unknown."""
    sid = parse_uuid(session_id)
    if sid is None:
        abort(404)
    commands = query(conn, "SELECT id::text, kind, status, ack_reason, issued_at, acked_at, "
                           "device_id, athlete::text, lift_type::text FROM session_commands "
                           "WHERE session_id = %s ORDER BY issued_at", (sid,))
    session = query_one(conn, "SELECT s.id::text, s.status, s.athlete::text, s.device_id, "
                              "s.lift_type::text, s.performance_metric_id IS NOT NULL AS "
                              "analysed, m.balance_score, m.stability_score, m.injury_risk, "
                              "f.feedback_text FROM sessions s LEFT JOIN performance_metrics m "
                              "ON m.id = s.performance_metric_id LEFT JOIN feedback f "
                              "ON f.id = s.feedback_id WHERE s.id = %s", (sid,))
    athlete = (session or {}).get("athlete") or next(
        (c["athlete"] for c in commands if c["athlete"]), None)
    if not commands and not session:
        abort(404)
    if athlete is None or not can_see_athlete(conn, g.user, athlete):
        if g.user["role"] != "admin":
            abort(404)
    start = next((c for c in commands if c["kind"] == "start"), None)
    if session and session["status"] == "ended":
        state = "ended"
    elif session or (start and start["status"] == "done"):
        state = "active"
    elif start and start["status"] in ("refused", "expired"):
        state = start["status"]
    else:
        state = "pending"
    ending = any(c["kind"] == "end" and c["status"] in ("pending", "done") for c in commands)
    return {"id": sid, "commands": commands, "session": session, "state": state,
            "athlete": athlete, "ending": ending,
            "device": (session or {}).get("device_id") or (start or {}).get("device_id")}


@bp.route("/sessions/<session_id>/control")
@login_required
def control(session_id: str) -> Any:
    conn = get_db()
    view = _session_view(conn, session_id)
    final = view["state"] in ("refused", "expired") or (
        view["state"] == "ended" and view["session"]["analysed"])
    return render_template("commands/control.html", v=view, form=EndForm(), final=final,
                           may_command=_may_command(conn, view["athlete"]))


@bp.route("/sessions/<session_id>/end", methods=("POST",))
@login_required
def end(session_id: str) -> Any:
    conn = get_db()
    view = _session_view(conn, session_id)
    if not _may_command(conn, view["athlete"]):
        abort(403)
    if not EndForm().validate_on_submit():
        abort(400)
    if view["state"] != "active" or view["device"] is None:
        return render_template("commands/control.html", v=view, form=EndForm(), final=False,
                               may_command=True,
                               refusal=f"session is {view['state']}, not active: nothing to end"
                               ), 409
    now = time.time()
    _issue(conn, Command(id=str(uuid.uuid4()), device_id=view["device"], kind="end",
                         session_id=view["id"], issued_at=now, expires_at=now + COMMAND_TTL_S))
    return redirect(url_for("session_commands.control", session_id=view["id"]), 303)
