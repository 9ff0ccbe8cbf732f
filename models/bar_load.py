"""Bar load weighed by the platform: the lifter alone against the lifter holding the bar.

Around a set the platform sees the lifter standing (or lying on the bench) still without the
bar, and still while holding it: before the unrack and after the re-rack (squat, bench press)
or with the plates on the floor between reps (deadlift), against the walk-out settle and the
pauses at lockout (squat, bench press) or the holds at lockout (deadlift). Only these still
stretches are used, never the reps: during a rep the platform also carries the acceleration of
the bar and of the body moving with it. The bar's mass is the difference of the two levels
divided by g. docs/metrics.md ("Bar load") gives the geometry assumed per lift and the
uncertainty; :func:`measure_bar_load` says why when it cannot measure.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from sensors.frame import STANDARD_GRAVITY

STILL_WINDOW_S = 0.25        # rolling window judging whether the platform reads steadily
MIN_STILL_S = 0.4            # shortest still stretch used
EDGE_TRIM_S = 0.05           # dropped at both ends of a still stretch
STILL_FLOOR_N = 4.0          # a window is still when its force SD is below max(this, 4 x noise)
CORRELATION_S = 0.1          # samples this close are not independent (sway, filter)
SCALE_UNCERTAINTY = 0.005    # relative, 95 %: load-cell calibration against a known mass
MIN_STEP_KG = 2.5            # a smaller step is not a bar leaving its rest
SPOTTER_SPREAD_KG = 1.5      # held stretches disagreeing by more than this, and than
SPOTTER_SPREAD_SD = 3.0      # this many times the force SD inside them: someone else holds the bar
COVERAGE = 1.96              # the uncertainty is a 95 % half-width

NO_PLATFORM = "no usable platform channels (f_fl f_fr f_rl f_rr)"
NO_IMU = ("no bar motion: the bar IMU is needed to tell when the bar left the rack or the "
          "floor")
BENCH_OFF = ("the bench stands off the platform ([loadcells] bench_on_platform = false): the "
             "load cells carry only the lifter's feet, not the bar")


@dataclass
class BarLoad:
    """A set's bar load as the platform weighed it; ``kg`` is None with ``reason`` when not."""

    kg: float | None = None
    uncertainty_kg: float | None = None      # 95 % half-width
    alone_stretches: int = 0
    holding_stretches: int = 0
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Stretch:
    i0: int
    i1: int          # inclusive
    mean_n: float
    sd_n: float

    @property
    def n(self) -> int:
        return self.i1 - self.i0 + 1


def total_force(forces: np.ndarray) -> np.ndarray:
    """Sum of the four corner forces, NaN where any corner is missing."""
    return np.where(np.all(np.isfinite(forces), axis=1), np.nansum(forces, axis=1), np.nan)


def still_stretches(total: np.ndarray, rate_hz: float, bar_rest: np.ndarray | None = None
                    ) -> list[_Stretch]:
    """Runs where the platform reads steadily (and the bar rests, when ``bar_rest`` is given)."""
    w = max(3, int(round(STILL_WINDOW_S * rate_hz)))
    n = total.size
    if n < w:
        return []
    ok = np.isfinite(total)
    x = np.where(ok, total, 0.0)
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    cn = np.concatenate([[0], np.cumsum(~ok)])
    half = w // 2
    lo = np.clip(np.arange(n) - half, 0, n - w)
    hi = lo + w
    mean = (c1[hi] - c1[lo]) / w
    sd = np.sqrt(np.maximum((c2[hi] - c2[lo]) / w - mean ** 2, 0.0))
    sd[(cn[hi] - cn[lo]) > 0] = np.inf
    finite = sd[np.isfinite(sd)]
    if finite.size == 0:
        return []
    noise = float(np.percentile(finite, 10))
    still = sd < max(STILL_FLOOR_N, 4.0 * noise)
    if bar_rest is not None:
        still &= bar_rest[:n]
    trim = int(round(EDGE_TRIM_S * rate_hz))
    out = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], still.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2] - 1):
        a, b = a + trim, b - trim
        if (b - a + 1) / rate_hz >= MIN_STILL_S:
            seg = total[a:b + 1]
            out.append(_Stretch(int(a), int(b), float(np.mean(seg)), float(np.std(seg))))
    return out


def _level(stretches: Sequence[_Stretch], rate_hz: float
           ) -> tuple[float, float, float, float]:
    """(mean force, its standard error, spread between stretches, pooled SD inside them)."""
    n = np.array([s.n for s in stretches], dtype=float)
    means = np.array([s.mean_n for s in stretches])
    level = float(np.sum(n * means) / np.sum(n))
    within = float(np.sqrt(np.sum(n * np.array([s.sd_n for s in stretches]) ** 2) / np.sum(n)))
    n_eff = max(1.0, float(np.sum(n)) / max(1.0, CORRELATION_S * rate_hz))
    se = within / math.sqrt(n_eff)
    spread = float(means.max() - means.min()) if len(stretches) > 1 else 0.0
    if len(stretches) > 1:
        se = max(se, float(np.std(means, ddof=1)) / math.sqrt(len(stretches)))
    return level, se, spread, within


