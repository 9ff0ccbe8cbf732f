"""The raw-data page's time range: parsing ``?start=&end=`` and reading only that window.

Times are seconds from the session's first raw sample (the x axis of the raw chart, the ``t``
column of the recording CSV). Rules (docs/web-review.md, "Raw data"):

- neither given: the first ``DEFAULT_WINDOW_S`` seconds (all of a shorter session);
- only ``start``: ``DEFAULT_WINDOW_S`` from there; only ``end``: ``DEFAULT_WINDOW_S`` up to it;
- each must be a plain decimal number of seconds (``90``, ``12.5``), ``start`` within the
  session, ``end`` after ``start``; an ``end`` past the end of the session is cut to it, and
  then the range may be at most ``MAX_WINDOW_S`` long.

Anything else raises ``WindowError`` whose message names the field and what was wrong; the
page shows it with status 400. Only chunks that overlap the window are read from PostgreSQL
(``sensor_data.mono_start_ns`` / ``mono_end_ns``), one page of ``PAGE_CHUNKS`` at a time.
"""
from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from typing import IO, Any, Iterator, Mapping

import numpy as np

from coach.review.raw_series import chunk_columns, iter_chunks
from sensors.frame import Frame
from sensors.recording import recording_columns, recording_lines, recording_order
from sync.chunks import ChunkFormatError, decode_chunk

DEFAULT_WINDOW_S = 60.0
DISPLAY_POINTS = 1500
"""Points per displayed line: a min/max envelope per bucket keeps every peak visible."""
MAX_WINDOW_S = 600.0
_SECONDS = re.compile(r"[0-9]{1,30}(?:\.[0-9]{0,9})?|\.[0-9]{1,9}")


class WindowError(ValueError):
    """A time range the page cannot show; the message is for the user."""


@dataclass(frozen=True)
class SessionSpan:
    """Where a session's raw chunks sit on the box's monotonic clock."""

    origin_ns: int
    end_ns: int

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.origin_ns) / 1e9


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def start_text(self) -> str:
        """The start for a link or form: milliseconds, rounded down (so within the session)."""
        return _seconds_text(math.floor(self.start_s * 1000) / 1000)

    @property
    def end_text(self) -> str:
        """The end for a link or form: milliseconds, rounded up (so the last sample stays)."""
        return _seconds_text(math.ceil(self.end_s * 1000) / 1000)

    def earlier(self) -> "Window | None":
        """The window of the same length just before this one (None at the start)."""
        if self.start_s <= 0:
            return None
        start = max(0.0, self.start_s - self.length_s)
        return Window(start, start + self.length_s)

    def later(self, duration_s: float) -> "Window | None":
        """The window of the same length just after this one (None at the end)."""
        if self.end_s >= duration_s:
            return None
        return Window(self.end_s, min(duration_s, self.end_s + self.length_s))


