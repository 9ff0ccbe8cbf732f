"""Raw chunks of a session (``sensor_data.raw_data``) as frames, display series and a recording.

Everything here reuses the box's code: chunks are decoded with ``edge_agent.store.chunks``
(the format the box writes), put on one timeline with ``models.signals``, the bar's vertical
displacement and orientation come from ``models.segmentation.segment_bar`` (the same
zero-velocity-update integration the box's analysis uses), the centre of pressure from
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

from edge_agent.store.chunks import ChunkFormatError, decode_chunk
from models.metrics import centre_of_pressure
from models.orientation import bar_tilt_deg
from models.segmentation import canonical_lift, segment_bar
from models.signals import ANALYSIS_RATE_HZ, align_sources, split_by_source
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


def iter_chunks(conn: Any, session_id: str, source: str | None = None) -> Iterator[dict]:
    """The session's chunks (decoded JSON), oldest first, ``PAGE_CHUNKS`` per query."""
    after: tuple[int, str] = (-(2 ** 63), "")
    where = "session = %s" + (" AND raw_data->>'source' = %s" if source else "")
    params: tuple[Any, ...] = (session_id, source) if source else (session_id,)
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


def session_frames(conn: Any, session_id: str, skipped: list[str] | None = None) -> list[Frame]:
    """Every frame of the session; chunks that do not decode are skipped and their reason
    appended to ``skipped``."""
    return list(_frames(iter_chunks(conn, session_id), [] if skipped is None else skipped))


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
    order, so a downsampled line still reaches every peak; NaN gaps stay gaps."""
    n = t.size
    if n <= points:
        return t, y
    buckets = max(1, points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep: list[int] = []
    for a, b in zip(edges[:-1], edges[1:]):
        seg = y[a:b]
        if seg.size == 0:
            continue
        if not np.isfinite(seg).any():
            keep.append(a)
            continue
        lo, hi = a + int(np.nanargmin(seg)), a + int(np.nanargmax(seg))
        keep.extend(sorted({lo, hi}))
    idx = np.asarray(keep, dtype=int)
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


def compute_series(frames: list[Frame], lift: str) -> SessionSeries:
    """Display series from a session's frames (see the module docstring for what computes what)."""
    out = SessionSeries()
    if not frames:
        out.notes.append("no raw sensor data was synced for this session")
        return out
    by_source = split_by_source(frames)
    for samples in by_source.values():
        t = (samples.mono_ns - frames[0].mono_ns) / 1e9
        for name, values in samples.values.items():
            out.raw[name] = envelope(t, values)
    sig = align_sources(by_source, ANALYSIS_RATE_HZ)
    out.duration_s = float(sig.t[-1]) if sig.t.size else 0.0
    if sig.has(*IMU_CHANNELS):
        _, seg = segment_bar(sig.stack(IMU_CHANNELS[:3]), sig.stack(IMU_CHANNELS[3:]),
                             canonical_lift(lift), sig.rate_hz)
        if seg.motion is not None:
            n = seg.motion.displacement.size
            out.displacement = envelope(sig.t[:n], seg.motion.displacement)
            tilt = bar_tilt_deg(seg.up[:n])
            rest = seg.motion.rest & np.isfinite(tilt)
            # level reference as models.analysis takes it: the median reading at rest
            level = float(np.median(tilt[rest])) if rest.any() else 0.0
            out.tilt = envelope(sig.t[:n], tilt - level)
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


def session_series(conn: Any, session_id: str, lift: str,
                   cache: SeriesCache = SERIES_CACHE) -> SessionSeries:
    """The session's display series, from the cache when its chunks have not changed."""
    key = chunk_key(conn, session_id)
    skipped: list[str] = []

    def compute() -> SessionSeries:
        series = compute_series(session_frames(conn, session_id, skipped), lift)
        if skipped:
            series.notes.append(f"{len(skipped)} raw chunk(s) could not be decoded and are left "
                                f"out (first: {skipped[0]})")
        return series

    return cache.get((session_id, lift, *key), compute)