def measure_bar_load(forces: np.ndarray | None, rate_hz: float, lift: str,
                     bar_rest: np.ndarray | None, reps: Sequence[tuple[int, int]],
                     bench_on_platform: bool = True) -> BarLoad:
    """Weigh the bar from the platform's still stretches.

    ``forces``: (n, 4) corner forces on the analysis grid; ``bar_rest``: the bar IMU's rest
    mask on the same grid (None without a usable IMU); ``reps``: each rep's (start, end)
    sample indices. Squat and bench press: stretches before the bar first moves and after it
    last moves are the lifter alone, those in between (walk-out settle, lockout pauses) the
    lifter holding the bar. Deadlift: stretches inside a rep (the lockout hold) hold the
    bar, those outside (plates on the floor) are the lifter alone.
    """
    if lift == "bench_press" and not bench_on_platform:
        return BarLoad(reason=BENCH_OFF)
    if forces is None:
        return BarLoad(reason=NO_PLATFORM)
    if bar_rest is None:
        return BarLoad(reason=NO_IMU)
    total = total_force(forces)
    stretches = still_stretches(total, rate_hz, bar_rest)
    moving = np.flatnonzero(~bar_rest[:total.size])
    if moving.size == 0:
        return BarLoad(reason="the bar never moved, so it never left the rack or the floor")
    if lift == "deadlift":
        def holding(s: _Stretch) -> bool:
            return any(a <= s.i0 and s.i1 <= b for a, b in reps)

        def alone(s: _Stretch) -> bool:
            return not any(s.i1 >= a and s.i0 <= b for a, b in reps)
        where = ("with the plates on the floor between reps", "held at lockout")
    else:
        first, last = int(moving[0]), int(moving[-1])

        def holding(s: _Stretch) -> bool:
            return first < s.i0 and s.i1 < last

        def alone(s: _Stretch) -> bool:
            return s.i1 < first or s.i0 > last
        where = ("before the unrack or after the re-rack",
                 "after the walk-out or at lockout between reps")
    alone_s = [s for s in stretches if alone(s)]
    held_s = [s for s in stretches if holding(s)]
    result = BarLoad(alone_stretches=len(alone_s), holding_stretches=len(held_s))
    if not alone_s or not held_s:
        missing = [f"without the bar ({where[0]})" if not alone_s else None,
                   f"with the bar ({where[1]})" if not held_s else None]
        result.reason = (f"no still stretch of at least {MIN_STILL_S:g} s "
                         f"{' or '.join(m for m in missing if m)}")
        return result
    g = STANDARD_GRAVITY
    base, se_a, _, _ = _level(alone_s, rate_hz)
    held, se_h, spread, sd = _level(held_s, rate_hz)
    # A lifter breathing and adjusting moves a short stretch's mean by about the force SD
    # inside the stretches; a spotter's hands move it by a share of the bar's weight.
    if spread / g > max(SPOTTER_SPREAD_KG, SPOTTER_SPREAD_SD * sd / g):
        result.reason = (f"the platform's reading with the bar held changed by "
                         f"{spread / g:.1f} kg between still stretches: someone else (a "
                         f"spotter) or something (safeties, the rack) took part of the bar's "
                         f"weight, so the load is not measured")
        return result
    kg = (held - base) / g
    if kg < MIN_STEP_KG:
        result.reason = (f"the bar never left the rack as far as the platform can tell: it "
                         f"read {kg:+.1f} kg more with the bar held than without (a rack or "
                         f"uprights standing on the platform carry the racked bar too)")
        return result
    statistical = math.sqrt(se_a ** 2 + se_h ** 2) / g
    result.kg = float(kg)
    result.uncertainty_kg = float(math.hypot(COVERAGE * statistical, SCALE_UNCERTAINTY * kg))
    return result


def rep_load_fields(measured: BarLoad, entered_kg: float | None) -> dict[str, Any]:
    """What each rep of the set stores about its load: ``bar_load_kg`` with its
    ``bar_load_source`` (an entered load wins over the measured one), and both values."""
    fields: dict[str, Any] = {"bar_load_measured_kg": measured.kg,
                              "bar_load_uncertainty_kg": measured.uncertainty_kg,
                              "bar_load_entered_kg": entered_kg}
    if measured.kg is None:
        fields["bar_load_unmeasured_reason"] = measured.reason
    if entered_kg is not None:
        fields.update(bar_load_kg=float(entered_kg), bar_load_source="entered")
    elif measured.kg is not None:
        fields.update(bar_load_kg=measured.kg, bar_load_source="measured")
    else:
        fields.update(bar_load_kg=None, bar_load_source=None)
    return fields
