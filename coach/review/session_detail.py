"""One session as the session page shows it: header, scores, set feedback, reps, alerts.

Three queries whatever the number of reps or feedback lines (session with its athlete, trainer,
scores, set feedback and the time span of its raw data; its reps; its other feedback lines). Per-rep values come from the
``rep_metrics.metrics`` JSON the box syncs (``models.metrics.RepMetrics.as_dict()``); what the
box does not store per rep is derived here with the box's own functions: the sets (reps
grouped by the rests between them, ``coach.review.rep_sets``), velocity loss so far within the
set (best-rep reference, as ``models.analysis`` scores it) and the faults that fire
(``models.feedback_text.findings`` on the rebuilt metrics).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coach.review.rep_sets import RepSet, group_sets
from models.feedback_text import findings, shift_findings
from models.metrics import RepMetrics, velocity_loss_pct
from sync.json_values import is_finite_number

ALERT_TEXT = re.compile(r"^instability at (?P<t>-?\d+(?:\.\d+)?) s: (?P<reason>.*)$")
"""How the box words a live alert (edge_agent.daemon.app): time since the first frame."""
MODEL_FLAG = re.compile(r"moved differently from clean reps(?:, pointing to (?P<hint>[^;]+))?")
SET_MODEL_FLAGS = re.compile(r"The anomaly model flagged reps? (?P<list>.+?) as unlike clean reps")
SET_FLAG_ITEM = re.compile(r"(?P<n>\d+)(?: \((?P<hint>[^)]*)\))?")
"""How models.feedback_text words the model's per-rep verdicts (rep text, set summary)."""
LIVE_REP_LINE = re.compile(r"^rep \d+: ")
_REP_FIELDS = {f.name for f in dataclasses.fields(RepMetrics)}


@dataclass
class Fault:
    name: str          # rule name (tilt, lateral, ...) or "model"
    detail: str        # what happened, with the number
    advice: str = ""


@dataclass
class RepRow:
    number: int
    metrics: dict[str, Any]
    balance_score: float | None
    stability_score: float | None
    injury_risk: float | None
    feedback_text: str | None
    velocity_loss_pct: float | None = None
    faults: list[Fault] = field(default_factory=list)
    set_number: int = 1

    def get(self, key: str) -> Any:
        value = self.metrics.get(key)
        return float(value) if is_finite_number(value) else None

    @property
    def problem(self) -> bool:
        return bool(self.faults)


@dataclass
class BarLoad:
    """The set's bar load as the rep rows carry it (docs/metrics.md, "Bar load")."""

    kg: float | None
    source: str | None              # "entered" or "measured"
    measured_kg: float | None
    uncertainty_kg: float | None
    entered_kg: float | None
    unmeasured_reason: str | None

    @property
    def disagree(self) -> bool:
        """Entered and measured differ by more than the measurement's uncertainty."""
        return (self.entered_kg is not None and self.measured_kg is not None
                and self.uncertainty_kg is not None
                and abs(self.entered_kg - self.measured_kg) > self.uncertainty_kg)


@dataclass
class Alert:
    t_s: float
    reason: str


@dataclass
class SessionDetail:
    id: str
    lift_type: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    device_id: str | None
    end_reason: str | None
    athlete_id: str | None
    athlete_name: str
    athlete_email: str | None
    trainer_name: str | None
    balance_score: float | None
    stability_score: float | None
    injury_risk: float | None
    set_feedback: str | None
    data_span_s: float | None = None
    reps: list[RepRow] = field(default_factory=list)
    sets: list[RepSet] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    notes: list[tuple[datetime | None, str]] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        """How long the recording lasts: the time its raw data spans on the box's monotonic
        clock (a replayed recording runs faster than the wall clock, and a box's wall clock
        may have been corrected mid-session), else the wall-clock start to end."""
        if self.data_span_s is not None:
            return self.data_span_s
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def velocity_loss_pct(self) -> float | None:
        return velocity_loss_pct([r.get("mean_concentric_velocity_mps") for r in self.reps])

    def mean(self, key: str) -> float | None:
        values = [r.get(key) for r in self.reps]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    @property
    def problem_reps(self) -> list[int]:
        return [r.number for r in self.reps if r.problem]

    @property
    def velocity_loss_limit_pct(self) -> float | None:
        return next((r.get("velocity_loss_limit_pct") for r in self.reps
                     if r.get("velocity_loss_limit_pct") is not None), None)

    @property
    def velocity_loss_cue_rep(self) -> int | None:
        """The rep at which the box's velocity-loss cue fired (the rep rows say)."""
        return next((r.number for r in self.reps if r.metrics.get("velocity_loss_cue") is True),
                    None)

    @property
    def drift_cue_rep(self) -> int | None:
        """The rep at which the box's technique-drift cue fired (the rep rows say)."""
        return next((r.number for r in self.reps if r.metrics.get("drift_cue") is True), None)

    @property
    def bar_load(self) -> BarLoad | None:
        """From the first rep (the box writes the same set values on every rep)."""
        if not self.reps:
            return None
        r = self.reps[0]
        text = r.metrics.get("bar_load_unmeasured_reason")
        source = r.metrics.get("bar_load_source")
        return BarLoad(r.get("bar_load_kg"), source if source in ("entered", "measured") else None,
                       r.get("bar_load_measured_kg"), r.get("bar_load_uncertainty_kg"),
                       r.get("bar_load_entered_kg"), text if isinstance(text, str) else None)


def display_name(first: str | None, last: str | None, email: str | None) -> str:
    name = " ".join(p for p in (first, last) if p)
    return name or email or "unassigned"


