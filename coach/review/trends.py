"""An athlete's sessions over time, and the load-velocity profile with an estimated 1RM.

Trends: per session, the mean of the reps' mean concentric velocity, the velocity loss over
the set (``models.metrics.velocity_loss_pct``'s definition: best rep against the last) and the
three session scores. One query for any number of sessions.

Bar load: the box records it per rep as ``bar_load_kg`` in ``rep_metrics.metrics`` with its
``bar_load_source``: weighed by the platform (``measured``) or entered for the session
(``entered``, which wins); see docs/metrics.md. A session counts in the profile when its reps
carry one. Velocity-loss cue: the rep whose metrics have ``velocity_loss_cue`` true, and the
session's ``velocity_loss_limit_pct``. The profile is the linear fit of each session's best mean concentric velocity against its
load (González-Badillo & Sánchez-Medina 2010); the estimated 1RM is the load at which the fit
reaches the lift's minimum velocity threshold (``MVT_MPS``). It needs at least
``MIN_PROFILE_LOADS`` distinct loads and a falling fit, and says why when it has neither.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

MVT_MPS = {"squat": 0.30, "bench_press": 0.17, "deadlift": 0.15}
"""Mean concentric velocity at 1RM: squat 0.30 m/s (Conceição et al. 2016), bench press
0.17 m/s (González-Badillo & Sánchez-Medina 2010), deadlift 0.15 m/s (Ruf et al. 2018)."""
MIN_PROFILE_LOADS = 3


def _num(key: str) -> str:
    return (f"CASE WHEN jsonb_typeof(metrics->'{key}') = 'number' "
            f"THEN (metrics->>'{key}')::float8 END")


TRENDS_SQL = f"""
SELECT s.id::text, s.started_at, s.lift_type::text, s.status,
       pm.balance_score, pm.stability_score, pm.injury_risk,
       r.mean_v, r.best_v, r.last_v, r.n_v, r.load_kg, r.n_reps, r.load_src, r.cue_rep,
       r.cue_limit
FROM sessions s
LEFT JOIN performance_metrics pm ON pm.id = s.performance_metric_id
LEFT JOIN LATERAL (
    SELECT avg(v) AS mean_v, max(v) AS best_v,
           (array_agg(v ORDER BY rep_number DESC) FILTER (WHERE v IS NOT NULL))[1] AS last_v,
           count(v) AS n_v, avg(load) AS load_kg, count(*) AS n_reps,
           max(src) FILTER (WHERE load IS NOT NULL) AS load_src,
           min(rep_number) FILTER (WHERE cue) AS cue_rep, max(cue_limit) AS cue_limit
    FROM (SELECT rep_number, {_num('mean_concentric_velocity_mps')} AS v,
                 {_num('bar_load_kg')} AS load,
                 CASE WHEN metrics->>'bar_load_source' IN ('measured', 'entered')
                      THEN metrics->>'bar_load_source' END AS src,
                 jsonb_typeof(metrics->'velocity_loss_cue') = 'boolean'
                     AND (metrics->>'velocity_loss_cue')::boolean AS cue,
                 {_num('velocity_loss_limit_pct')} AS cue_limit
          FROM rep_metrics WHERE session_id = s.id) q
) r ON true
WHERE s.athlete = %s AND (%s::text IS NULL OR s.lift_type::text = %s)
ORDER BY s.started_at NULLS FIRST, s.id
"""


@dataclass
class SessionPoint:
    id: str
    started_at: datetime | None
    lift_type: str
    status: str
    balance_score: float | None
    stability_score: float | None
    injury_risk: float | None
    mean_velocity: float | None
    best_velocity: float | None
    velocity_loss_pct: float | None
    load_kg: float | None
    rep_count: int
    load_source: str | None = None      # "measured" (platform) or "entered"
    cue_rep: int | None = None          # where the velocity-loss cue fired
    cue_limit_pct: float | None = None  # the session's limit; None = cue off


def session_points(conn: Any, athlete_id: str, lift: str | None = None) -> list[SessionPoint]:
    with conn.cursor() as cur:
        cur.execute(TRENDS_SQL, (athlete_id, lift, lift))
        rows = cur.fetchall()
    out = []
    for (sid, started, lift_type, status, bal, stab, risk, mean_v, best_v, last_v, n_v, load,
         n_reps, load_src, cue_at, cue_limit) in rows:
        loss = (100.0 * (best_v - last_v) / best_v
                if n_v and n_v >= 2 and best_v and best_v > 0 and last_v is not None else None)
        out.append(SessionPoint(sid, started, lift_type, status, bal, stab, risk, mean_v, best_v,
                                loss, load, int(n_reps or 0), load_src, cue_at, cue_limit))
    return out


@dataclass
class LoadVelocityProfile:
    lift: str
    loads: list[float] = field(default_factory=list)
    velocities: list[float] = field(default_factory=list)
    slope: float | None = None        # m/s per kg
    intercept: float | None = None    # m/s at zero load
    r2: float | None = None
    one_rm_kg: float | None = None
    mvt_mps: float = 0.3
    reason: str | None = None         # why there is no estimate
    sources: list[str | None] = field(default_factory=list)   # per point: measured / entered

    @property
    def measured_sets(self) -> int:
        return sum(s == "measured" for s in self.sources)


def load_velocity_profile(points: list[SessionPoint], lift: str) -> LoadVelocityProfile:
    """Least-squares line of best velocity on load over the sessions with a load; 1RM at MVT."""
    profile = LoadVelocityProfile(lift, mvt_mps=MVT_MPS.get(lift, 0.3))
    pairs = [(p.load_kg, p.best_velocity, p.load_source) for p in points
             if p.lift_type == lift and p.load_kg is not None and p.best_velocity is not None
             and p.load_kg > 0]
    profile.loads = [float(a) for a, _, _ in pairs]
    profile.velocities = [float(v) for _, v, _ in pairs]
    profile.sources = [src for _, _, src in pairs]
    if len(set(profile.loads)) < MIN_PROFILE_LOADS:
        profile.reason = (f"needs sessions at {MIN_PROFILE_LOADS} or more different bar loads "
                          f"(has {len(set(profile.loads))})")
        return profile
    x, y = np.asarray(profile.loads), np.asarray(profile.velocities)
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (intercept + slope * x)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    profile.slope, profile.intercept = float(slope), float(intercept)
    profile.r2 = 1.0 - residual / total if total > 0 else None
    if slope >= 0:
        profile.reason = "velocity does not fall with load in these sessions, so no 1RM estimate"
        return profile
    profile.one_rm_kg = float((profile.mvt_mps - intercept) / slope)
    return profile
