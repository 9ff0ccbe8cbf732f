"""Raw chunks of a session (``sensor_data.raw_data``) as frames, display series and a recording.

Chunks are decoded with ``sync.chunks`` (the wire format, either version), put on one
timeline with ``models.signals``, the bar's vertical displacement and orientation come from
``models.kinematics`` and ``models.orientation`` in the steps of the box's rep segmenter (the
same zero-velocity-update integration its analysis uses), the centre of pressure from
``models.metrics.centre_of_pressure``, bar tilt from ``models.orientation.bar_tilt_deg``, and
the CSV from ``sensors.recording`` (what ``liftguard replay`` reads).

Chunks are read in pages of ``PAGE_CHUNKS`` ordered by monotonic time, so a 60-minute session
(3,600 chunks per source) never sits in one result set. The derived display series of a session
are cached per process (``SeriesCache``), keyed by the chunks present, so a page reload or a
second chart of the same session does not decode the raw data again, and a session still
receiving chunks is recomputed when a new one arrives.
"""
from __future__ import annotations

import heapq
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator

import numpy as np

from sync.chunks import ChunkFormatError, decode_chunk, decode_columns
from models.metrics import centre_of_pressure
from models import kinematics
from models.orientation import bar_tilt_deg, estimate_up
from models.signals import ANALYSIS_RATE_HZ, SourceSamples, align_sources
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sensors.recording import recording_columns, recording_lines, recording_order

PAGE_CHUNKS = 300
DISPLAY_POINTS = 1500
"""Points per displayed line: a min/max envelope per bucket keeps every peak visible."""


@dataclass
class ChunkStats:
    count: int
    last_end_ns: int | None
    sources: dict[str, tuple[str, ...]]   # source -> channels


def chunk_key(conn: Any, session_id: str) -> tuple[Any, ...]:
    """What identifies the chunks present (count, last end, highest sequence number), from
    the row columns alone: no chunk JSON is read."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), max(mono_end_ns), max(chunk_seq) FROM sensor_data "
                    "WHERE session = %s", (session_id,))
        return tuple(cur.fetchone())


def chunk_stats(conn: Any, session_id: str) -> ChunkStats:
    """How many chunks a session has, up to when, and which sources/channels (one query)."""
    with conn.cursor() as cur:
        cur.execute("SELECT raw_data->>'source', raw_data->'channels', count(*), "
                    "max(mono_end_ns) FROM sensor_data WHERE session = %s "
                    "GROUP BY 1, 2 ORDER BY 1", (session_id,))
        rows = cur.fetchall()
    sources: dict[str, tuple[str, ...]] = {}
    for source, channels, _, _ in rows:
        if isinstance(source, str) and isinstance(channels, list):
            sources[source] = tuple(str(c) for c in channels)
    ends = [r[3] for r in rows if r[3] is not None]
    return ChunkStats(sum(r[2] for r in rows), max(ends) if ends else None, sources)


def iter_chunks(conn: Any, session_id: str, source: str | None = None,
                mono_range: tuple[int, int] | None = None) -> Iterator[dict]:
    """The session's chunks (decoded JSON), oldest first, ``PAGE_CHUNKS`` per query; with
    ``mono_range`` (lo, hi) only those overlapping it on the box's monotonic clock."""
    after: tuple[int, str] = (-(2 ** 63), "")
    where = "session = %s" + (" AND raw_data->>'source' = %s" if source else "")
    params: tuple[Any, ...] = (session_id, source) if source else (session_id,)
    if mono_range is not None:
        where += " AND mono_start_ns <= %s AND mono_end_ns >= %s"
        params += (mono_range[1], mono_range[0])
    while True:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COALESCE(mono_start_ns, -9223372036854775808), id::text, raw_data "
                        f"FROM sensor_data WHERE {where} AND "
                        f"(COALESCE(mono_start_ns, -9223372036854775808), id::text) > (%s, %s) "
                        f"ORDER BY 1, 2 LIMIT {PAGE_CHUNKS}", params + after)
            rows = cur.fetchall()
        for _, _, raw in rows:
            if isinstance(raw, dict):
                yield raw
        if len(rows) < PAGE_CHUNKS:
            return
        after = (rows[-1][0], rows[-1][1])


def _frames(chunks: Iterator[dict], skipped: list[str]) -> Iterator[Frame]:
    for chunk in chunks:
        try:
            yield from decode_chunk(chunk)
        except ChunkFormatError as exc:
            skipped.append(str(exc))


def write_session_recording(conn: Any, session_id: str, out: IO[str]) -> int:
    """Write the session as a recording CSV (``liftguard replay`` format) to ``out``, merging
    the sources in time order source by source page by page; returns the frames written."""
    stats = chunk_stats(conn, session_id)
    if not stats.sources:
        return 0
    columns = recording_columns(c for chans in stats.sources.values() for c in chans)
    skipped: list[str] = []
    streams = [_frames(iter_chunks(conn, session_id, source), skipped) for source in stats.sources]
    count = 0

    def counted() -> Iterator[Frame]:
        nonlocal count
        for frame in heapq.merge(*streams, key=recording_order):
            count += 1
            yield frame

    out.writelines(recording_lines(counted(), columns))
    return count


