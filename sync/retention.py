"""Raw-data retention: delete the raw chunks (``sensor_data``) of old sessions, keep the rest.

``liftguard db prune-raw --older-than DAYS [--dry-run]`` (docs/database.md, "Retention").
A session qualifies when it has ended and ended (or, without an end time, started) more than
DAYS days ago, and its display series (``session_series``, 0010) is final: the charts are
drawn from it, so a session without one keeps its raw chunks until the web app (or the box)
has made it. An active session is never pruned. Only ``sensor_data`` rows are deleted:
sessions, metrics, reps, feedback, labels and derived series stay, so every page still works.
Each pruned session gets a ``raw_data_pruned`` row (migration 0012) saying when, how many
chunks/frames/bytes and which monotonic span, which the raw-data page and the recording export
show. Each session is pruned in its own transaction, so an interrupted run leaves whole
sessions either pruned and recorded, or untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

MAX_DAYS = 36500
"""A hundred years: more is a typo, not a retention policy."""

_CUTOFF = "(now() AT TIME ZONE 'UTC') - make_interval(days => %(days)s)"
_OLD_ENDED = (f"s.status = 'ended' AND COALESCE(s.ended_at, s.started_at) < {_CUTOFF}")
_HAS_SERIES = ("EXISTS (SELECT 1 FROM session_series ss WHERE ss.session = s.id "
               "AND ss.final)")
"""The session's charts are drawn from its display series (0010): without a final one, the
raw chunks are still needed to compute it, so the session is not pruned yet."""
_FRAMES = ("CASE WHEN jsonb_typeof(d.raw_data->'n') = 'number' "
           "THEN (d.raw_data->>'n')::numeric::bigint ELSE 0 END")


class RetentionArgumentError(ValueError):
    """A ``--older-than`` value that is not a whole number of days in range."""


def parse_days(text: str) -> int:
    """``--older-than`` as given on the command line: a whole number of days, 1 to MAX_DAYS.

    0 is refused: it would delete the raw data of a session that ended a minute ago."""
    s = text.strip()
    if not s.isascii() or not s.isdigit():
        raise RetentionArgumentError(
            f"expected a whole number of days from 1 to {MAX_DAYS}, got {text!r}")
    if len(s) > len(str(MAX_DAYS)) + 2 or not 1 <= int(s) <= MAX_DAYS:
        raise RetentionArgumentError(
            f"{text.strip()[:20]!r} days is out of range: give 1 to {MAX_DAYS}")
    return int(s)


@dataclass(frozen=True)
class SessionRaw:
    """One session's raw chunks that a prune takes (or took)."""

    session_id: str
    device_id: str | None
    lift_type: str
    ended_at: datetime | None
    chunks: int
    frames: int
    raw_bytes: int


@dataclass(frozen=True)
class PrunePlan:
    older_than_days: int
    cutoff: datetime
    sessions: list[SessionRaw]
    active_skipped: int
    """Active sessions that started before the cutoff: never pruned."""
    no_series_skipped: int = 0
    """Old sessions with raw chunks but no final display series yet: kept until they have one."""

    @property
    def chunks(self) -> int:
        return sum(s.chunks for s in self.sessions)

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.sessions)

    @property
    def raw_bytes(self) -> int:
        return sum(s.raw_bytes for s in self.sessions)


@dataclass(frozen=True)
class PrunedRaw:
    """What ``raw_data_pruned`` says about one session."""

    pruned_at: datetime
    older_than_days: int
    chunks: int
    frames: int
    raw_bytes: int
    mono_start_ns: int | None
    mono_end_ns: int | None


def plan_prune(conn: Any, older_than_days: int) -> PrunePlan:
    """What ``prune_raw(conn, older_than_days)`` would delete now (reads only).

    ``raw_bytes`` is ``pg_column_size(raw_data)``: the chunk as stored, after TOAST
    compression, which is what deleting it frees (plus about 100 bytes of row and index)."""
    params = {"days": older_than_days}
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_CUTOFF}", params)
        cutoff = cur.fetchone()[0]
        cur.execute(
            f"SELECT s.id::text, s.device_id, s.lift_type::text, s.ended_at, count(*), "
            f"COALESCE(sum({_FRAMES}), 0), COALESCE(sum(pg_column_size(d.raw_data)), 0) "
            f"FROM sessions s JOIN sensor_data d ON d.session = s.id "
            f"WHERE {_OLD_ENDED} AND {_HAS_SERIES} "
            f"GROUP BY s.id ORDER BY s.ended_at NULLS FIRST, s.id", params)
        sessions = [SessionRaw(sid, dev, lift, ended, int(n), int(frames), int(size))
                    for sid, dev, lift, ended, n, frames, size in cur.fetchall()]
        cur.execute(f"SELECT count(*) FROM sessions s WHERE {_OLD_ENDED} AND NOT {_HAS_SERIES} "
                    f"AND EXISTS (SELECT 1 FROM sensor_data d WHERE d.session = s.id)", params)
        no_series = cur.fetchone()[0]
        cur.execute(f"SELECT count(*) FROM sessions s WHERE s.status = 'active' "
                    f"AND s.started_at < {_CUTOFF}", params)
        active = cur.fetchone()[0]
    conn.rollback()
    return PrunePlan(older_than_days, cutoff, sessions, int(active), int(no_series))


