"""Put the IMU and platform streams on one timeline and resample them to the analysis rate.

Every source is resampled by linear interpolation onto a common grid (``ANALYSIS_RATE_HZ``,
starting at the first frame's ``mono_ns``). Interpolation never bridges a hole longer than
``MAX_INTERP_S``: grid points inside such a hole are NaN. Every grid point that falls inside a
hole -- a ``seq`` jump (lost samples: FIFO overflow, CRC failure) or a timestamp gap longer than
1.5 nominal periods -- is flagged in that source's gap mask, whether or not it was bridged.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from sensors.frame import Frame

ANALYSIS_RATE_HZ = 100.0
MAX_INTERP_S = 0.050


@dataclass
class SourceSamples:
    """The raw samples of one source, in arrival order by ``mono_ns``."""

    mono_ns: np.ndarray            # int64, shape (n,)
    seq: np.ndarray                # int64, shape (n,)
    values: dict[str, np.ndarray]  # channel -> float64 (NaN where a frame lacked the channel)

    def copy(self) -> "SourceSamples":
        """The same arrays under a new channel dict (``clean_source`` replaces entries)."""
        return SourceSamples(self.mono_ns, self.seq, dict(self.values))


@dataclass
class AlignedSignals:
    """All channels on one uniform grid.

    ``t`` is seconds since ``t0_ns``; ``channels`` maps channel name to a float array (NaN
    where no data); ``gap`` maps source name to a boolean mask (True = inside a hole).
    """

    t: np.ndarray
    rate_hz: float
    t0_ns: int
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    gap: dict[str, np.ndarray] = field(default_factory=dict)
    source_of: dict[str, str] = field(default_factory=dict)
    raw: dict[str, SourceSamples] = field(default_factory=dict)

    def has(self, *names: str) -> bool:
        return all(n in self.channels for n in names)

    def stack(self, names: Sequence[str]) -> np.ndarray:
        """Channels as columns, shape (len(t), len(names))."""
        return np.column_stack([self.channels[n] for n in names])


def split_by_source(frames: Iterable[Frame]) -> dict[str, SourceSamples]:
    """Group frames per source into arrays, ordered by monotonic time."""
    grouped: dict[str, list[Frame]] = {}
    for fr in frames:
        grouped.setdefault(fr.source, []).append(fr)
    out: dict[str, SourceSamples] = {}
    for source, frs in grouped.items():
        frs.sort(key=lambda f: f.mono_ns)
        names = sorted({c for f in frs for c in f.channels})
        cols = {c: np.full(len(frs), np.nan) for c in names}
        for i, f in enumerate(frs):
            for c, v in zip(f.channels, f.values):
                cols[c][i] = np.nan if v is None else v
        out[source] = SourceSamples(
            mono_ns=np.fromiter((f.mono_ns for f in frs), np.int64, len(frs)),
            seq=np.fromiter((f.seq for f in frs), np.int64, len(frs)),
            values=cols)
    return out


def _hole_intervals(mono_ns: np.ndarray, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per interval between consecutive samples: (is a hole, length in s)."""
    dt = np.diff(mono_ns) / 1e9
    if dt.size == 0:
        return np.zeros(0, bool), dt
    nominal = float(np.median(dt))
    lost = np.diff(seq) > 1
    return lost | (dt > 1.5 * nominal), dt


def resample_source(samples: SourceSamples, grid_ns: np.ndarray,
                    max_interp_s: float = MAX_INTERP_S) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Interpolate one source's channels onto ``grid_ns``; returns (channels, gap mask)."""
    ts = samples.mono_ns
    n = grid_ns.size
    gap = np.zeros(n, bool)
    too_long = np.zeros(n, bool)
    outside = (grid_ns < ts[0]) | (grid_ns > ts[-1])
    if ts.size >= 2:
        hole, dt = _hole_intervals(ts, samples.seq)
        idx = np.clip(np.searchsorted(ts, grid_ns, side="right") - 1, 0, ts.size - 2)
        inside = ~outside & (grid_ns > ts[idx])
        gap = inside & hole[idx]
        too_long = inside & (dt[idx] > max_interp_s)
    rel_src = (ts - ts[0]).astype(np.float64)
    rel_grid = (grid_ns - ts[0]).astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for name, vals in samples.values.items():
        ok = np.isfinite(vals)
        if ok.sum() == 0:
            out[name] = np.full(n, np.nan)
            continue
        res = np.interp(rel_grid, rel_src[ok], vals[ok])
        # a NaN sample is a hole of its own: do not bridge it when the bridge would be too long
        if not ok.all():
            kept_ts = ts[ok]
            j = np.clip(np.searchsorted(kept_ts, grid_ns, side="right") - 1, 0, max(kept_ts.size - 2, 0))
            if kept_ts.size >= 2:
                span = (kept_ts[j + 1] - kept_ts[j]) / 1e9
                res[(span > max_interp_s) & (grid_ns > kept_ts[j])] = np.nan
        res[outside | too_long] = np.nan
        out[name] = res
    return out, gap | outside


