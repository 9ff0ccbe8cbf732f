"""Clean training segments from frames: recordings, stored sessions or the simulator.

The model sees what the daemon sees: every source aligned on one grid at the model's rate
(``models.align_frames``), channels stacked in bundle order. A set gives its reps (the rep
analysis' start/end) as rep segments, and the whole set as one window-only segment, so the
window detectors also learn what a clean set looks like outside and across rep boundaries
(unrack, walk-out, rest, lockout) -- the real-time path scores every window of a session.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from models.analysis import analyze_frames
from models.signals import SourceSamples, align_sources, split_by_source
from sensors.frame import Frame

if TYPE_CHECKING:
    from sensors.simulator import SimulatedSet

log = logging.getLogger(__name__)


@dataclass
class SetSegments:
    """One set's aligned rows (T×C) and its rep segments with their bounds (s since start)."""

    rows: np.ndarray
    reps: list[np.ndarray] = field(default_factory=list)
    rep_bounds_s: list[tuple[float, float]] = field(default_factory=list)


def training_segments(sets: Iterable[SetSegments], n_folds: int = 5) -> tuple[list[np.ndarray], list[bool], list[int]]:
    """Segments, ``window_only`` flags and ``fold_groups`` for ``fit_bundle``: every rep plus
    each whole set, a set's segments always in the same one of ``n_folds`` calibration folds."""
    segments: list[np.ndarray] = []
    window_only: list[bool] = []
    folds: list[int] = []
    for index, one in enumerate(sets):
        segments += one.reps + [one.rows]
        window_only += [False] * len(one.reps) + [True]
        folds += [index % n_folds] * (len(one.reps) + 1)
    return segments, window_only, folds


def aligned_rows(frames: Iterable[Frame], channels: Sequence[str], rate_hz: float) -> np.ndarray:
    """All frames on one grid at ``rate_hz``, columns in ``channels`` order (NaN = no data)."""
    return source_rows(split_by_source(frames), channels, rate_hz)


def set_segments(frames: Sequence[Frame], lift: str, channels: Sequence[str], rate_hz: float) -> SetSegments:
    """One set's aligned rows and rep segments (rep bounds from ``analyze_frames``)."""
    rows = aligned_rows(frames, channels, rate_hz)
    analysis = analyze_frames(frames, lift)
    if "reps" in analysis.unavailable:
        log.warning("no reps found: %s", analysis.unavailable["reps"])
    out = SetSegments(rows)
    for rep in analysis.reps:
        start = max(int(round(rep.start_s * rate_hz)), 0)
        end = min(int(round(rep.end_s * rate_hz)) + 1, rows.shape[0])
        if end - start >= 2:
            out.reps.append(rows[start:end])
            out.rep_bounds_s.append((rep.start_s, rep.end_s))
    return out


@dataclass(frozen=True)
class SimulatedAthlete:
    body_mass_kg: float
    bar_load_kg: float


def simulated_athlete(lift: str, rng: np.random.Generator) -> SimulatedAthlete:
    """A plausible lifter and bar load for ``lift`` (50-85 % of the simulator's 1RM model)."""
    from sensors.simulator.athlete import PROFILES

    mass = float(rng.uniform(55.0, 105.0))
    one_rm = PROFILES[lift].one_rm_per_body_mass * mass
    load = float(np.round(rng.uniform(0.5, 0.85) * one_rm / 2.5) * 2.5)
    return SimulatedAthlete(mass, load)


def simulate_sets(n_sets: int, lifts: Sequence[str], seed: int, reps: int = 6,
                  faults_for: Callable[[str, int, np.random.Generator], dict[int, str]] | None = None,
                  rep_variability: tuple[float, float] = (1.0, 1.0),
                  ) -> Iterator[tuple[str, "SimulatedSet"]]:
    """``n_sets`` simulated sets per lift with varied athletes and loads, deterministic in ``seed``.

    ``faults_for(lift, index, rng) -> {rep: fault}`` injects faults; clean sets by default.
    ``rep_variability`` (low, high): each athlete's rep-to-rep spread is drawn log-uniformly
    from it (``Athlete.rep_variability``); the default (1, 1) draws nothing, so the sets of a
    seed are those of before. Yields ``(lift, SimulatedSet)``.
    """
    from sensors.simulator import simulate_set

    rng = np.random.default_rng(seed)
    for lift in lifts:
        for index in range(n_sets):
            athlete = simulated_athlete(lift, rng)
            faults = faults_for(lift, index, rng) if faults_for else {}
            spread = _draw_spread(rep_variability, rng)
            yield lift, simulate_set(lift, reps=reps, faults=faults, seed=int(rng.integers(1 << 31)),
                                     athlete_mass_kg=athlete.body_mass_kg, bar_load_kg=athlete.bar_load_kg,
                                     rep_variability=spread)


