"""What each role's dashboard shows, in a fixed number of queries whatever the roster size.

* trainer (and admin, over everyone): each athlete's last session; recent sessions with
  problem reps (the box writes a rep's feedback text only when a rule fired or the anomaly
  model flagged it) or a velocity loss of ``LARGE_VELOCITY_LOSS_PCT`` or more; sessions active
  now and on which box;
* athlete: their recent sessions (see :mod:`coach.review.trends` for the trend chart);
* admin: users per role, the boxes (``devices``) and the dead letters.

Visibility is passed in as ``athlete_ids`` (a set, or None for everyone) from
``coach.access.visible_athlete_ids``; every query filters on it in SQL.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from coach.access import athlete_filter
from coach.boxes import DIRECT_STALE_S
from coach.review.session_detail import display_name

LARGE_VELOCITY_LOSS_PCT = 20.0
"""Velocity loss at which a set counts as hard: 20 % is the usual cut-off in velocity-based
training between sets kept short of fatigue and sets taken close to failure
(Pareja-Blanco et al. 2017)."""
RECENT_SESSIONS_SCANNED = 300
FLAGGED_SHOWN = 20
ONLINE_WITHIN = timedelta(minutes=5)
"""A box counts as online when it synced within this time (its ``devices.last_seen``)."""


@dataclass
class AthleteRow:
    id: str
    name: str
    email: str
    session_count: int
    last_session_id: str | None
    last_started_at: datetime | None
    last_lift: str | None
    last_status: str | None


def athletes_with_last_session(conn: Any, athlete_ids: set[str] | None) -> list[AthleteRow]:
    where, params = athlete_filter(athlete_ids, "u.id")
    sql = f"""
    SELECT u.id::text, u.first_name, u.last_name, u.email, c.n,
           ls.id::text, ls.started_at, ls.lift_type::text, ls.status
    FROM users u
    LEFT JOIN LATERAL (SELECT s.id, s.started_at, s.lift_type, s.status FROM sessions s
                       WHERE s.athlete = u.id ORDER BY s.started_at DESC NULLS LAST, s.id DESC
                       LIMIT 1) ls ON true
    LEFT JOIN LATERAL (SELECT count(*) AS n FROM sessions s WHERE s.athlete = u.id) c ON true
    WHERE u.role = 'athlete' AND {where}
    ORDER BY lower(u.last_name), lower(u.first_name), u.email
    """
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return [AthleteRow(r[0], display_name(r[1], r[2], r[3]), r[3], int(r[4] or 0), *r[5:])
                for r in cur.fetchall()]


@dataclass
class SessionRow:
    id: str
    started_at: datetime | None
    lift_type: str
    status: str
    athlete_id: str | None
    athlete_name: str
    device_id: str | None
    rep_count: int
    problem_reps: int
    velocity_loss_pct: float | None
    balance_score: float | None
    stability_score: float | None
    injury_risk: float | None

    @property
    def large_loss(self) -> bool:
        return (self.velocity_loss_pct or 0.0) >= LARGE_VELOCITY_LOSS_PCT


_MCV = ("CASE WHEN jsonb_typeof(r.metrics->'mean_concentric_velocity_mps') = 'number' "
        "THEN (r.metrics->>'mean_concentric_velocity_mps')::float8 END")
SESSION_ROWS_SQL = f"""
SELECT s.id::text, s.started_at, s.lift_type::text, s.status, s.athlete::text,
       u.first_name, u.last_name, u.email, s.device_id,
       COALESCE(q.n, 0), COALESCE(q.problems, 0), q.best, q.last, q.n_v,
       pm.balance_score, pm.stability_score, pm.injury_risk
FROM (SELECT * FROM sessions s WHERE {{where}}
      ORDER BY s.started_at DESC NULLS LAST, s.id DESC LIMIT %s) s
