"""A session's display-series record (``session_series``, format in ``sync.series``) as the
session charts draw it: rep traces of bar height from each rep's own start, tilt and the raw
channels as min/max envelopes, the centre-of-pressure path of each rep.

The web app draws every session chart from this record and never decodes raw chunks to show
a page; a session synced before boxes built records gets one computed once in the background
(``coach.review.series_jobs``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sync.series import SeriesFormatError, check_series


@dataclass
class RepTrace:
    number: int
    t0: float
    t1: float
    z_m: np.ndarray                       # bar height from the rep's start, evenly over t0..t1
    cop_m: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def t(self) -> np.ndarray:
        return np.linspace(self.t0, self.t1, self.z_m.size)

    @property
    def cop_t(self) -> np.ndarray:
        return np.linspace(self.t0, self.t1, 0 if self.cop_m is None else self.cop_m[0].size)


@dataclass
class ChartSeries:
    """What the session charts draw, from one record."""

    duration_s: float = 0.0
    bucket_s: float = 0.0
    final: bool = True
    reps: list[RepTrace] = field(default_factory=list)
    envelopes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    tilt_level_deg: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def raw(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {k: v for k, v in self.envelopes.items() if k not in DERIVED}

    @property
    def tilt(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(bucket centre s, lowest, highest tilt from level in the bucket)."""
        if "tilt_deg" not in self.envelopes:
            return None
        _, v = self.envelopes["tilt_deg"]
        low, high = v[0::2] - self.tilt_level_deg, v[1::2] - self.tilt_level_deg
        return (np.arange(low.size) + 0.5) * self.bucket_s, low, high

    @property
    def spans(self) -> list[tuple[int, float, float]]:
        return [(r.number, r.t0, r.t1) for r in self.reps]

    def height_line(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Every rep's bar height from its own start, at its time, NaN between reps."""
        if not self.reps:
            return None
        return _joined([(r.t, r.z_m) for r in self.reps])

    def cop_paths(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(t, x, y) of the reps' centre-of-pressure paths, NaN between reps."""
        paths = [(r.cop_t, *r.cop_m) for r in self.reps if r.cop_m is not None]
        if not paths:
            return None
        t, x = _joined([(p[0], p[1]) for p in paths])
        _, y = _joined([(p[0], p[2]) for p in paths])
        return t, x, y


DERIVED = frozenset({"tilt_deg", "cop_x", "cop_y"})


def _joined(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    ts, vs = [], []
    for t, v in parts:
        ts += [t, [t[-1]]]
        vs += [v, [np.nan]]
    return np.concatenate(ts), np.concatenate(vs)


def _values(counts: list[Any], scale: float) -> np.ndarray:
    return np.array([np.nan if c is None else c * scale for c in counts], dtype=float)


def envelope_line(lo: np.ndarray, hi: np.ndarray, bucket_s: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A line through each bucket's minimum and maximum (a quarter and three quarters into
    the bucket), so every peak is drawn; an empty bucket is a gap."""
    k = np.arange(lo.size)
    t = np.column_stack([(k + 0.25) * bucket_s, (k + 0.75) * bucket_s]).ravel()
    return t, np.column_stack([lo, hi]).ravel()


def chart_series(doc: Any, final: bool = True) -> ChartSeries:
    """Decode a record (``SeriesFormatError`` when it is not one)."""
    check_series(doc)
    out = ChartSeries(float(doc["duration_s"]), float(doc["bucket_s"]), final,
                      tilt_level_deg=float(doc.get("tilt_level_deg") or 0.0),
                      notes=list(doc.get("notes", [])))
    for name, env in doc["envelopes"].items():
        out.envelopes[name] = envelope_line(_values(env["min"], env["scale"]),
                                            _values(env["max"], env["scale"]), out.bucket_s)
    for rep in doc["reps"]:
        z = _values(rep["z_mm"], 0.001)
        if z.size < 2:
            continue
        cop = rep.get("cop_mm")
        out.reps.append(RepTrace(rep["n"], float(rep["t0"]), float(rep["t1"]), z,
                                 None if cop is None or len(cop[0]) < 2 else
                                 (_values(cop[0], 0.001), _values(cop[1], 0.001))))
    return out


def load_series(conn: Any, session_id: str) -> ChartSeries | None:
    """The session's record from PostgreSQL, or None when it has none (yet)."""
    with conn.cursor() as cur:
        cur.execute("SELECT series, final FROM session_series WHERE session = %s", (session_id,))
        row = cur.fetchone()
    if row is None:
        return None
    try:
        return chart_series(row[0], bool(row[1]))
    except SeriesFormatError as exc:
        return ChartSeries(notes=[f"the session's display series cannot be read: {exc}"])