_LOCK_AND_UNLINK = f"""
WITH target AS (
    SELECT s.id FROM sessions s WHERE s.id = %(sid)s AND {_OLD_ENDED} AND {_HAS_SERIES}
       FOR UPDATE OF s
), unlinked AS (
    UPDATE sessions s SET sensor_data_id = NULL,
           updated_at = GREATEST(now() AT TIME ZONE 'UTC', s.updated_at + interval '1 microsecond')
      FROM target WHERE s.id = target.id AND s.sensor_data_id IS NOT NULL
)
SELECT count(*) FROM target
"""
"""Lock the session if it still qualifies and drop its link to its first chunk
(``sessions.sensor_data_id`` references ``sensor_data``)."""

_PRUNE_ONE = f"""
WITH gone AS (
    DELETE FROM sensor_data d WHERE d.session = %(sid)s
    RETURNING pg_column_size(d.raw_data) AS size, {_FRAMES} AS frames, d.mono_start_ns,
              d.mono_end_ns
), agg AS (
    SELECT count(*) AS chunks, COALESCE(sum(frames), 0) AS frames,
           COALESCE(sum(size), 0) AS size, min(mono_start_ns) AS t0, max(mono_end_ns) AS t1
      FROM gone
), recorded AS (
    INSERT INTO raw_data_pruned AS p (session_id, older_than_days, chunks, frames, raw_bytes,
                                      mono_start_ns, mono_end_ns)
    SELECT %(sid)s, %(days)s, chunks, frames, size, t0, t1 FROM agg WHERE chunks > 0
    ON CONFLICT (session_id) DO UPDATE SET
        pruned_at = now(), older_than_days = EXCLUDED.older_than_days,
        chunks = p.chunks + EXCLUDED.chunks, frames = p.frames + EXCLUDED.frames,
        raw_bytes = p.raw_bytes + EXCLUDED.raw_bytes,
        mono_start_ns = LEAST(p.mono_start_ns, EXCLUDED.mono_start_ns),
        mono_end_ns = GREATEST(p.mono_end_ns, EXCLUDED.mono_end_ns)
)
SELECT chunks, frames, size FROM agg
"""


def prune_raw(conn: Any, plan: PrunePlan) -> list[SessionRaw]:
    """Delete the raw chunks of the plan's sessions, one transaction per session, and record
    each in ``raw_data_pruned``. The age rule is checked again inside each transaction (a
    session is locked first), so a session that changed since the plan is left alone; the
    counts returned are what was actually deleted."""
    done: list[SessionRaw] = []
    for s in plan.sessions:
        with conn:
            with conn.cursor() as cur:
                params = {"sid": s.session_id, "days": plan.older_than_days}
                cur.execute(_LOCK_AND_UNLINK, params)
                if not cur.fetchone()[0]:
                    continue
                cur.execute(_PRUNE_ONE, params)
                chunks, frames, size = cur.fetchone()
        if chunks:
            done.append(SessionRaw(s.session_id, s.device_id, s.lift_type, s.ended_at,
                                   int(chunks), int(frames), int(size)))
    return done


def pruned_raw(conn: Any, session_id: str) -> PrunedRaw | None:
    """The session's ``raw_data_pruned`` row, or None when its raw data was never pruned."""
    with conn.cursor() as cur:
        cur.execute("SELECT pruned_at, older_than_days, chunks, frames, raw_bytes, "
                    "mono_start_ns, mono_end_ns FROM raw_data_pruned WHERE session_id = %s",
                    (session_id,))
        row = cur.fetchone()
    return None if row is None else PrunedRaw(*row)


def describe_pruned(p: PrunedRaw) -> str:
    """One sentence for people (the raw-data page, the export's comment line)."""
    return (f"{p.chunks} raw chunk(s) of this session ({p.frames} frames, "
            f"{p.raw_bytes / 1e6:.1f} MB) were deleted on "
            f"{p.pruned_at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC by "
            f"the raw-data retention (liftguard db prune-raw --older-than "
            f"{p.older_than_days}); its metrics, reps and feedback are kept")
