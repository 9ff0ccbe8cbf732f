"""The velocity-loss cue: the first rep whose velocity loss against the set's best rep so far
reaches the coach's limit (Pareja-Blanco et al. 2017 prescribe sets ended at 10-40 %).

Velocity loss of rep i = 100 * (best velocity of reps 1..i - velocity of rep i) / that best,
the same reference as ``models.metrics.velocity_loss_pct`` (the fastest rep) but known at rep
i, so the box can cue as the rep ends. A rep without a velocity neither sets the best nor
fires the cue.

The cue judges the loss on ``RepMetrics.mid_range_velocity_mps`` (the mean speed over 10-90 %
of the concentric range), not on the mean concentric velocity: the latter's phase ends sit in
slow tails and move with a little velocity drift, 3 % per rep on the simulator, enough to move
the cue by a rep in one set in three; the mid-range speed varies 0.5 % (docs/metrics.md).
"""
from __future__ import annotations

import math
from typing import Sequence


def running_velocity_loss(mean_velocities: Sequence[float | None]) -> list[float | None]:
    """Per rep, its velocity loss (%) against the best rep up to and including it."""
    best, out = 0.0, []
    for v in mean_velocities:
        if v is None or not math.isfinite(v) or v <= 0:
            out.append(None)
            continue
        best = max(best, v)
        out.append(100.0 * (best - v) / best)
    return out


def reaches_limit(loss_pct: float | None, limit_pct: float | None) -> bool:
    return limit_pct is not None and loss_pct is not None and loss_pct >= limit_pct - 1e-9


CUE_VELOCITY = "mid_range_velocity_mps"


def cue_velocities(reps: Sequence[object]) -> list[float | None]:
    """The velocities the cue compares, one per rep (``CUE_VELOCITY``)."""
    return [getattr(r, CUE_VELOCITY) for r in reps]


def cue_rep(numbers: Sequence[int], mean_velocities: Sequence[float | None],
            limit_pct: float | None) -> tuple[int, float] | None:
    """(rep number, its velocity loss %) of the first rep reaching ``limit_pct``; None when
    no rep does or there is no limit."""
    for number, loss in zip(numbers, running_velocity_loss(mean_velocities)):
        if reaches_limit(loss, limit_pct):
            return number, float(loss)  # type: ignore[arg-type]
    return None