def _seconds_text(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def session_span(conn: Any, session_id: str, pruned_start_ns: int | None = None
                 ) -> SessionSpan | None:
    """The span of the session's raw chunks (from the row columns, no chunk JSON is read);
    ``pruned_start_ns`` (where pruned chunks began) keeps the origin where it was before a
    prune, so times of chunks that arrived later stay comparable. None without chunks."""
    with conn.cursor() as cur:
        cur.execute("SELECT min(mono_start_ns), max(mono_end_ns) FROM sensor_data "
                    "WHERE session = %s", (session_id,))
        first, last = cur.fetchone()
    if first is None or last is None:
        return None
    origin = first if pruned_start_ns is None else min(first, pruned_start_ns)
    return SessionSpan(int(origin), int(max(last, first)))


def _seconds(args: Mapping[str, str], name: str) -> float | None:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not _SECONDS.fullmatch(text):
        shown = text if len(text) <= 20 else text[:20] + "…"
        raise WindowError(f"{name.capitalize()}: {shown!r} is not a number of seconds "
                          f"(write it like 90 or 12.5)")
    return float(text)


def parse_window(args: Mapping[str, str], duration_s: float) -> Window:
    """The window ``?start=&end=`` asks for in a session lasting ``duration_s`` seconds."""
    duration = max(0.0, duration_s)
    start, end = _seconds(args, "start"), _seconds(args, "end")
    if start is not None and (start > duration or (start == duration and duration > 0)):
        raise WindowError(f"Start: {start:g} s is not within the recording; choose a start "
                          f"from 0 to below {_seconds_text(duration)} s")
    if start is not None and end is not None:
        if end <= start:
            raise WindowError(f"End: {end:g} s is not after the start ({start:g} s)")
        if min(end, duration) - start > MAX_WINDOW_S:
            raise WindowError(f"End: the range is {min(end, duration) - start:g} s long; "
                              f"show at most {MAX_WINDOW_S:g} s at a time")
    if start is None and end is not None and end <= 0:
        raise WindowError("End: 0 s leaves nothing to show; choose an end after 0 s")
    if start is None and end is None:
        start, end = 0.0, DEFAULT_WINDOW_S
    elif end is None:
        end = start + DEFAULT_WINDOW_S
    elif start is None:
        start = max(0.0, min(end, duration) - DEFAULT_WINDOW_S)
    return Window(float(start), float(max(start, min(end, duration))))


def _bounds_ns(span: SessionSpan, window: Window) -> tuple[int, int]:
    return (span.origin_ns + round(window.start_s * 1e9),
            span.origin_ns + round(window.end_s * 1e9))


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


def iter_window_chunks(conn: Any, session_id: str, span: SessionSpan, window: Window,
                       source: str | None = None) -> Iterator[dict]:
    """The session's chunks (decoded JSON) that overlap the window (of one source, if
    given), oldest first, read in pages of ``PAGE_CHUNKS``."""
    return iter_chunks(conn, session_id, source, _bounds_ns(span, window))


def window_channels(conn: Any, session_id: str, span: SessionSpan, window: Window,
                    skipped: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per channel (t in session seconds, value) of the samples inside the window, as a
    min/max envelope for display; chunks that do not decode are named in ``skipped``."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    lo, hi = window.start_s, window.end_s
    for chunk in iter_window_chunks(conn, session_id, span, window):
        try:
            _, channels, mono, _, values = chunk_columns(chunk)
        except ChunkFormatError as exc:
            skipped.append(str(exc))
            continue
        t = (mono - span.origin_ns) / 1e9
        inside = (t >= lo) & (t <= hi)
        for k, name in enumerate(channels):
            parts.setdefault(name, []).append((t[inside], values[inside, k]))
    out = {}
    for name, pieces in parts.items():
        t = np.concatenate([p[0] for p in pieces])
        v = np.concatenate([p[1] for p in pieces])
        order = np.argsort(t, kind="stable")
        out[name] = envelope(t[order], v[order])
    return out


def write_window_recording(conn: Any, session_id: str, span: SessionSpan, window: Window,
                           sources: Mapping[str, tuple[str, ...]], out: IO[str]) -> int:
    """The frames inside the window as a recording CSV (``liftguard replay`` format), sources
    (name -> channels, as ``raw_series.chunk_stats`` gives them) merged in time order;
    returns the frames written."""
    lo, hi = _bounds_ns(span, window)

    def frames(source: str) -> Iterator[Frame]:
        for chunk in iter_window_chunks(conn, session_id, span, window, source):
            try:
                decoded = decode_chunk(chunk)
            except ChunkFormatError:
                continue  # left out, as the whole-session export does; the page names them
            yield from (f for f in decoded if lo <= f.mono_ns <= hi)

    columns = recording_columns(c for chans in sources.values() for c in chans)
    count = 0

    def counted() -> Iterator[Frame]:
        nonlocal count
        for frame in heapq.merge(*(frames(s) for s in sources), key=recording_order):
            count += 1
            yield frame

    out.writelines(recording_lines(counted(), columns))
    return count

