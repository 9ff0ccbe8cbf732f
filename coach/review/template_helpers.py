"""Template helpers of the review pages, as Python functions: long tables call them per cell,
and a Python call costs a fraction of a Jinja macro call. Links: ``url_for`` builds the route
once per request and the ids are filled in (Werkzeug's URL builder costs more than the row)."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, g, url_for
from markupsafe import Markup, escape

bp = Blueprint("review_helpers", __name__)
_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _prefix(endpoint: str, arg: str) -> tuple[str, str]:
    cache = g.setdefault("review_link_prefixes", {})
    if endpoint not in cache:
        cache[endpoint] = tuple(url_for(endpoint, **{arg: _PLACEHOLDER}).split(_PLACEHOLDER, 1))
    return cache[endpoint]


@bp.app_template_global()
def session_url(session_id: str) -> str:
    head, tail = _prefix("sessions_review.show", "session_id")
    return head + quote(session_id, safe="") + tail


@bp.app_template_global()
def athlete_url(athlete_id: str) -> str:
    head, tail = _prefix("athletes.detail", "athlete_id")
    return head + quote(athlete_id, safe="") + tail


NOT_AVAILABLE = Markup('<span class="na" title="not available">—</span>')


@bp.app_template_global()
def num(value: Any, fmt: str = "%.2f", unit: str = "") -> Markup:
    """A number formatted with its unit, or a dash that says it is not available."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NOT_AVAILABLE
    return escape(fmt % value + unit)


@bp.app_template_global()
def score_class(value: float | None, good: float = 75, fair: float = 55) -> str:
    if value is None:
        return "na"
    return "good" if value >= good else "fair" if value >= fair else "poor"


@bp.app_template_global()
def risk_class(value: float | None) -> str:
    if value is None:
        return "na"
    return "good" if value < 0.3 else "fair" if value < 0.6 else "poor"


LIFT_NAMES = {"squat": "Squat", "bench_press": "Bench press", "deadlift": "Deadlift"}


@bp.app_template_global()
def lift_name(name: str | None) -> str:
    return LIFT_NAMES.get(name or "", name or "")


@bp.app_template_global()
def when(t: datetime | None) -> str:
    return t.strftime("%d %b %Y, %H:%M") if t else "—"


@bp.app_template_global()
def status(value: str) -> Markup:
    """A badge: "live" for an active session, else the status."""
    label, kind = ("live", "live") if value == "active" else (value, "done")
    return Markup('<span class="badge {}">{}</span>').format(kind, label)


END_REASONS = {"api": "ended on the box", "button": "ended with the box's button",
               "idle_timeout": "ended after the bar sat still", "shutdown": "ended when the box shut down",
               "error": "ended by an error on the box",
               "crash_recovery": "closed when the box restarted after a crash",
               "command": "ended from this app"}
"""Why a session ended (edge_agent.store.sessions.END_REASONS), as a coach would say it."""


@bp.app_template_global()
def end_reason(reason: str | None) -> str:
    if not reason:
        return ""
    return END_REASONS.get(reason, "ended: " + reason.replace("_", " "))


@bp.app_template_global()
def duration(seconds: float | None) -> str:
    """"45 s", "3 min 05 s"."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"