def align_frames(frames: Iterable[Frame], rate_hz: float = ANALYSIS_RATE_HZ,
                 max_interp_s: float = MAX_INTERP_S) -> AlignedSignals:
    """Resample every source of ``frames`` onto one grid at ``rate_hz`` (see module doc)."""
    return align_sources(split_by_source(frames), rate_hz, max_interp_s)


def align_sources(by_source: dict[str, SourceSamples], rate_hz: float = ANALYSIS_RATE_HZ,
                  max_interp_s: float = MAX_INTERP_S,
                  span: tuple[int, int] | None = None) -> AlignedSignals:
    """Resample already grouped sources (see :func:`split_by_source`) onto one grid.

    ``span`` (i0, i1): only the grid points ``[i0:i1]`` of the whole grid, each with the value
    the whole alignment gives it (interpolation is point by point against the whole sources;
    ``t`` is still seconds since the sources' first sample)."""
    if not by_source:
        raise ValueError("no frames to analyse")
    t0 = min(int(s.mono_ns[0]) for s in by_source.values())
    t1 = max(int(s.mono_ns[-1]) for s in by_source.values())
    step_ns = 1e9 / rate_hz
    n = int(np.floor((t1 - t0) / step_ns)) + 1
    i0, i1 = (0, n) if span is None else (min(max(span[0], 0), n), min(max(span[1], 0), n))
    grid_ns = t0 + np.round(np.arange(i0, max(i0, i1)) * step_ns).astype(np.int64)
    aligned = AlignedSignals(t=(grid_ns - t0) / 1e9, rate_hz=rate_hz, t0_ns=t0, raw=by_source)
    for source, samples in by_source.items():
        chans, gap = resample_source(samples, grid_ns, max_interp_s)
        aligned.channels.update(chans)
        aligned.gap[source] = gap
        aligned.source_of.update({c: source for c in chans})
    return aligned


