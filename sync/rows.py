"""Mapping of a box's outbox rows (local store columns) to PostgreSQL upserts.

Shared by the direct sink and the MQTT ingester, so both write exactly the same rows. Every
statement is idempotent on the box-made UUID: immutable rows (raw chunks, metrics, feedback,
reps) use ``ON CONFLICT DO NOTHING``; sessions, the only rows that change, use
``ON CONFLICT (id) DO UPDATE`` guarded so that an older snapshot arriving late never turns an
ended session back into an active one and never moves a session to another device.

Parents before children, whatever the arrival order: the device row is upserted first, then
sessions, then a session *stub* (id + device only) for every child whose session has not
arrived yet, then the children. The stub is filled in when the session row arrives.
``sessions.metrics_id`` / ``feedback_id`` point at a child row; a link whose target has not
arrived yet is *deferred*: the session row is stored without it and its record is reported as
deferred, so the box keeps the entry and sends it again later.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from psycopg2.extras import execute_values

KINDS: tuple[str, ...] = ("sessions", "sensor_data", "performance_metrics", "feedback",
                          "rep_metrics")
"""Row kinds, in the order they are written (parents first). Also the MQTT topic kinds."""

# Field specs per kind: name -> (type code, required). Extra fields are ignored.
_NUM, _INT, _STR, _UUID, _BOOL, _DICT = "number", "integer", "string", "uuid", "boolean", "object"
ROW_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "sessions": {
        "id": (_UUID, True), "device_id": (_STR, True), "athlete": (_STR, False),
        "trainer": (_STR, False), "lift_type": (_STR, True), "status": (_STR, True),
        "start_time": (_NUM, True), "end_time": (_NUM, False), "end_reason": (_STR, False),
        "wall_clock_synced": (_BOOL, False), "metrics_id": (_UUID, False),
        "feedback_id": (_UUID, False), "mono_to_wall_offset_s": (_NUM, False),
        "wall_clock_corrected_at": (_NUM, False), "wall_clock_previous_offset_s": (_NUM, False),
    },
    "sensor_data": {
        "id": (_UUID, True), "session_id": (_UUID, True), "timestamp": (_NUM, True),
        "t_first_ns": (_INT, True), "t_last_ns": (_INT, True), "n_frames": (_INT, True),
        "raw_data": (_STR, True), "chunk_seq": (_INT, False),
    },
    "performance_metrics": {
        "id": (_UUID, True), "session_id": (_UUID, True), "balance_score": (_NUM, False),
        "stability_score": (_NUM, False), "injury_risk": (_NUM, False),
        "created_at": (_NUM, False),
    },
    "feedback": {
        "id": (_UUID, True), "session_id": (_UUID, True), "feedback_text": (_STR, True),
        "created_at": (_NUM, False),
    },
    "rep_metrics": {
        "id": (_UUID, True), "session_id": (_UUID, True), "rep_number": (_INT, True),
        "start_mono_ns": (_INT, False), "end_mono_ns": (_INT, False), "metrics": (_DICT, True),
        "balance_score": (_NUM, False), "stability_score": (_NUM, False),
        "injury_risk": (_NUM, False), "feedback_text": (_STR, False),
        "created_at": (_NUM, False),
    },
}

LIFT_TYPES = ("squat", "bench_press", "deadlift")
SESSION_STATUSES = ("active", "ended")


class RowError(ValueError):
    """A row that cannot be stored; the message names the kind and field."""


@dataclass
class SyncRecord:
    """One row to store. ``device_id`` is the sender (configured box id, or the MQTT topic's);
    ``outbox_id`` is the box's outbox entry, echoed back in acknowledgements; ``origin`` is
    whatever the caller needs to find the message it came from."""

    kind: str
    row: dict[str, Any]
    device_id: str
    outbox_id: int
    origin: Any = None


@dataclass
class WriteOutcome:
    """Which records a transaction stored, deferred (a link target missing) or refused."""

    stored: list[SyncRecord] = field(default_factory=list)
    deferred: list[SyncRecord] = field(default_factory=list)
    dead: list[tuple[SyncRecord, str]] = field(default_factory=list)

    def extend(self, other: "WriteOutcome") -> None:
        self.stored += other.stored
        self.deferred += other.deferred
        self.dead += other.dead


def _type_ok(value: Any, code: str) -> bool:
    if code == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if code == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if code == _STR:
        return isinstance(value, str)
    if code == _BOOL:
        return isinstance(value, bool) or value in (0, 1)
    if code == _DICT:
        return isinstance(value, dict)
    if code == _UUID:
        if not isinstance(value, str):
            return False
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True
    raise AssertionError(code)


def check_row(kind: str, row: Any) -> None:
    """Raise ``RowError`` naming the first problem with a row of ``kind``."""
    if kind not in ROW_FIELDS:
        raise RowError(f"unknown row kind {kind!r} (known: {', '.join(KINDS)})")
    if not isinstance(row, dict):
        raise RowError(f"{kind} row must be an object, got {type(row).__name__}")
    for name, (code, required) in ROW_FIELDS[kind].items():
        value = row.get(name)
        if value is None:
            if required:
                raise RowError(f"{kind} row field {name!r} is missing")
            continue
        if not _type_ok(value, code):
            raise RowError(f"{kind} row field {name!r} must be {code}, got {value!r:.60}")
    if kind == "sessions":
        if row["lift_type"] not in LIFT_TYPES:
            raise RowError(f"sessions row field 'lift_type' {row['lift_type']!r} must be one "
                           f"of {', '.join(LIFT_TYPES)}")
        if row["status"] not in SESSION_STATUSES:
            raise RowError(f"sessions row field 'status' {row['status']!r} must be active "
                           f"or ended")


# ---- statements ------------------------------------------------------------------------

_DEVICES_SQL = ("INSERT INTO devices (device_id) VALUES %s "
                "ON CONFLICT (device_id) DO UPDATE SET last_seen = now()")

_USER_REF = ("(SELECT u.id FROM users u WHERE u.id::text = lower(v.{0}) "
             "OR lower(u.email) = lower(v.{0}) ORDER BY u.created_at LIMIT 1)")

_SESSIONS_SQL = (
    "INSERT INTO sessions AS s (id, device_id, athlete_id, trainer_id, lift_type, start_time, "
    "end_time, status, end_reason, wall_clock_synced, mono_to_wall_offset_s, "
    "wall_clock_corrected_at, wall_clock_previous_offset_s) "
    f"SELECT v.id, v.device_id, {_USER_REF.format('athlete')}, {_USER_REF.format('trainer')}, "
    "v.lift_type::lift_type, to_timestamp(v.start_time), to_timestamp(v.end_time), v.status, "
    "v.end_reason, v.wall_clock_synced, v.offset_s, to_timestamp(v.corrected_at), "
    "v.previous_offset_s "
    "FROM (VALUES %s) AS v (id, device_id, athlete, trainer, lift_type, start_time, end_time, "
    "status, end_reason, wall_clock_synced, offset_s, corrected_at, previous_offset_s) "
    "ON CONFLICT (id) DO UPDATE SET device_id = EXCLUDED.device_id, "
    "athlete_id = EXCLUDED.athlete_id, trainer_id = EXCLUDED.trainer_id, "
    "lift_type = EXCLUDED.lift_type, start_time = EXCLUDED.start_time, "
    "end_time = COALESCE(EXCLUDED.end_time, s.end_time), status = EXCLUDED.status, "
    "end_reason = COALESCE(EXCLUDED.end_reason, s.end_reason), "
    "wall_clock_synced = EXCLUDED.wall_clock_synced, "
    "mono_to_wall_offset_s = EXCLUDED.mono_to_wall_offset_s, "
    "wall_clock_corrected_at = EXCLUDED.wall_clock_corrected_at, "
    "wall_clock_previous_offset_s = EXCLUDED.wall_clock_previous_offset_s "
    "WHERE (s.device_id IS NULL OR s.device_id = EXCLUDED.device_id) "
    "AND NOT (s.status = 'ended' AND EXCLUDED.status = 'active') "
    # a snapshot from before a wall-clock correction, arriving late, never undoes it
    "AND NOT (s.wall_clock_corrected_at IS NOT NULL AND EXCLUDED.wall_clock_corrected_at IS NULL)"
)
_SESSIONS_TEMPLATE = ("(%s::uuid, %s::text, %s::text, %s::text, %s::text, %s::float8, "
                      "%s::float8, %s::text, %s::text, %s::boolean, %s::float8, %s::float8, "
                      "%s::float8)")

_STUBS_SQL = ("INSERT INTO sessions (id, device_id) VALUES %s ON CONFLICT (id) DO NOTHING")
_STUBS_TEMPLATE = "(%s::uuid, %s::text)"


@dataclass(frozen=True)
class _ChildTable:
    sql: str
    template: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]


_CHILDREN: dict[str, _ChildTable] = {
    "sensor_data": _ChildTable(
        'INSERT INTO sensor_data (id, session_id, "timestamp", raw_data, chunk_seq, '
        "mono_start_ns, mono_end_ns) VALUES %s ON CONFLICT DO NOTHING",
        "(%s::uuid, %s::uuid, to_timestamp(%s::float8), %s::jsonb, %s::int, %s::bigint, "
        "%s::bigint)",
        lambda r: (r["id"], r["session_id"], r["timestamp"], r["raw_data"], r.get("chunk_seq"),
                   r["t_first_ns"], r["t_last_ns"])),
    "performance_metrics": _ChildTable(
        "INSERT INTO performance_metrics (id, session_id, balance_score, stability_score, "
        "injury_risk, created_at) VALUES %s ON CONFLICT DO NOTHING",
        "(%s::uuid, %s::uuid, %s::float8, %s::float8, %s::float8, "
        "COALESCE(to_timestamp(%s::float8), now()))",
        lambda r: (r["id"], r["session_id"], r.get("balance_score"), r.get("stability_score"),
                   r.get("injury_risk"), r.get("created_at"))),
    "feedback": _ChildTable(
        "INSERT INTO feedback (id, session_id, feedback_text, created_at) VALUES %s "
        "ON CONFLICT DO NOTHING",
        "(%s::uuid, %s::uuid, %s::text, COALESCE(to_timestamp(%s::float8), now()))",
        lambda r: (r["id"], r["session_id"], r["feedback_text"], r.get("created_at"))),
    "rep_metrics": _ChildTable(
        "INSERT INTO rep_metrics (id, session_id, rep_number, mono_start_ns, mono_end_ns, "
        "metrics, balance_score, stability_score, injury_risk, feedback_text, created_at) "
        "VALUES %s ON CONFLICT DO NOTHING",
        "(%s::uuid, %s::uuid, %s::int, %s::bigint, %s::bigint, %s::jsonb, %s::float8, "
        "%s::float8, %s::float8, %s::text, COALESCE(to_timestamp(%s::float8), now()))",
        lambda r: (r["id"], r["session_id"], r["rep_number"], r.get("start_mono_ns"),
                   r.get("end_mono_ns"), _json(r["metrics"]), r.get("balance_score"),
                   r.get("stability_score"), r.get("injury_risk"), r.get("feedback_text"),
                   r.get("created_at"))),
}

_LINKS = {"metrics_id": "performance_metrics", "feedback_id": "feedback"}


def _json(value: Any) -> str:
    import json
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _session_values(r: dict[str, Any]) -> tuple[Any, ...]:
    synced = r.get("wall_clock_synced")
    return (r["id"], r["device_id"], r.get("athlete"), r.get("trainer"), r["lift_type"],
            r["start_time"], r.get("end_time"), r["status"], r.get("end_reason"),
            None if synced is None else bool(synced), r.get("mono_to_wall_offset_s"),
            r.get("wall_clock_corrected_at"), r.get("wall_clock_previous_offset_s"))


def _last_per_id(records: Iterable[SyncRecord]) -> list[SyncRecord]:
    """One record per row id (the last, i.e. newest snapshot), in id order: an upsert may
    touch a row only once per statement, and a fixed order avoids deadlocks between
    ingesters."""
    latest: dict[str, SyncRecord] = {}
    for rec in records:
        latest[rec.row["id"]] = rec
    return [latest[k] for k in sorted(latest)]


def apply_records(cur: Any, records: Sequence[SyncRecord]) -> WriteOutcome:
    """Write already-checked records in the current transaction (the caller commits)."""
    outcome = WriteOutcome()
    by_kind: dict[str, list[SyncRecord]] = {k: [] for k in KINDS}
    for rec in records:
        by_kind[rec.kind].append(rec)
    devices = sorted({rec.device_id for rec in records}
                     | {rec.row["device_id"] for rec in by_kind["sessions"]})
    if devices:
        execute_values(cur, _DEVICES_SQL, [(d,) for d in devices], page_size=len(devices))
    sessions = _last_per_id(by_kind["sessions"])
    if sessions:
        execute_values(cur, _SESSIONS_SQL, [_session_values(r.row) for r in sessions],
                       template=_SESSIONS_TEMPLATE, page_size=len(sessions))
    children = [rec for kind in _CHILDREN for rec in by_kind[kind]]
    stubs = sorted({(rec.row["session_id"], rec.device_id) for rec in children})
    if stubs:
        execute_values(cur, _STUBS_SQL, stubs, template=_STUBS_TEMPLATE, page_size=len(stubs))
    for kind, table in _CHILDREN.items():
        rows = _last_per_id(by_kind[kind])
        if rows:
            execute_values(cur, table.sql, [table.values(r.row) for r in rows],
                           template=table.template, page_size=len(rows))
    outcome.stored += children
    deferred_ids = _apply_links(cur, sessions)
    for rec in by_kind["sessions"]:
        (outcome.deferred if rec.row["id"] in deferred_ids else outcome.stored).append(rec)
    return outcome


def _apply_links(cur: Any, sessions: list[SyncRecord]) -> set[str]:
    """Set ``metrics_id``/``feedback_id`` where the target row exists; returns the ids of
    sessions with a link that has to wait for its target."""
    deferred: set[str] = set()
    for column, table in _LINKS.items():
        links = [(r.row["id"], r.row[column]) for r in sessions if r.row.get(column)]
        if not links:
            continue
        cur.execute(f"SELECT id::text FROM {table} WHERE id = ANY(%s::uuid[])",
                    ([target for _, target in links],))
        present = {row[0] for row in cur.fetchall()}
        ready = [(sid, target) for sid, target in links if target in present]
        deferred |= {sid for sid, target in links if target not in present}
        if ready:
            execute_values(
                cur, f"UPDATE sessions s SET {column} = v.target FROM (VALUES %s) "
                     f"AS v (id, target) WHERE s.id = v.id "
                     f"AND s.{column} IS DISTINCT FROM v.target",
                ready, template="(%s::uuid, %s::uuid)", page_size=len(ready))
    return deferred


def frames_in(records: Iterable[SyncRecord]) -> int:
    """Raw frames carried by the sensor_data records (the unit of the sync benchmarks)."""
    return sum(int(r.row.get("n_frames") or 0) for r in records if r.kind == "sensor_data")
