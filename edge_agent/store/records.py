"""Row writes for analysis results (metrics, feedback, reps) and raw frame chunks."""
from __future__ import annotations

import json
import math
from typing import Any, Callable, Mapping, Sequence

from edge_agent.store.writer import FrameBatch, RowWrite
from sensors.frame import Frame
from sync.chunks import DEFAULT_DECIMALS, chunk_to_json, encode_chunk, encode_counts_chunk


def to_json(value: Any, what: str) -> str:
    """JSON text for a metrics dict; non-finite floats become null (PostgreSQL JSONB has no
    NaN). Raises ValueError naming ``what`` for anything that is not JSON-serialisable."""
    try:
        return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be stored as JSON: {exc}") from None


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _finite(value.item())
    return value


def _score(value: float | None) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def metrics_write(row_id: str, session_id: str, balance_score: float | None,
                  stability_score: float | None, injury_risk: float | None,
                  details: Mapping[str, Any] | None, now: float) -> RowWrite:
    return RowWrite(
        "performance_metrics", row_id,
        "INSERT INTO performance_metrics (id, session_id, balance_score, stability_score, "
        "injury_risk, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (row_id, session_id, _score(balance_score),
         _score(stability_score), _score(injury_risk),
         None if details is None else to_json(details, "performance_metrics details"), now),
    )


def feedback_write(row_id: str, session_id: str, text: str, now: float) -> RowWrite:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("feedback text must be a non-empty string")
    return RowWrite("feedback", row_id,
                    "INSERT INTO feedback (id, session_id, feedback_text, created_at) "
                    "VALUES (?, ?, ?, ?)", (row_id, session_id, text, now))


def rep_write(row_id: str, session_id: str, rep_number: int, start_mono_ns: int,
              end_mono_ns: int, metrics: Mapping[str, Any], balance_score: float | None,
              stability_score: float | None, injury_risk: float | None,
              feedback_text: str | None, now: float) -> RowWrite:
    if end_mono_ns < start_mono_ns:
        raise ValueError(f"rep {rep_number}: end_mono_ns {end_mono_ns} is before "
                         f"start_mono_ns {start_mono_ns}")
    return RowWrite(
        "rep_metrics", row_id,
        "INSERT INTO rep_metrics (id, session_id, rep_number, start_mono_ns, end_mono_ns, "
        "metrics, balance_score, stability_score, injury_risk, feedback_text, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row_id, session_id, int(rep_number), int(start_mono_ns), int(end_mono_ns),
         to_json(metrics, f"rep {rep_number} metrics"), _score(balance_score),
         _score(stability_score), _score(injury_risk),
         feedback_text, now),
    )


def live_rep_write(row_id: str, session_id: str, rep_number: int, ended_at: float,
                   mean_velocity_mps: float | None, velocity_loss_pct: float | None,
                   alert: str | None, now: float, drift_cue: str | None = None) -> RowWrite:
    """A rep as the live path finished it (velocity, loss against the set's best so far, the
    problem it was told, what drifted when the technique-drift cue fired on it), synced while
    the session records."""
    if int(rep_number) < 1:
        raise ValueError(f"rep number {rep_number} must be >= 1")
    return RowWrite(
        "live_reps", row_id,
        "INSERT INTO live_reps (id, session_id, rep_number, ended_at, mean_velocity_mps, "
        "velocity_loss_pct, alert, created_at, drift_cue) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row_id, session_id, int(rep_number), ended_at, _score(mean_velocity_mps),
         _score(velocity_loss_pct), alert, now, drift_cue))


def series_write(session_id: str, series: Mapping[str, Any], final: bool, now: float
                 ) -> RowWrite:
    """The session's display series (``sync.series``), replacing the one stored before; the
    row id is the session's, ``version`` counts the rewrites (the database keeps the newest)."""
    return RowWrite(
        "session_series", session_id,
        "INSERT INTO session_series (id, session_id, version, final, series, created_at, "
        "updated_at) VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "version = version + 1, final = excluded.final, series = excluded.series, "
        "updated_at = excluded.updated_at",
        (session_id, session_id, int(bool(final)), _series_json(series), now, now))


def _series_json(series: Mapping[str, Any]) -> str:
    """The record as compact JSON. Its builder writes only integers, finite floats, text and
    nulls, so the value-by-value walk of ``to_json`` (a third of an update's time) is skipped;
    anything else still raises ValueError and the write is refused."""
    try:
        return json.dumps(series, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"session series cannot be stored as JSON: {exc}") from None


def split_by_span(frames: Sequence[Frame], max_span_ns: int) -> list[list[Frame]]:
    """Consecutive runs of frames, each spanning less than ``max_span_ns`` of monotonic time."""
    runs: list[list[Frame]] = [[]]
    for f in frames:
        if runs[-1] and f.mono_ns - runs[-1][0].mono_ns >= max_span_ns:
            runs.append([])
        runs[-1].append(f)
    return runs if runs[0] else []


def sensor_chunk_writes(batches: list[FrameBatch], max_span_ns: int,
                        resolution: Mapping[str, float] | None, new_id: Callable[[], str],
                        now: float
                        ) -> list[RowWrite]:
    """``sensor_data`` inserts for queued frame batches: one or more chunks per session,
    source and channel set, frames in arrival order."""
    by_key: dict[tuple[str, str, tuple[str, ...]], list[Frame]] = {}
    for b in batches:
        for f in b.frames:
            by_key.setdefault((b.session_id, f.source, f.channels), []).append(f)
    writes: list[RowWrite] = []
    for (session_id, _, _), frames in by_key.items():
        for run in split_by_span(frames, max_span_ns):
            row_id = new_id()
            writes.append(RowWrite(
                "sensor_data", row_id,
                "INSERT INTO sensor_data (id, session_id, source, timestamp, t_first_ns, "
                "t_last_ns, seq_first, seq_last, n_frames, raw_data, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row_id, session_id, run[0].source, run[0].wall_s, run[0].mono_ns,
                 run[-1].mono_ns, run[0].seq, run[-1].seq, len(run),
                 chunk_to_json(_encode(run, resolution)), now),
            ))
    return writes


def _encode(frames: list[Frame], resolution: Mapping[str, float] | None) -> dict[str, Any]:
    """Version 2 (counts of each channel's resolution) when every channel has one and every
    value fits; otherwise version 1, which keeps any float (rounded as ``DEFAULT_DECIMALS``
    when a resolution was asked for, exact when not)."""
    if resolution is None:
        return encode_chunk(frames)
    try:
        return encode_counts_chunk(frames, resolution)
    except ValueError:
        return encode_chunk(frames, DEFAULT_DECIMALS)