class FrameColumns:
    """The frames of one set so far, for analyses that need the whole set at every rep.

    Converting every frame of the set to arrays again at each rep (``split_by_source``: a
    Python loop over frames and channels) makes a set's rep analyses quadratic in its length.
    Here the recording side only appends frames (``extend``, cheap: the real-time loop calls
    it) and trims the oldest (``drop_leading_before``); ``samples()`` converts the frames that
    came since its last call, once, and gives exactly what ``split_by_source`` gives for the
    frames kept at that moment: sources in the order their first kept frame came in, channels
    the sorted union of those frames', NaN where a frame lacked one or held None, rows stably
    sorted by ``mono_ns``. Trimming drops from the front in arrival order while the front frame
    is older than the horizon, as a deque's ``popleft`` would.

    Thread-safe for one appending thread and one reading thread; the lock is never held while
    converting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mono = np.empty(1024, np.int64)   # mono_ns by arrival, from index self._base
        self._base = 0
        self._n = 0                              # frames appended so far (arrival indices)
        self._first = 0                          # arrival index of the first frame kept
        self._pending: collections.deque[Frame] = collections.deque()
        self._pending_first = 0                  # arrival index of self._pending[0]
        self._sources: dict[str, _SourceColumns] = {}   # reading side only

    def __len__(self) -> int:
        return self._n - self._first

    def extend(self, frames: Sequence[Frame]) -> None:
        k = len(frames)
        if not k:
            return
        with self._lock:
            at = self._n - self._base
            self._mono = _room(self._mono, at + k)
            self._mono[at:at + k] = [f.mono_ns for f in frames]
            self._pending.extend(frames)
            self._n += k

    def last_mono_ns(self) -> int:
        return int(self._mono[self._n - 1 - self._base])

    def drop_leading_before(self, horizon_ns: int) -> None:
        """Drop frames from the front (arrival order) while they are older than ``horizon_ns``."""
        with self._lock:
            if self._first == self._n or self._mono[self._first - self._base] >= horizon_ns:
                return
            kept = self._mono[self._first - self._base:self._n - self._base]
            newer = np.flatnonzero(kept >= horizon_ns)
            self._first = self._n if newer.size == 0 else self._first + int(newer[0])
            while self._pending and self._pending_first < self._first:
                self._pending.popleft()
                self._pending_first += 1
            if self._first - self._base > self._mono.shape[0] // 2:
                kept = self._mono[self._first - self._base:self._n - self._base].copy()
                self._mono[:kept.size] = kept
                self._base = self._first

    def mark(self) -> tuple[int, int]:
        """Which frames are kept now, for ``samples(until=...)`` later (appending side)."""
        with self._lock:
            return self._first, self._n

    def samples(self, until: tuple[int, int] | None = None) -> dict[str, SourceSamples]:
        """Fresh ``SourceSamples`` per source of the frames kept now (as ``split_by_source``),
        or of those kept at ``until`` (a ``mark()``), whatever came since: the same result
        however late the reading side gets to it (frames trimmed since are not brought back)."""
        with self._lock:
            batch, batch_first = self._pending, self._pending_first
            self._pending, self._pending_first = collections.deque(), self._n
            first, end = self._first, self._n
        if until is not None:
            first, end = max(first, until[0]), min(end, until[1])
        grouped: dict[str, list[tuple[int, Frame]]] = {}
        for i, f in enumerate(batch, batch_first):
            grouped.setdefault(f.source, []).append((i, f))
        for source, part in grouped.items():
            self._sources.setdefault(source, _SourceColumns()).extend(part)
        for cols in self._sources.values():
            if cols.n > 4096 and cols.arrival[cols.n // 2] < first:
                cols.forget_before(first)
        parts = [(cols.first_kept_arrival(first, end), source, cols)
                 for source, cols in self._sources.items()]
        return {source: cols.samples(first, end)
                for _, source, cols in sorted((p for p in parts if p[0] is not None),
                                              key=lambda p: p[0])}


def _room(array: np.ndarray, size: int) -> np.ndarray:
    if size <= array.shape[0]:
        return array
    grown = np.empty((max(size, 2 * array.shape[0]),) + array.shape[1:], array.dtype)
    grown[:array.shape[0]] = array
    return grown


class _SourceColumns:
    """One source's frames in arrival order: arrival index, mono_ns, seq, a value column per
    channel seen, and whether each frame had each channel."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.arrival = np.empty(1024, np.int64)
        self.mono = np.empty(1024, np.int64)
        self.seq = np.empty(1024, np.int64)
        self.values = np.empty((1024, 0))
        self.has = np.empty((1024, 0), bool)
        self.n = 0

    def extend(self, batch: list[tuple[int, Frame]]) -> None:
        k, n = len(batch), self.n
        frames = [f for _, f in batch]
        for name in dict.fromkeys(c for f in frames for c in f.channels):
            if name not in self.names:
                self._add_channel(name)
        for attr in ("arrival", "mono", "seq", "values", "has"):
            setattr(self, attr, _room(getattr(self, attr), n + k))
        self.arrival[n:n + k] = [i for i, _ in batch]
        self.mono[n:n + k] = [f.mono_ns for f in frames]
        self.seq[n:n + k] = [f.seq for f in frames]
        self.values[n:n + k] = np.nan
        self.has[n:n + k] = False
        same = frames[0].channels
        if all(f.channels == same for f in frames):
            cols = [self.names.index(c) for c in same]
            self.values[n:n + k, cols] = np.asarray([f.values for f in frames], dtype=float
                                                    ).reshape(k, len(same))
            self.has[n:n + k, cols] = True
        else:
            for row, f in enumerate(frames, n):
                for c, v in zip(f.channels, f.values):
                    j = self.names.index(c)
                    self.values[row, j] = np.nan if v is None else v
                    self.has[row, j] = True
        self.n = n + k

    def _add_channel(self, name: str) -> None:
        self.names.append(name)
        size = self.values.shape[0]
        self.values = np.hstack([self.values, np.full((size, 1), np.nan)])
        self.has = np.hstack([self.has, np.zeros((size, 1), bool)])

    def forget_before(self, first: int) -> None:
        """Drop the rows of frames no longer kept (arrival index below ``first``)."""
        i = int(np.searchsorted(self.arrival[:self.n], first, "left"))
        if i == 0:
            return
        for attr in ("arrival", "mono", "seq", "values", "has"):
            array = getattr(self, attr)
            array[:self.n - i] = array[i:self.n].copy()
        self.n -= i

    def _rows(self, first: int, end: int) -> tuple[int, int]:
        """Row range of the frames with arrival index in [first, end)."""
        arrival = self.arrival[:self.n]
        return (int(np.searchsorted(arrival, first, "left")),
                int(np.searchsorted(arrival, end, "left")))

    def first_kept_arrival(self, first: int, end: int) -> int | None:
        i, j = self._rows(first, end)
        return int(self.arrival[i]) if i < j else None

    def samples(self, first: int, end: int) -> SourceSamples:
        i, j = self._rows(first, end)
        mono = self.mono[i:j]
        order = (slice(None) if mono.size < 2 or bool(np.all(np.diff(mono) >= 0))
                 else np.argsort(mono, kind="stable"))
        has = self.has[i:j]
        present = has.any(axis=0)
        return SourceSamples(
            mono_ns=mono[order].copy(), seq=self.seq[i:j][order].copy(),
            values={name: self.values[i:j, col][order].copy()
                    for name, col in sorted((name, col) for col, name in enumerate(self.names)
                                            if present[col])})