SESSION_SQL = """
SELECT s.id::text, s.lift_type::text, s.status, s.started_at, s.ended_at, s.device_id,
       s.end_reason, s.athlete::text, a.first_name, a.last_name, a.email,
       t.first_name, t.last_name, t.email,
       pm.balance_score, pm.stability_score, pm.injury_risk, f.feedback_text, s.feedback_id::text,
       (SELECT (max(d.mono_end_ns) - min(d.mono_start_ns)) / 1e9 FROM sensor_data d
         WHERE d.session = s.id)::float8
FROM sessions s
LEFT JOIN users a ON a.id = s.athlete
LEFT JOIN users t ON t.id = s.trainer
LEFT JOIN performance_metrics pm ON pm.id = s.performance_metric_id
LEFT JOIN feedback f ON f.id = s.feedback_id
WHERE s.id = %s
"""
REPS_SQL = """
SELECT rep_number, metrics, balance_score, stability_score, injury_risk, feedback_text
FROM rep_metrics WHERE session_id = %s ORDER BY rep_number
"""
NOTES_SQL = """
SELECT id::text, created_at, feedback_text FROM feedback WHERE session = %s
ORDER BY created_at, id
"""


def load_session(conn: Any, session_id: str) -> SessionDetail | None:
    """The session with its reps and feedback lines, or None when there is no such session."""
    with conn.cursor() as cur:
        cur.execute(SESSION_SQL, (session_id,))
        row = cur.fetchone()
        if row is None:
            return None
        (sid, lift, status, started, ended, device, end_reason, athlete_id, a_first, a_last,
         a_email, t_first, t_last, t_email, balance, stability, risk, set_text, feedback_id,
         data_span) = row
        detail = SessionDetail(
            sid, lift, status, started, ended, device, end_reason, athlete_id,
            display_name(a_first, a_last, a_email), a_email,
            display_name(t_first, t_last, t_email) if (t_first or t_email) else None,
            balance, stability, risk, set_text, data_span)
        cur.execute(REPS_SQL, (session_id,))
        detail.reps = rep_rows(cur.fetchall())
        detail.sets = group_sets(detail.reps)
        add_set_model_flags(detail.reps, set_text)
        cur.execute(NOTES_SQL, (session_id,))
        for fid, created, text in cur.fetchall():
            if fid == feedback_id:
                continue
            match = ALERT_TEXT.match(text or "")
            if match:
                detail.alerts.append(Alert(float(match["t"]), match["reason"]))
            elif not LIVE_REP_LINE.match(text or ""):
                detail.notes.append((created, text))
    return detail


def rep_metrics_of(metrics: dict[str, Any], number: int) -> RepMetrics:
    """The box's RepMetrics back from its stored JSON: numeric fields only (anything else,
    e.g. a string where a number belongs, counts as not available), unknown keys ignored."""
    values: dict[str, Any] = {k: float(v) for k, v in metrics.items()
                              if k in _REP_FIELDS and is_finite_number(v)}
    for key in ("start_s", "bottom_s", "end_s"):
        values.setdefault(key, 0.0)
    values["number"] = number
    unavailable = metrics.get("unavailable")
    values["unavailable"] = dict(unavailable) if isinstance(unavailable, dict) else {}
    return RepMetrics(**values)


def rep_rows(rows: list[tuple[Any, ...]]) -> list[RepRow]:
    """Rep rows from (rep_number, metrics, balance, stability, risk, feedback text) tuples, with
    velocity loss so far and the faults that fire, including the set-relative shift rules and
    the anomaly model's flag (from the rep's feedback text, the only place the box keeps it)."""
    out: list[RepRow] = []
    earlier: list[RepMetrics] = []
    best = 0.0
    for number, metrics, balance, stability, risk, text in rows:
        metrics = metrics if isinstance(metrics, dict) else {}
        rep = RepRow(number, metrics, balance, stability, risk, text)
        mcv = rep.get("mean_concentric_velocity_mps")
        if mcv is not None:
            best = max(best, mcv)
            rep.velocity_loss_pct = 100.0 * (best - mcv) / best if best > 0 else None
        rm = rep_metrics_of(metrics, number)
        rep.faults = [Fault(rule.name, _describe(rule, rm), rule.advice)
                      for _, rule in findings(rm)]
        fired = {f.name for f in rep.faults}
        rep.faults += [Fault(rule.name, _describe(rule, rm, baseline), rule.advice)
                       for _, rule, baseline in shift_findings(rm, earlier)
                       if not any(n.startswith(rule.covered_by) for n in fired)]
        earlier.append(rm)
        flag = MODEL_FLAG.search(text or "")
        if flag:
            hint = flag["hint"]
            rep.faults.append(Fault("model", "the anomaly model flagged this rep"
                                    + (f", pointing to {hint}" if hint else ""), ""))
        out.append(rep)
    return out


def add_set_model_flags(reps: list[RepRow], set_text: str | None) -> None:
    """The anomaly model's flags named in the set feedback, on reps that do not carry one."""
    found = SET_MODEL_FLAGS.search(set_text or "")
    if not found:
        return
    by_number = {r.number: r for r in reps}
    for item in SET_FLAG_ITEM.finditer(found["list"]):
        rep = by_number.get(int(item["n"]))
        if rep is not None and not any(f.name == "model" for f in rep.faults):
            hint = item["hint"]
            rep.faults.append(Fault("model", "the anomaly model flagged this rep"
                                    + (f", pointing to {hint}" if hint else "")))


def _describe(rule: Any, rep: RepMetrics, *baseline: float) -> str:
    """The rule's sentence, or its name when a value the sentence quotes is not stored."""
    try:
        return rule.describe(rep, *baseline)
    except (TypeError, ValueError):
        return rule.name
