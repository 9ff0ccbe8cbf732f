"""What the live control page shows for one session: its commands told to the end (pending,
then done, refused with the box's reason, expired or cancelled), the session's state, and its
reps as they sync, with how far behind the box is: while recording, the box's ``live_reps``
(synced rep by rep); once the analysis has synced, its ``rep_metrics``.

The page follows it by polling ``/sessions/<id>/live`` with ``If-None-Match`` (docs/web.md):
the ETag is a digest of exactly what the fragment shows, so an unchanged session costs three
small queries and a 304.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from flask import abort, g

from coach.access import can_see_athlete, parse_uuid
from coach.db import query, query_one
from coach.review.session_detail import REPS_SQL, RepRow, rep_rows

EXPIRY_GRACE_S = 5
"""A pending command this long past its expiry is settled ``expired`` here: the box checks the
expiry against its own clock and never acts on it after that (give or take its clock error)."""
NO_ANSWER = "no answer from the box before the command expired (is the box on and online?)"
FINAL_STATES = ("refused", "expired", "cancelled")


@dataclass(frozen=True)
class ShownRep:
    number: int
    velocity_mps: float | None
    velocity_loss_pct: float | None
    alert: str
    drift: bool = False
    """The box's technique-drift cue fired on this rep."""


COMMANDS_SQL = ("SELECT id::text, kind, status, ack_reason, issued_at, acked_at, expires_at, "
                "device_id, athlete::text, lift_type::text, bar_load_kg FROM session_commands "
                "WHERE session_id = %s ORDER BY issued_at")
LIVE_REPS_SQL = ("SELECT rep_number, mean_velocity_mps, velocity_loss_pct, alert, ended_at, "
                 "drift_cue FROM live_reps WHERE session_id = %s ORDER BY rep_number, ended_at")


@dataclass
class LiveView:
    id: str
    commands: list[dict[str, Any]]
    session: dict[str, Any] | None
    state: str
    athlete: str | None
    device: str | None
    start: dict[str, Any] | None
    pending_end: dict[str, Any] | None
    reps: list[ShownRep] = field(default_factory=list)
    analysed_reps: bool = False
    """True when ``reps`` are the end-of-session analysis's, False while they are live ones."""
    last_rep_at: datetime | None = None

    @property
    def final(self) -> bool:
        """Nothing more will change on the page: stop following it."""
        return self.state in FINAL_STATES or (
            self.state == "ended" and bool(self.session and self.session["analysed"]))

    def lag_s(self, now: datetime) -> float | None:
        """Seconds between the newest synced rep's end and ``now`` (how far behind the box)."""
        return None if self.last_rep_at is None else max(
            0.0, (now - self.last_rep_at).total_seconds())

    def etag(self) -> str:
        shown = [self.state, self.device, [(c["id"], c["status"], c["ack_reason"])
                                           for c in self.commands],
                 self.session and {k: self.session[k] for k in ("status", "analysed")},
                 self.analysed_reps, [dataclasses.astuple(r) for r in self.reps]]
        return hashlib.sha256(json.dumps(shown, default=str).encode()).hexdigest()[:32]


def settle_expired(conn: Any, session_id: str) -> None:
    """Mark the session's commands that nobody answered in time ``expired``."""
    with conn.cursor() as cur:
        cur.execute("UPDATE session_commands SET status = 'expired', ack_reason = %s, "
                    "acked_at = now() WHERE session_id = %s AND status = 'pending' AND "
                    "expires_at < now() - make_interval(secs => %s)",
                    (NO_ANSWER, session_id, EXPIRY_GRACE_S))
    conn.commit()


def _state(session: dict[str, Any] | None, commands: list[dict[str, Any]],
           start: dict[str, Any] | None) -> str:
    """Ended or active as soon as the box says so (its acknowledgement), or its session row."""
    if (session and session["status"] == "ended") or any(
            c["kind"] == "end" and c["status"] == "done" for c in commands):
        return "ended"
    if session or (start and start["status"] == "done"):
        return "active"
    if start and start["status"] in FINAL_STATES:
        return start["status"]
    return "pending"


def _analysed_end(session: dict[str, Any], reps: list[RepRow]) -> datetime | None:
    """Wall time of the newest analysed rep's end: the session's start plus its ``end_s``."""
    end_s = reps[-1].get("end_s") if reps else None
    if session["started_at"] is None or end_s is None:
        return None
    started = session["started_at"]
    if started.tzinfo is None:   # sessions.started_at is UTC without a zone (docs/sync.md)
        started = started.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(started.timestamp() + end_s, timezone.utc)


def _session_reps(conn: Any, view: "LiveView") -> None:
    """The analysed reps once they synced, else the live ones, and when the newest ended."""
    with conn.cursor() as cur:
        cur.execute(REPS_SQL, (view.id,))
        analysed = rep_rows(cur.fetchall())
        if analysed:
            view.reps = [ShownRep(r.number, r.get("mean_concentric_velocity_mps"),
                                  r.velocity_loss_pct, "; ".join(f.detail for f in r.faults),
                                  r.metrics.get("drift_cue") is True)
                         for r in analysed]
            view.analysed_reps = True
            view.last_rep_at = _analysed_end(view.session, analysed)
            return
        cur.execute(LIVE_REPS_SQL, (view.id,))
        live = {row[0]: row for row in cur.fetchall()}   # a repeated number: the newest
    view.reps = [ShownRep(n, v, loss, "; ".join(filter(None, (alert, drift and
                                                              f"technique drift: {drift}"))),
                          drift is not None)
                 for n, v, loss, alert, _, drift in live.values()]
    view.last_rep_at = max((row[4] for row in live.values()), default=None)


def live_view(conn: Any, session_id: str) -> LiveView:
    """The session as the control page shows it; 404 when the user may not see it."""
    sid = parse_uuid(session_id)
    if sid is None:
        abort(404)
    commands = query(conn, COMMANDS_SQL, (sid,))
    if any(c["status"] == "pending" for c in commands):
        settle_expired(conn, sid)
        commands = query(conn, COMMANDS_SQL, (sid,))
    session = query_one(conn, "SELECT s.id::text, s.status, s.athlete::text, s.device_id, "
                              "s.lift_type::text, s.started_at, s.performance_metric_id IS NOT "
                              "NULL AS analysed, m.balance_score, m.stability_score, "
                              "m.injury_risk, f.feedback_text FROM sessions s LEFT JOIN "
                              "performance_metrics m ON m.id = s.performance_metric_id LEFT JOIN "
                              "feedback f ON f.id = s.feedback_id WHERE s.id = %s", (sid,))
    athlete = (session or {}).get("athlete") or next(
        (c["athlete"] for c in commands if c["athlete"]), None)
    if not commands and not session:
        abort(404)
    if g.user["role"] != "admin" and (athlete is None
                                      or not can_see_athlete(conn, g.user, athlete)):
        abort(404)
    start = next((c for c in commands if c["kind"] == "start"), None)
    view = LiveView(id=sid, commands=commands, session=session, state=_state(session, commands, start),
                    athlete=athlete,
                    device=(session or {}).get("device_id") or (start or {}).get("device_id"),
                    start=start,
                    pending_end=next((c for c in commands if c["kind"] == "end"
                                      and c["status"] == "pending"), None))
    if session:
        _session_reps(conn, view)
    return view