# ---- display series -------------------------------------------------------------------------

def envelope(t: np.ndarray, y: np.ndarray, points: int = DISPLAY_POINTS
             ) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` samples of (t, y) keeping each bucket's minimum and maximum in time
    order, so a downsampled line still reaches every peak; a bucket without any value keeps
    its first sample (a NaN: the gap stays a gap)."""
    n = t.size
    if n <= points:
        return t, y
    buckets = max(1, points // 2)
    width = math.ceil(n / buckets)
    padded = np.full(buckets * width, np.nan)
    padded[:n] = y
    grid = padded.reshape(buckets, width)
    empty = ~np.isfinite(grid).any(axis=1)
    lo = np.argmin(np.where(np.isfinite(grid), grid, np.inf), axis=1)
    hi = np.argmax(np.where(np.isfinite(grid), grid, -np.inf), axis=1)
    base = np.arange(buckets) * width
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    pairs = np.column_stack([base + first, base + second])
    pairs[empty] = base[empty, None]
    idx = pairs.ravel()
    keep = np.concatenate(([True], np.diff(idx) != 0)) & (idx < n)
    idx = idx[keep]
    return t[idx], y[idx]


def stride(n: int, points: int = DISPLAY_POINTS) -> slice:
    return slice(None, None, max(1, math.ceil(n / points)))


@dataclass
class SessionSeries:
    """What the session charts draw, already downsampled for display."""

    duration_s: float = 0.0
    displacement: tuple[np.ndarray, np.ndarray] | None = None   # t s, z m (vs the first rest)
    tilt: tuple[np.ndarray, np.ndarray] | None = None           # t s, degrees from level
    cop: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # t s, x m, y m
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # per channel
    notes: list[str] = field(default_factory=list)


def _is_int(x: Any) -> bool:
    return type(x) is int


def _number_or_null(x: Any) -> bool:
    return x is None or type(x) is float or type(x) is int


def _plain(chunk: Any) -> bool:
    """Whether the fast path of :func:`chunk_columns` may take this chunk: every field the box
    writes has the type ``decode_chunk`` demands (anything else goes to ``decode_chunk``)."""
    if not isinstance(chunk, dict) or not _is_int(chunk.get("v")) or chunk["v"] != 1 \
            or "wall_steps" in chunk:
        return False
    n, channels, values = chunk.get("n"), chunk.get("channels"), chunk.get("values")
    if not (_is_int(n) and n >= 1 and _is_int(chunk.get("t0_ns")) and _is_int(chunk.get("seq0"))
            and isinstance(chunk.get("source"), str) and type(chunk.get("wall_t0")) in (int, float)
            and isinstance(channels, list) and channels
            and all(isinstance(c, str) for c in channels)
            and isinstance(values, list) and len(values) == len(channels)):
        return False
    dt = chunk.get("dt_ns")
    if n > 1 and not (_is_int(dt) or (isinstance(dt, list) and len(dt) == n - 1
                                       and all(map(_is_int, dt)))):
        return False
    jumps = chunk.get("seq_jumps", [])
    if not isinstance(jumps, list) or not all(
            isinstance(j, list) and len(j) == 2 and _is_int(j[0]) and _is_int(j[1])
            and 1 <= j[0] < n for j in jumps) or len({j[0] for j in jumps}) != len(jumps):
        return False
    return all(isinstance(col, list) and len(col) == n and all(map(_number_or_null, col))
               for col in values)


def chunk_columns(chunk: Any) -> tuple[str, tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """(source, channels, mono_ns, seq, values (n, channels)) of one chunk as numpy arrays.

    Exactly what ``sync.chunks.decode_chunk`` gives (its ``decode_columns`` takes any chunk that
    is not a plain version 1 and raises ``ChunkFormatError`` naming what is wrong), without a
    ``Frame`` per sample: an hour of raw data is a million frames, whose objects cost seconds
    and hundreds of MB. Wall times are not needed for display and are not rebuilt."""
    if not _plain(chunk):  # version 2 (counts) and anything unusual: the full decoder
        c = decode_columns(chunk)
        return (c.source, c.channels, np.array(c.monos, dtype=np.int64),
                np.array(c.seqs, dtype=np.int64), np.array(c.values, dtype=float).T)
    n, dt = chunk["n"], chunk.get("dt_ns")
    values = np.array(chunk["values"], dtype=float).reshape(len(chunk["channels"]), n).T
    # One sample has no steps, whatever dt_ns says (as decode_chunk reads it).
    steps = (np.asarray(dt, dtype=np.int64) if isinstance(dt, list) and n > 1
             else np.full(n - 1, dt if n > 1 else 0, np.int64))
    mono = chunk["t0_ns"] + np.concatenate(([0], np.cumsum(steps))).astype(np.int64)
    seq = chunk["seq0"] + np.arange(n, dtype=np.int64)
    for i, value in sorted(chunk.get("seq_jumps", [])):
        seq[i:] += value - seq[i]
    return chunk["source"], tuple(chunk["channels"]), mono, seq, values


def session_sources(chunks: Iterator[dict], skipped: list[str]) -> dict[str, SourceSamples]:
    """The chunks gathered per source as ``models.signals.SourceSamples`` (time-ordered)."""
    parts: dict[str, list[tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]]] = {}
    for chunk in chunks:
        try:
            source, channels, mono, seq, values = chunk_columns(chunk)
        except ChunkFormatError as exc:
            skipped.append(str(exc))
            continue
        parts.setdefault(source, []).append((channels, mono, seq, values))
    out: dict[str, SourceSamples] = {}
    for source, items in parts.items():
        names = sorted({c for channels, *_ in items for c in channels})
        mono = np.concatenate([m for _, m, _, _ in items])
        order = np.argsort(mono, kind="stable")
        columns = {}
        for name in names:
            columns[name] = np.concatenate([
                v[:, channels.index(name)] if name in channels else np.full(m.size, np.nan)
                for channels, m, _, v in items])[order]
        out[source] = SourceSamples(mono[order],
                                    np.concatenate([s for _, _, s, _ in items])[order], columns)
    return out


def compute_series(by_source: dict[str, SourceSamples]) -> SessionSeries:
    """Display series from a session's samples per source (see the module docstring)."""
    out = SessionSeries()
    if not by_source:
        out.notes.append("no raw sensor data was synced for this session")
        return out
    t0 = min(int(s.mono_ns[0]) for s in by_source.values())
    for samples in by_source.values():
        t = (samples.mono_ns - t0) / 1e9
        for name, values in samples.values.items():
            out.raw[name] = envelope(t, values)
    sig = align_sources(by_source, ANALYSIS_RATE_HZ)
    out.duration_s = float(sig.t[-1]) if sig.t.size else 0.0
    if sig.has(*IMU_CHANNELS):
        motion = vertical_motion(sig.stack(IMU_CHANNELS[:3]), sig.stack(IMU_CHANNELS[3:]),
                                 sig.rate_hz)
        if motion is not None:
            up, z, rest = motion
            out.displacement = envelope(sig.t, z)
            tilt = bar_tilt_deg(up)
            at_rest = rest & np.isfinite(tilt)
            # level reference as models.analysis takes it: the median reading at rest
            level = float(np.median(tilt[at_rest])) if at_rest.any() else 0.0
            out.tilt = envelope(sig.t, tilt - level)
        else:
            out.notes.append("the bar never rested still, so displacement and tilt have no "
                             "reference")
    else:
        out.notes.append("no bar IMU data (ax ay az gx gy gz)")
    if sig.has(*PLATFORM_CHANNELS):
        cop = centre_of_pressure(sig.stack(PLATFORM_CHANNELS))
        s = stride(cop.shape[0], 4 * DISPLAY_POINTS)
        out.cop = (sig.t[s], cop[s, 0], cop[s, 1])
    else:
        out.notes.append("no platform data (f_fl f_fr f_rl f_rr)")
    return out


def vertical_motion(accel: np.ndarray, gyro: np.ndarray, rate_hz: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(up vector, vertical displacement, rest mask) of the whole session with the steps of
    ``models.segmentation.RepSegmenter`` (gravity reference from the first quiet window, the
    orientation filter, confirmed rests, zero-velocity-update integration), once over the
    whole trace: the segmenter's rep search re-runs at every rest and is quadratic in the
    session's length, and the reps are already stored. None when the bar never rests."""
    g_ref = kinematics.gravity_reference(accel, gyro, rate_hz)
    if g_ref is None:
        return None
    up = estimate_up(accel, gyro, rate_hz)
    a_vert = kinematics.vertical_acceleration(accel, up, g_ref)
    confirmed = kinematics.rest_confirmed(accel, gyro, a_vert, rate_hz, g_ref)
    rest = kinematics.rest_mask(confirmed, rate_hz)
    motion = kinematics.integrate_with_zupt(a_vert, rest, rate_hz, close_last=True)
    return up, motion.displacement, rest


class SeriesCache:
    """Per-process LRU of computed series, keyed by session and its chunk count/last time."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], SessionSeries] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], SessionSeries]) -> SessionSeries:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


SERIES_CACHE = SeriesCache()


def session_series(conn: Any, session_id: str,
                   cache: SeriesCache = SERIES_CACHE) -> SessionSeries:
    """The session's display series, from the cache when its chunks have not changed."""
    key = chunk_key(conn, session_id)
    skipped: list[str] = []

    def compute() -> SessionSeries:
        series = compute_series(session_sources(iter_chunks(conn, session_id), skipped))
        if skipped:
            series.notes.append(f"{len(skipped)} raw chunk(s) could not be decoded and are left "
                                f"out (first: {skipped[0]})")
        return series

    return cache.get((session_id, *key), compute)
