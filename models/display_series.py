"""Build a session's display-series record (``sync.series``) from its samples, in time order,
window by window, so memory and the record stay bounded whatever the session's length.

Both the box (incrementally at every rep and at session end, ``edge_agent.daemon.sessions``)
and the web app (once, for sessions synced before the box built records) use it:

- ``SeriesBuilder.add_window`` takes the samples of a time window plus ``CONTEXT_S`` before it
  (which warms up the orientation filter and the gravity reference), adds the window to the
  min/max envelopes of the raw channels, bar tilt and centre of pressure, and traces the reps
  that end in it: bar displacement integrated from the rep's own start (zero-velocity updates
  on that rep's window alone, so nothing drifts across a session) and the CoP path.
- ``SeriesFeeder`` cuts a stream of per-source sample blocks into such windows.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from models import kinematics
from models.metrics import centre_of_pressure
from models.orientation import bar_tilt_deg, estimate_up
from models.signals import ANALYSIS_RATE_HZ, SourceSamples, align_sources
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sync.chunks import DEFAULT_RESOLUTION
from sync.series import MAX_BUCKETS, MAX_SERIES_BYTES, SERIES_VERSION

FIRST_BUCKET_S = 0.1
"""Envelope bucket width at a session's start; doubled each time the buckets run out, so a
session of T seconds ends with buckets of T/512..T/256 s (2 h: 25.6 s, 8 h: 102.4 s)."""
REP_POINTS = 20
"""Points per rep trace (a 2-4 s rep: 6-12 points a second, enough to draw its shape)."""
CONTEXT_S = 8.0
WINDOW_S = 60.0
REP_TAIL_S = 0.2
SCALES = {**{c: round(DEFAULT_RESOLUTION[c], 6) for c in IMU_CHANNELS},
          **{c: 0.1 for c in PLATFORM_CHANNELS}, "tilt_deg": 0.05, "cop_x": 0.001,
          "cop_y": 0.001}
"""Envelope resolution per channel: the IMU's LSB, 0.1 N, 0.05° and 1 mm."""
DEFAULT_SCALE = 0.001


@dataclass
class RepSpan:
    number: int
    start_ns: int
    end_ns: int


class Envelopes:
    """Min/max per bucket of every channel, on one bucket grid that coarsens as time grows."""

    def __init__(self) -> None:
        self.width_s = FIRST_BUCKET_S
        self.lo: dict[str, np.ndarray] = {}
        self.hi: dict[str, np.ndarray] = {}
        self.used = 0

    def _coarsen(self) -> None:
        for d, op in ((self.lo, np.fmin), (self.hi, np.fmax)):
            for name, arr in d.items():
                merged = op(arr[0::2], arr[1::2])
                d[name] = np.concatenate([merged, np.full(MAX_BUCKETS - merged.size, np.nan)])
        self.width_s *= 2
        self.used = math.ceil(self.used / 2)

    def add(self, name: str, t_s: np.ndarray, values: np.ndarray) -> None:
        ok = np.isfinite(values) & (t_s >= 0)
        if not ok.any():
            return
        t_s, values = t_s[ok], values[ok]
        while t_s[-1] / self.width_s >= MAX_BUCKETS:
            self._coarsen()
        idx = (t_s / self.width_s).astype(np.int64)
        order = np.argsort(idx, kind="stable")
        idx, values = idx[order], values[order]
        starts = np.flatnonzero(np.concatenate(([True], np.diff(idx) != 0)))
        buckets = idx[starts]
        for d, op in ((self.lo, np.fmin), (self.hi, np.fmax)):
            arr = d.setdefault(name, np.full(MAX_BUCKETS, np.nan))
            arr[buckets] = op(arr[buckets], op.reduceat(values, starts))
        self.used = max(self.used, int(buckets[-1]) + 1)

    def as_json(self) -> dict[str, Any]:
        out = {}
        for name in sorted(self.lo):
            scale = SCALES.get(name, DEFAULT_SCALE)
            out[name] = {"scale": scale, "min": counts(self.lo[name][:self.used], scale),
                         "max": counts(self.hi[name][:self.used], scale)}
        return out


def counts(values: np.ndarray, scale: float) -> list[int | None]:
    """Values as integer counts of ``scale`` (NaN -> None), clipped to the format's range."""
    c = np.round(np.asarray(values, dtype=float) / scale)
    ok = np.isfinite(c)
    c = np.clip(np.where(ok, c, 0), -(2**31 - 1), 2**31 - 1).astype(np.int64)
    return [int(v) if k else None for v, k in zip(c, ok)]