LEFT JOIN users u ON u.id = s.athlete
LEFT JOIN performance_metrics pm ON pm.id = s.performance_metric_id
LEFT JOIN LATERAL (
    SELECT count(*) AS n, count(*) FILTER (WHERE r.feedback_text IS NOT NULL) AS problems,
           max(v) AS best, count(v) AS n_v,
           (array_agg(v ORDER BY r.rep_number DESC) FILTER (WHERE v IS NOT NULL))[1] AS last
    FROM (SELECT r.*, {_MCV} AS v FROM rep_metrics r WHERE r.session_id = s.id) r
) q ON true
ORDER BY s.started_at DESC NULLS LAST, s.id DESC
"""


def _session_row(r: tuple[Any, ...]) -> SessionRow:
    best, last, n_v = r[11], r[12], r[13]
    loss = (100.0 * (best - last) / best
            if n_v and n_v >= 2 and best and best > 0 and last is not None else None)
    return SessionRow(r[0], r[1], r[2], r[3], r[4], display_name(r[5], r[6], r[7]), r[8],
                      int(r[9]), int(r[10]), loss, r[14], r[15], r[16])


def recent_sessions(conn: Any, athlete_ids: set[str] | None, limit: int,
                    extra_where: str = "TRUE") -> list[SessionRow]:
    """The most recent ``limit`` sessions of the visible athletes with their rep summary."""
    where, params = athlete_filter(athlete_ids, "s.athlete")
    with conn.cursor() as cur:
        cur.execute(SESSION_ROWS_SQL.format(where=f"{where} AND {extra_where}"),
                    params + (limit,))
        return [_session_row(r) for r in cur.fetchall()]


def flagged_sessions(conn: Any, athlete_ids: set[str] | None) -> list[SessionRow]:
    """Recent sessions with problem reps or a large velocity loss, newest first."""
    rows = recent_sessions(conn, athlete_ids, RECENT_SESSIONS_SCANNED)
    return [r for r in rows if r.problem_reps or r.large_loss][:FLAGGED_SHOWN]


def active_sessions(conn: Any, athlete_ids: set[str] | None) -> list[SessionRow]:
    return recent_sessions(conn, athlete_ids, 50, "s.status = 'active'")


@dataclass
class DeviceRow:
    device_id: str
    first_seen: datetime | None
    last_seen: datetime | None
    software_version: str | None
    model: str | None
    online: bool
    sync_backlog: int | None
    active_session_id: str | None


def devices(conn: Any, now: datetime | None = None) -> list[DeviceRow]:
    """Every box. Columns that later migrations may add (``sync_backlog``, ``online``) are read
    when present through ``to_jsonb``; without them the backlog is unknown and online means
    "synced within ``ONLINE_WITHIN``". With them, online is the box's own word
    (``coach.boxes``), a direct-mode box silent for ``DIRECT_STALE_S`` counting as offline."""
    now = now or datetime.now(timezone.utc)
    with conn.cursor() as cur:
        cur.execute("""
            SELECT to_jsonb(d), d.first_seen, d.last_seen, mv.name, mv.version,
                   (SELECT s.id::text FROM sessions s WHERE s.device_id = d.device_id
                    AND s.status = 'active' ORDER BY s.started_at DESC NULLS LAST LIMIT 1)
            FROM devices d LEFT JOIN model_versions mv ON mv.sha256 = d.model_sha256
            ORDER BY d.device_id""")
        rows = cur.fetchall()
    out = []
    for doc, first, last, model_name, model_version, active in rows:
        sha = doc.get("model_sha256")
        model = (f"{model_name} {model_version}" if model_name else
                 (sha[:12] if isinstance(sha, str) else None))
        backlog = doc.get("sync_backlog")
        online = doc.get("online")
        if not isinstance(online, bool):
            online = last is not None and _aware(last) >= now - ONLINE_WITHIN
        elif online and doc.get("sync_mode") == "direct":   # as coach.boxes counts it
            online = last is not None and _aware(last) >= now - timedelta(
                seconds=DIRECT_STALE_S)
        out.append(DeviceRow(doc["device_id"], first, last, doc.get("software_version"), model,
                             online, backlog if isinstance(backlog, int) else None, active))
    return out


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


@dataclass
class AdminSummary:
    users_by_role: dict[str, int]
    dead_letter_count: int
    latest_dead_letters: list[tuple[datetime, str | None, str]]


def admin_summary(conn: Any) -> AdminSummary:
    with conn.cursor() as cur:
        cur.execute("SELECT COALESCE(role, 'none'), count(*) FROM users GROUP BY 1 ORDER BY 1")
        roles = dict(cur.fetchall())
        cur.execute("SELECT (SELECT count(*) FROM dead_letters), received_at, device_id, reason "
                    "FROM dead_letters ORDER BY received_at DESC LIMIT 5")
        rows = cur.fetchall()
        if rows:
            count = int(rows[0][0])
        else:
            count = 0
    return AdminSummary(roles, count, [(r[1], r[2], r[3]) for r in rows])
