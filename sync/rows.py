"""Mapping of a box's outbox rows (local store columns) to upserts into the original product's
schema (sync/schema/0001_seed.sql) plus the additions.

Shared by the direct sink and the MQTT ingester, so both write exactly the same rows. Every
statement is idempotent on the box-made UUID: immutable rows (raw chunks, metrics, feedback,
reps) use ``ON CONFLICT DO NOTHING``; sessions, the only rows that change, use
``ON CONFLICT (id) DO UPDATE`` guarded so that an older snapshot arriving late never turns an
ended session back into an active one, and a session is only ever changed by the box that
recorded it.

Order inside one transaction, which is also what makes the seed's circular foreign keys hold
without deferring them: devices, sessions (without their three ``*_id`` links), the rows that
hang off a session (``sensor_data``, ``performance_metrics``, ``feedback``, ``rep_metrics``),
then the links ``sessions.sensor_data_id`` / ``performance_metric_id`` / ``feedback_id``.

A row that hangs off a session is stored only when that session is already in PostgreSQL and
belongs to the sending device. Its session not there yet (the two MQTT messages went to
different ingesters) -> the record is *deferred*: nothing is stored and the box sends it again
soon. Its session belonging to another device (or to none: a session the original app made)
-> refused as spoofed. ``feedback.metrics_id`` (NOT NULL in the seed) is the session's newest
``performance_metrics`` row, so feedback is deferred until the session's metrics arrive. A
session whose link target has not arrived yet is stored without that link and deferred too.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import psycopg2.extensions
from psycopg2.extras import execute_values

from sync.json_values import ValueProblem, check_number, check_text, check_value
from sync.lifts import LIFT_TYPES
from sync.series import SeriesFormatError, check_series

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("sessions", "sensor_data", "performance_metrics", "feedback",
                          "rep_metrics", "live_reps", "session_series")
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
    "live_reps": {
        "id": (_UUID, True), "session_id": (_UUID, True), "rep_number": (_INT, True),
        "ended_at": (_NUM, True), "mean_velocity_mps": (_NUM, False),
        "velocity_loss_pct": (_NUM, False), "alert": (_STR, False),
        "drift_cue": (_STR, False),
    },
    "session_series": {
        "id": (_UUID, True), "session_id": (_UUID, True), "version": (_INT, True),
        "final": (_BOOL, False), "series": (_DICT, True),
    },
}


DRIFT_CUE_MAX_CHARS = 200
"""``live_reps.drift_cue``: what drifted, one short phrase (migration 0011's CHECK)."""
SESSION_STATUSES = ("active", "ended")


class RowError(ValueError):
    """A row that cannot be stored; the message names the kind and field."""


@dataclass(eq=False)
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


INT32_FIELDS = frozenset({"rep_number", "chunk_seq", "version"})
"""Integer fields stored in PostgreSQL ``integer``; the other integers go to ``bigint``."""
TIME_FIELDS = frozenset({"start_time", "end_time", "timestamp", "created_at",
                         "wall_clock_corrected_at"})
"""Unix seconds, stored as timestamps: kept within what ``to_timestamp`` takes (and sane)."""
MAX_UNIX_S = 1e11


def _range_problem(name: str, value: Any) -> str | None:
    if name in INT32_FIELDS and not -2**31 <= value < 2**31:
        return "is outside the 32-bit integer range"
    if name in TIME_FIELDS and not -MAX_UNIX_S < value < MAX_UNIX_S:
        return f"is not a time in Unix seconds (|t| < {MAX_UNIX_S:g})"
    return None


def check_row(kind: str, row: Any) -> None:
    """Raise ``RowError`` naming the first problem with a row of ``kind``: a missing field, a
    wrong type, or a value PostgreSQL would refuse (NUL, lone surrogate, non-finite number,
    integer out of range, nesting too deep)."""
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
        try:
            if code == _STR:
                check_text(value, f"{kind} row field {name!r}")
            elif code == _DICT:
                check_value(value, f"{kind} row field {name!r}")
            elif code in (_NUM, _INT):
                check_number(value, f"{kind} row field {name!r}")
        except ValueProblem as exc:
            raise RowError(str(exc)) from None
        problem = None if code in (_STR, _DICT, _UUID, _BOOL) else _range_problem(name, value)
        if problem:
            raise RowError(f"{kind} row field {name!r} {value!r:.40} {problem}")
    if kind == "live_reps" and row.get("drift_cue") is not None:
        if not 1 <= len(row["drift_cue"]) <= DRIFT_CUE_MAX_CHARS:
            raise RowError(f"live_reps row field 'drift_cue' must be 1 to {DRIFT_CUE_MAX_CHARS} "
                           f"characters, got {len(row['drift_cue'])}")
    if kind == "rep_metrics" and row["metrics"].get("drift_cue") is not None:
        if not isinstance(row["metrics"]["drift_cue"], bool):
            raise RowError(f"rep_metrics row field 'metrics.drift_cue' must be boolean, got "
                           f"{row['metrics']['drift_cue']!r:.40}")
    if kind == "sessions":
        if row["lift_type"] not in LIFT_TYPES:
            raise RowError(f"sessions row field 'lift_type' {row['lift_type']!r} must be one "
                           f"of {', '.join(LIFT_TYPES)}")
        if row["status"] not in SESSION_STATUSES:
            raise RowError(f"sessions row field 'status' {row['status']!r} must be active "
                           f"or ended")
    if kind == "session_series":
        if row["version"] < 1:
            raise RowError(f"session_series row field 'version' {row['version']} must be >= 1")
        if _canonical(row["id"]) != _canonical(row["session_id"]):
            raise RowError("session_series row field 'id' must be its session_id (one series "
                           "per session)")
        try:
            check_series(row["series"])
        except SeriesFormatError as exc:
            raise RowError(f"session_series row field 'series': {exc}") from None


# ---- statements ------------------------------------------------------------------------

NOW_UTC = "(now() AT TIME ZONE 'UTC')"
"""The seed keeps UTC wall time in ``TIMESTAMP`` columns; ``CURRENT_TIMESTAMP`` defaults would
follow the server's TimeZone setting, so writers set these columns explicitly."""

_DEVICES_SQL = ("INSERT INTO devices (device_id) VALUES %s "
                "ON CONFLICT (device_id) DO UPDATE SET last_seen = now()")

_USER_REF = ("(SELECT u.id FROM users u WHERE u.id::text = lower(v.{0}) "
             "OR lower(u.email) = lower(v.{0}) ORDER BY u.created_at LIMIT 1)")


def _utc(expr: str) -> str:
    """Unix seconds -> the seed's UTC ``TIMESTAMP``."""
    return f"(to_timestamp({expr}) AT TIME ZONE 'UTC')"


def _advance(alias: str) -> str:
    """A new ``updated_at`` that is later than the stored one even within one clock tick."""
    return f"GREATEST({NOW_UTC}, {alias}.updated_at + interval '1 microsecond')"


_SESSIONS_SQL = (
    "INSERT INTO sessions AS s (id, device_id, athlete, trainer, athlete_email, trainer_email, "
    "lift_type, started_at, ended_at, status, end_reason, wall_clock_synced, "
    "mono_to_wall_offset_s, wall_clock_corrected_at, wall_clock_previous_offset_s, "
    "created_at, updated_at) "
    f"SELECT v.id, v.device_id, {_USER_REF.format('athlete')}, {_USER_REF.format('trainer')}, "
    f"v.athlete, v.trainer, v.lift_type::lift_type, {_utc('v.start_time')}, "
    f"{_utc('v.end_time')}, v.status, v.end_reason, v.wall_clock_synced, v.offset_s, "
    f"to_timestamp(v.corrected_at), v.previous_offset_s, {NOW_UTC}, {NOW_UTC} "
    "FROM (VALUES %s) AS v (id, device_id, athlete, trainer, lift_type, start_time, end_time, "
    "status, end_reason, wall_clock_synced, offset_s, corrected_at, previous_offset_s) "
    "ON CONFLICT (id) DO UPDATE SET "
    "athlete = EXCLUDED.athlete, trainer = EXCLUDED.trainer, "
    "athlete_email = EXCLUDED.athlete_email, trainer_email = EXCLUDED.trainer_email, "
    "lift_type = EXCLUDED.lift_type, started_at = EXCLUDED.started_at, "
    "ended_at = COALESCE(EXCLUDED.ended_at, s.ended_at), status = EXCLUDED.status, "
    "end_reason = COALESCE(EXCLUDED.end_reason, s.end_reason), "
    "wall_clock_synced = EXCLUDED.wall_clock_synced, "
    "mono_to_wall_offset_s = EXCLUDED.mono_to_wall_offset_s, "
    "wall_clock_corrected_at = EXCLUDED.wall_clock_corrected_at, "
    "wall_clock_previous_offset_s = EXCLUDED.wall_clock_previous_offset_s, "
    f"updated_at = {_advance('s')} "
    "WHERE s.device_id = EXCLUDED.device_id "
    "AND NOT (s.status = 'ended' AND EXCLUDED.status = 'active') "
    # a snapshot from before a wall-clock correction, arriving late, never undoes it
    "AND NOT (s.wall_clock_corrected_at IS NOT NULL AND EXCLUDED.wall_clock_corrected_at IS NULL) "
    "RETURNING id::text, athlete IS NULL AND athlete_email IS NOT NULL, "
    "trainer IS NULL AND trainer_email IS NOT NULL"
)
_SESSIONS_TEMPLATE = ("(%s::uuid, %s::text, %s::text, %s::text, %s::text, %s::float8, "
                      "%s::float8, %s::text, %s::text, %s::boolean, %s::float8, %s::float8, "
                      "%s::float8)")


@dataclass(frozen=True)
class _ChildTable:
    sql: str
    template: str
    values: Callable[[dict[str, Any], "_Parent"], tuple[Any, ...]]


@dataclass(frozen=True)
class _Parent:
    """What a child row needs from its session: the session's athlete, and (feedback) the
    session's newest performance_metrics row."""

    athlete: str | None
    metrics_id: str | None


def _score(value: Any) -> float:
    """The seed's scores are NOT NULL: a score the box could not compute (no platform data,
    no reps) is stored as NaN, "not a number", never as a made-up 0."""
    return math.nan if value is None else value


_CHILDREN: dict[str, _ChildTable] = {
    "sensor_data": _ChildTable(
        "INSERT INTO sensor_data (id, session, athlete, raw_data, started_at, chunk_seq, "
        "mono_start_ns, mono_end_ns, created_at, updated_at) VALUES %s ON CONFLICT DO NOTHING",
        f"(%s::uuid, %s::uuid, %s::uuid, %s::jsonb, {_utc('%s::float8')}, %s::int, %s::bigint, "
        f"%s::bigint, {NOW_UTC}, {NOW_UTC})",
        lambda r, p: (r["id"], r["session_id"], p.athlete, r["raw_data"], r["timestamp"],
                      r.get("chunk_seq"), r["t_first_ns"], r["t_last_ns"])),
    "performance_metrics": _ChildTable(
        "INSERT INTO performance_metrics (id, session, balance_score, stability_score, "
        "injury_risk, created_at, updated_at) VALUES %s ON CONFLICT DO NOTHING",
        f"(%s::uuid, %s::uuid, %s::float8, %s::float8, %s::float8, {NOW_UTC}, {NOW_UTC})",
        lambda r, p: (r["id"], r["session_id"], _score(r.get("balance_score")),
                      _score(r.get("stability_score")), _score(r.get("injury_risk")))),
    "feedback": _ChildTable(
        "INSERT INTO feedback (id, session, metrics_id, feedback_text, created_at, updated_at) "
        "VALUES %s ON CONFLICT DO NOTHING",
        f"(%s::uuid, %s::uuid, %s::uuid, %s::text, {NOW_UTC}, {NOW_UTC})",
        lambda r, p: (r["id"], r["session_id"], p.metrics_id, r["feedback_text"])),
    "rep_metrics": _ChildTable(
        "INSERT INTO rep_metrics (id, session_id, rep_number, mono_start_ns, mono_end_ns, "
        "metrics, balance_score, stability_score, injury_risk, feedback_text, created_at) "
        "VALUES %s ON CONFLICT DO NOTHING",
        "(%s::uuid, %s::uuid, %s::int, %s::bigint, %s::bigint, %s::jsonb, %s::float8, "
        "%s::float8, %s::float8, %s::text, COALESCE(to_timestamp(%s::float8), now()))",
        lambda r, p: (r["id"], r["session_id"], r["rep_number"], r.get("start_mono_ns"),
                      r.get("end_mono_ns"), _json(r["metrics"]), r.get("balance_score"),
                      r.get("stability_score"), r.get("injury_risk"), r.get("feedback_text"),
                      r.get("created_at"))),
    "live_reps": _ChildTable(
        "INSERT INTO live_reps (id, session_id, rep_number, ended_at, mean_velocity_mps, "
        "velocity_loss_pct, alert, drift_cue) VALUES %s ON CONFLICT DO NOTHING",
        "(%s::uuid, %s::uuid, %s::int, to_timestamp(%s::float8), %s::float8, %s::float8, "
        "%s::text, %s::text)",
        lambda r, p: (r["id"], r["session_id"], r["rep_number"], r["ended_at"],
                      r.get("mean_velocity_mps"), r.get("velocity_loss_pct"), r.get("alert"),
                      r.get("drift_cue"))),
    "session_series": _ChildTable(
        # the newest version wins; a box's record replaces one the web app computed
        "INSERT INTO session_series AS t (session, source, version, final, series, updated_at) "
        "VALUES %s ON CONFLICT (session) DO UPDATE SET source = 'box', "
        "version = EXCLUDED.version, final = EXCLUDED.final, series = EXCLUDED.series, "
        "updated_at = now() WHERE t.source = 'web' OR EXCLUDED.version > t.version",
        "(%s::uuid, 'box', %s::int, %s::boolean, %s::jsonb, now())",
        lambda r, p: (r["session_id"], r["version"], bool(r.get("final")), _json(r["series"]))),
}

_LINKS = {"metrics_id": ("performance_metric_id", "performance_metrics"),
          "feedback_id": ("feedback_id", "feedback")}
"""Box column -> (sessions column, table it points at)."""

_FIRST_CHUNK_SQL = (
    # sessions.sensor_data_id names the session's first chunk: the lowest (mono_start_ns, id)
    f"UPDATE sessions s SET sensor_data_id = v.chunk, updated_at = {_advance('s')} "
    "FROM (VALUES %s) AS v (id, chunk, mono_start) "
    "WHERE s.id = v.id AND (s.sensor_data_id IS NULL OR "
    "ROW(v.mono_start, v.chunk) < (SELECT c.mono_start_ns, c.id FROM sensor_data c "
    "WHERE c.id = s.sensor_data_id)) "
    "AND EXISTS (SELECT 1 FROM sensor_data d WHERE d.id = v.chunk AND d.session = v.id)"
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _session_values(r: dict[str, Any]) -> tuple[Any, ...]:
    synced = r.get("wall_clock_synced")
    return (r["id"], r["device_id"], r.get("athlete"), r.get("trainer"), r["lift_type"],
            r["start_time"], r.get("end_time"), r["status"], r.get("end_reason"),
            None if synced is None else bool(synced), r.get("mono_to_wall_offset_s"),
            r.get("wall_clock_corrected_at"), r.get("wall_clock_previous_offset_s"))


@functools.lru_cache(maxsize=65536)
def _canonical(uid: str) -> str:
    return str(uuid.UUID(uid))


def _session_of(rec: SyncRecord) -> str:
    return _canonical(rec.row["session_id"])


def _last_per_id(records: Iterable[SyncRecord]) -> list[SyncRecord]:
    """One record per row id (the last, i.e. newest snapshot), in id order: an upsert may
    touch a row only once per statement, and a fixed order avoids deadlocks between
    ingesters."""
    latest: dict[str, SyncRecord] = {}
    for rec in records:
        latest[_canonical(rec.row["id"])] = rec
    return [latest[k] for k in sorted(latest)]


def session_owners(cur: Any, session_ids: Iterable[str]) -> dict[str, tuple[str | None, Any]]:
    """(device_id, athlete) of each of these sessions that PostgreSQL holds, by canonical id.
    The check every row hanging off a session goes through (also for additions such as
    labels): store it only if its session is there and ``device_id`` is the sender."""
    ids = sorted({_canonical(s) for s in session_ids})
    if not ids:
        return {}
    cur.execute("SELECT id::text, device_id, athlete::text FROM sessions "
                "WHERE id = ANY(%s::uuid[])", (ids,))
    return {sid: (device, athlete) for sid, device, athlete in cur.fetchall()}


def spoof_reason(rec: SyncRecord, owner: str | None) -> str:
    return (f"spoofed: {rec.kind} row {rec.row.get('id')} from device {rec.device_id!r} "
            f"points at session {rec.row.get('session_id')}, which belongs to "
            f"{_owner_text(owner)}")


def _owner_text(owner: str | None) -> str:
    return f"device {owner!r}" if owner else "no box (a session the web app made)"


def apply_records(cur: Any, records: Sequence[SyncRecord]) -> WriteOutcome:
    """Write already-checked records in the current transaction of ``cur``'s connection (the
    caller commits)."""
    with cur.connection.cursor(cursor_factory=psycopg2.extensions.cursor) as plain:
        return _apply(plain, records)


def _apply(cur: Any, records: Sequence[SyncRecord]) -> WriteOutcome:
    outcome = WriteOutcome()
    by_kind: dict[str, list[SyncRecord]] = {k: [] for k in KINDS}
    for rec in records:
        by_kind[rec.kind].append(rec)
    devices = sorted({rec.device_id for rec in records}
                     | {rec.row["device_id"] for rec in by_kind["sessions"]})
    if devices:
        execute_values(cur, _DEVICES_SQL, [(d,) for d in devices], page_size=len(devices))
    sessions = _write_sessions(cur, by_kind["sessions"], outcome)
    children = [rec for kind in _CHILDREN for rec in by_kind[kind]]
    owners = session_owners(cur, (rec.row["session_id"] for rec in children))
    accepted: dict[str, list[SyncRecord]] = {}
    for rec in children:
        owner = owners.get(_session_of(rec))
        if owner is None:
            outcome.deferred.append(rec)
        elif owner[0] != rec.device_id:
            outcome.dead.append((rec, spoof_reason(rec, owner[0])))
        else:
            accepted.setdefault(rec.kind, []).append(rec)
    chunks = accepted.get("sensor_data", [])
    metrics_of = _newest_metrics(cur, accepted)
    for kind, table in _CHILDREN.items():
        recs = accepted.get(kind, [])
        if kind == "feedback":
            outcome.deferred += [r for r in recs if _session_of(r) not in metrics_of]
            recs = [r for r in recs if _session_of(r) in metrics_of]
        rows = _last_per_id(recs)
        if rows:
            values = [table.values(r.row, _Parent(owners[_session_of(r)][1],
                                                  metrics_of.get(_session_of(r))))
                      for r in rows]
            execute_values(cur, table.sql, values, template=table.template,
                           page_size=len(rows))
        outcome.stored += recs
    _link_first_chunks(cur, chunks)
    deferred_ids = _apply_links(cur, sessions)
    refused = {id(rec) for rec, _ in outcome.dead}
    for rec in by_kind["sessions"]:
        if id(rec) in refused:
            continue
        (outcome.deferred if rec.row["id"] in deferred_ids else outcome.stored).append(rec)
    return outcome


def _write_sessions(cur: Any, records: list[SyncRecord], outcome: WriteOutcome
                    ) -> list[SyncRecord]:
    """Upsert the newest snapshot of each session; a session id that belongs to another
    device is refused as spoofed (its records go to ``outcome.dead``). Returns the sessions
    written or already up to date."""
    sessions = _last_per_id(records)
    if not sessions:
        return []
    returned = execute_values(cur, _SESSIONS_SQL, [_session_values(r.row) for r in sessions],
                              template=_SESSIONS_TEMPLATE, page_size=len(sessions), fetch=True)
    changed = {sid for sid, _, _ in returned}
    by_id = {_canonical(r.row["id"]): r.row for r in sessions}
    for sid, no_athlete, no_trainer in returned:
        row = by_id[sid]
        for who, missing in (("athlete", no_athlete), ("trainer", no_trainer)):
            if missing:
                log.warning("session %s: %s %r is not in users; stored with sessions.%s NULL "
                            "and the reference kept in sessions.%s_email", sid, who,
                            row.get(who), who, who)
    unchanged = [r for r in sessions if _canonical(r.row["id"]) not in changed]
    owners = session_owners(cur, (r.row["id"] for r in unchanged))
    spoofed = {_canonical(r.row["id"]) for r in unchanged
               if owners.get(_canonical(r.row["id"]), (None,))[0] != r.device_id}
    for rec in records:
        sid = _canonical(rec.row["id"])
        if sid in spoofed:
            outcome.dead.append((rec, f"spoofed: sessions row {sid} from device "
                                      f"{rec.device_id!r} belongs to "
                                      f"{_owner_text(owners.get(sid, (None,))[0])}"))
    return [r for r in sessions if _canonical(r.row["id"]) not in spoofed]


def _newest_metrics(cur: Any, accepted: dict[str, list[SyncRecord]]) -> dict[str, str]:
    """The newest performance_metrics row (box ids are time-ordered) of each session that has
    feedback in this batch, metrics of this batch included: ``feedback.metrics_id``."""
    sids = sorted({_session_of(r) for r in accepted.get("feedback", [])})
    if not sids:
        return {}
    newest: dict[str, str] = {}
    for r in accepted.get("performance_metrics", []):
        sid, mid = _session_of(r), _canonical(r.row["id"])
        if sid in sids and mid > newest.get(sid, ""):
            newest[sid] = mid
    cur.execute("SELECT DISTINCT ON (session) session::text, id::text FROM performance_metrics "
                "WHERE session = ANY(%s::uuid[]) ORDER BY session, id DESC", (sids,))
    for sid, mid in cur.fetchall():
        if mid > newest.get(sid, ""):
            newest[sid] = mid
    return newest


def _link_first_chunks(cur: Any, chunks: list[SyncRecord]) -> None:
    first: dict[str, tuple[int, str]] = {}
    for r in chunks:
        sid, key = _session_of(r), (r.row["t_first_ns"], _canonical(r.row["id"]))
        if sid not in first or key < first[sid]:
            first[sid] = key
    if first:
        execute_values(cur, _FIRST_CHUNK_SQL,
                       [(sid, cid, m0) for sid, (m0, cid) in sorted(first.items())],
                       template="(%s::uuid, %s::uuid, %s::bigint)", page_size=len(first))


def _apply_links(cur: Any, sessions: list[SyncRecord]) -> set[str]:
    """Set ``performance_metric_id``/``feedback_id`` where the target row exists and belongs
    to the same session; returns the ids of sessions with a link that has to wait."""
    deferred: set[str] = set()
    for box_column, (column, table) in _LINKS.items():
        links = sorted((_canonical(r.row["id"]), _canonical(r.row[box_column]), r.row["id"])
                       for r in sessions if r.row.get(box_column))
        if not links:
            continue
        present = execute_values(
            cur, f"SELECT v.id::text FROM (VALUES %s) AS v (id, target) "
                 f"JOIN {table} t ON t.id = v.target AND t.session = v.id",
            [(sid, target) for sid, target, _ in links], template="(%s::uuid, %s::uuid)",
            page_size=len(links), fetch=True)
        ready = {row[0] for row in present}
        deferred |= {given for sid, _, given in links if sid not in ready}
        update = [(sid, target) for sid, target, _ in links if sid in ready]
        if update:
            execute_values(
                cur, f"UPDATE sessions s SET {column} = v.target, updated_at = {_advance('s')} "
                     f"FROM (VALUES %s) AS v (id, target) WHERE s.id = v.id "
                     f"AND s.{column} IS DISTINCT FROM v.target",
                update, template="(%s::uuid, %s::uuid)", page_size=len(update))
    return deferred


def frames_in(records: Iterable[SyncRecord]) -> int:
    """Raw frames carried by the sensor_data records (the unit of the sync benchmarks)."""
    return sum(int(r.row.get("n_frames") or 0) for r in records if r.kind == "sensor_data")