@dataclass
class SeriesBuilder:
    """Accumulates windows of one session into its display-series record."""

    t0_ns: int
    envelopes: Envelopes = field(default_factory=Envelopes)
    reps: dict[int, dict[str, Any]] = field(default_factory=dict)
    levels: list[float] = field(default_factory=list)
    end_ns: int = 0
    seen: set[str] = field(default_factory=set)

    def add_window(self, by_source: Mapping[str, SourceSamples], new_from_ns: int,
                   new_to_ns: int, reps: Sequence[RepSpan] = ()) -> None:
        """Add the samples in ``[new_from_ns, new_to_ns)`` (``by_source`` may start earlier:
        context) and trace ``reps`` (whose spans ``by_source`` covers)."""
        by_source = {k: s for k, s in by_source.items() if s.mono_ns.size}
        if not by_source:
            return
        for source, samples in by_source.items():
            sel = (samples.mono_ns >= new_from_ns) & (samples.mono_ns < new_to_ns)
            if not sel.any():
                continue
            t = (samples.mono_ns[sel] - self.t0_ns) / 1e9
            for name, values in samples.values.items():
                self.seen.add(name)
                self.envelopes.add(name, t, values[sel])
            self.end_ns = max(self.end_ns, int(samples.mono_ns[sel][-1]))
        sig = align_sources(dict(by_source), ANALYSIS_RATE_HZ)
        grid_ns = sig.t0_ns + np.round(sig.t * 1e9).astype(np.int64)
        new = (grid_ns >= new_from_ns) & (grid_ns < new_to_ns)
        t_new = (grid_ns[new] - self.t0_ns) / 1e9
        motion = None
        if sig.has(*IMU_CHANNELS):
            accel, gyro = sig.stack(IMU_CHANNELS[:3]), sig.stack(IMU_CHANNELS[3:])
            up = estimate_up(accel, gyro, sig.rate_hz)
            tilt = bar_tilt_deg(up)
            self.envelopes.add("tilt_deg", t_new, tilt[new])
            motion = _rest_and_height(accel, gyro, up, sig.rate_hz)
            if motion is not None:
                at_rest = motion[1] & new & np.isfinite(tilt)
                if at_rest.any():
                    self.levels.append(float(np.median(tilt[at_rest])))
        cop = None
        if sig.has(*PLATFORM_CHANNELS):
            cop = centre_of_pressure(sig.stack(PLATFORM_CHANNELS))
            self.envelopes.add("cop_x", t_new, cop[new, 0])
            self.envelopes.add("cop_y", t_new, cop[new, 1])
        for rep in reps:
            self.reps[rep.number] = self._trace(rep, grid_ns, motion, cop)

    def _trace(self, rep: RepSpan, grid_ns: np.ndarray, motion: Any,
               cop: np.ndarray | None) -> dict[str, Any]:
        at = np.linspace(rep.start_ns, rep.end_ns, REP_POINTS)
        out: dict[str, Any] = {"n": int(rep.number),
                               "t0": round((rep.start_ns - self.t0_ns) / 1e9, 3),
                               "t1": round((rep.end_ns - self.t0_ns) / 1e9, 3),
                               "z_mm": [None] * REP_POINTS}
        inside = (grid_ns >= rep.start_ns) & (grid_ns <= rep.end_ns)
        if motion is not None and inside.sum() >= 2:
            z = np.interp(at, grid_ns[inside], motion[0][inside])
            out["z_mm"] = counts(z - z[0], 0.001)
        if cop is not None and inside.sum() >= 2:
            ok = inside & np.isfinite(cop[:, 0])
            if ok.sum() >= 2:
                out["cop_mm"] = [counts(np.interp(at, grid_ns[ok], cop[ok, k]), 0.001)
                                 for k in (0, 1)]
        return out

    def as_json(self) -> dict[str, Any]:
        notes = []
        if not set(IMU_CHANNELS) <= self.seen:
            notes.append("no bar IMU data (ax ay az gx gy gz)")
        if not set(PLATFORM_CHANNELS) <= self.seen:
            notes.append("no platform data (f_fl f_fr f_rl f_rr)")
        doc = {"v": SERIES_VERSION, "t0_ns": int(self.t0_ns),
                "duration_s": round(max(0, self.end_ns - self.t0_ns) / 1e9, 3),
                "bucket_s": self.envelopes.width_s, "envelopes": self.envelopes.as_json(),
                "tilt_level_deg": (round(float(np.median(self.levels)), 3) if self.levels
                                   else None),
                "reps": [self.reps[n] for n in sorted(self.reps)], "notes": notes}
        if _size(doc) > MAX_SERIES_BYTES:   # many reps: their CoP paths at half resolution
            doc["reps"] = [{**r, "cop_mm": [xy[::2] for xy in r["cop_mm"]]} if "cop_mm" in r
                           else r for r in doc["reps"]]
        if _size(doc) > MAX_SERIES_BYTES:
            doc["reps"] = [{k: v for k, v in r.items() if k != "cop_mm"} for r in doc["reps"]]
            notes.append("too many reps to keep each one's centre-of-pressure path")
        return doc


def _size(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc, separators=(",", ":")))