def _draw_spread(rep_variability: tuple[float, float], rng: np.random.Generator) -> float:
    """An athlete's rep-to-rep spread, log-uniform in (low, high); no draw when they are equal."""
    low, high = rep_variability
    return low if low == high else float(np.exp(rng.uniform(np.log(low), np.log(high))))


def simulate_athletes(n_athletes: int, lifts: Sequence[str], seed: int, reps: int = 6,
                      rep_variability: tuple[float, float] = (0.5, 2.0),
                      ) -> Iterator[tuple[str, int, float, list["SimulatedSet"]]]:
    """``n_athletes`` simulated athletes per lift, each doing two clean sets (the first is their
    enrolment), deterministic in ``seed``. An athlete keeps body mass, bar load and rep-to-rep
    spread (drawn log-uniformly from ``rep_variability``) and their own depth and descent time (``sensors.simulator.Style``: drawn as a set without one would, then
    changed a little from set to set). Everything else the seed draws is the set's own,
    including the IMU's bias (as after the sensor was re-mounted or re-calibrated). Yields ``(lift, index, spread, [set 1, set 2])``."""
    from sensors.simulator import simulate_set
    from sensors.simulator.athlete import PROFILES, drawn_style

    rng = np.random.default_rng(seed)
    for lift in lifts:
        for index in range(n_athletes):
            athlete = simulated_athlete(lift, rng)
            spread = _draw_spread(rep_variability, rng)
            style = drawn_style(PROFILES[lift], rng)
            sets = [simulate_set(lift, reps=reps, seed=int(rng.integers(1 << 31)), athlete_mass_kg=athlete.body_mass_kg,
                                 bar_load_kg=athlete.bar_load_kg, rep_variability=spread, style=style)
                    for _ in range(2)]
            yield lift, index, spread, sets


def rep_decisions(model: Any, frames: Sequence[Frame], reps: Sequence[Any], profile: Any = None) -> list[Any]:
    """The model's per-rep decision for each rep of the rep analysis (``start_s``/``end_s``
    since the first frame); None for a rep too short to score or when the frames lack the
    model's channels."""
    return source_rep_decisions(model, split_by_source(frames) if reps else {}, reps, profile)


def source_rep_decisions(model: Any, by_source: Mapping[str, SourceSamples], reps: Sequence[Any],
                         profile: Any = None) -> list[Any]:
    """``rep_decisions`` of frames already grouped per source (``split_by_source`` or
    ``FrameColumns.samples()``)."""
    if not reps:
        return []
    rate = model.sample_rate_hz
    spans = [(max(0, int(round(rep.start_s * rate))), int(round(rep.end_s * rate)) + 1) for rep in reps]
    try:
        if len(reps) == 1:   # the session worker's rep: only its span is resampled (same rows)
            segments = [source_rows(by_source, model.channels, rate, spans[0])]
        else:
            rows = source_rows(by_source, model.channels, rate)
            segments = [rows[i0:i1] for i0, i1 in spans]
    except ValueError as exc:
        log.debug("no per-rep model decisions: %s", exc)
        return [None] * len(reps)
    return [model.rep_decision(seg, profile) if len(seg) >= 2 else None for seg in segments]


def source_rows(by_source: Mapping[str, SourceSamples], channels: Sequence[str], rate_hz: float,
                span: tuple[int, int] | None = None) -> np.ndarray:
    """``aligned_rows`` of frames already grouped per source (``span``: only those grid
    points, as ``align_sources`` gives them)."""
    sig = align_sources(dict(by_source), rate_hz=rate_hz, span=span)
    missing = [c for c in channels if c not in sig.channels]
    if missing:
        raise ValueError(f"the frames have no {', '.join(missing)} channel(s); the model needs {list(channels)}")
    return sig.stack(channels)


def flagged_attribution(decision: Any) -> Any:
    """The attribution of a decision that flagged its rep, else None (for ``rep_feedback``)."""
    return decision.attribution if decision is not None and decision.anomalous else None