def _rest_and_height(accel: np.ndarray, gyro: np.ndarray, up: np.ndarray, rate_hz: float
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """(displacement, rest mask) of a window with the rep segmenter's steps (gravity reference
    from the first quiet stretch, confirmed rests, zero-velocity-update integration); None when
    the window never rests."""
    g_ref = kinematics.gravity_reference(accel, gyro, rate_hz)
    if g_ref is None:
        return None
    a_vert = kinematics.vertical_acceleration(accel, up, g_ref)
    confirmed = kinematics.rest_confirmed(accel, gyro, a_vert, rate_hz, g_ref)
    rest = kinematics.rest_mask(confirmed, rate_hz)
    motion = kinematics.integrate_with_zupt(a_vert, rest, rate_hz, close_last=True)
    return motion.displacement, rest


class SeriesFeeder:
    """Cuts per-source sample blocks, pushed in roughly increasing time, into windows of
    ``WINDOW_S`` for a ``SeriesBuilder``; keeps ``CONTEXT_S`` (and any rep not yet traced)."""

    def __init__(self, builder: SeriesBuilder, reps: Iterable[RepSpan],
                 window_s: float = WINDOW_S) -> None:
        self.builder = builder
        self.pending = sorted(reps, key=lambda r: r.end_ns)
        self.window_ns = int(window_s * 1e9)
        self.context_ns = int(CONTEXT_S * 1e9)
        self.next_from: int = builder.t0_ns
        self.parts: dict[str, list[SourceSamples]] = {}

    def add_rep(self, rep: RepSpan) -> None:
        """A rep found after its samples were pushed (the box's live reps)."""
        self.pending = [r for r in self.pending if r.number != rep.number] + [rep]

    def push(self, source: str, samples: SourceSamples) -> None:
        if samples.mono_ns.size:
            self.parts.setdefault(source, []).append(samples)
            self._drain()

    def catch_up(self) -> SeriesBuilder:
        """Add everything pushed so far (a shorter last window), keeping the context: the
        record is then current up to the newest sample every source has reached."""
        self._drain(partial=True)
        return self.builder

    def finish(self) -> SeriesBuilder:
        self._drain(final=True)
        return self.builder

    def _drain(self, final: bool = False, partial: bool = False) -> None:
        if not self.parts:
            return
        reach = min(int(p[-1].mono_ns[-1]) for p in self.parts.values()) + 1
        end = max(int(p[-1].mono_ns[-1]) for p in self.parts.values()) + 1 if final else reach
        if end <= self.next_from or (not (final or partial)
                                     and end < self.next_from + self.window_ns):
            return
        merged = {s: concat_samples(p) for s, p in self.parts.items()}
        while self.next_from < end:
            to = min(self.next_from + self.window_ns, end)
            if not (final or partial) and to < self.next_from + self.window_ns:
                break
            tail = int(REP_TAIL_S * 1e9)
            due = [r for r in self.pending if r.end_ns + tail <= to or (final and to >= end)]
            self.pending = [r for r in self.pending if r not in due]
            start = min([self.next_from] + [r.start_ns for r in due]) - self.context_ns
            window = {s: _slice(m, start, to) for s, m in merged.items()}
            self.builder.add_window(window, self.next_from, to, due)
            self.next_from = to
        keep = min([self.next_from] + [r.start_ns for r in self.pending]) - self.context_ns
        self.parts = {s: [_slice(m, keep, None)] for s, m in merged.items()}


def concat_samples(parts: list[SourceSamples]) -> SourceSamples:
    """One source's sample blocks as one, time-ordered; a channel a block lacks is NaN there."""
    if len(parts) == 1:
        return parts[0]
    names = sorted({n for p in parts for n in p.values})
    mono = np.concatenate([p.mono_ns for p in parts])
    order = np.argsort(mono, kind="stable")
    values = {n: np.concatenate([p.values.get(n, np.full(p.mono_ns.size, np.nan))
                                 for p in parts])[order] for n in names}
    return SourceSamples(mono[order], np.concatenate([p.seq for p in parts])[order], values)


def _slice(s: SourceSamples, start: int, end: int | None) -> SourceSamples:
    i = int(np.searchsorted(s.mono_ns, start, side="left"))
    j = s.mono_ns.size if end is None else int(np.searchsorted(s.mono_ns, end, side="left"))
    return SourceSamples(s.mono_ns[i:j], s.seq[i:j], {n: v[i:j] for n, v in s.values.items()})


def series_from_sources(by_source: Mapping[str, SourceSamples], reps: Iterable[RepSpan]
                        ) -> dict[str, Any] | None:
    """The whole record of a session's samples (None without any)."""
    by_source = {k: s for k, s in by_source.items() if s.mono_ns.size}
    if not by_source:
        return None
    feeder = SeriesFeeder(SeriesBuilder(min(int(s.mono_ns[0]) for s in by_source.values())),
                          reps)
    for source, samples in by_source.items():
        feeder.parts[source] = [samples]
    return feeder.finish().as_json()


def series_from_frames(frames: Sequence[Frame], reps: Iterable[RepSpan]) -> dict[str, Any] | None:
    from models.signals import split_by_source

    return series_from_sources(split_by_source(frames), reps)
