"""Reps grouped into sets by the rests between them.

Rule: a rep starts a new set when more than ``SET_REST_S`` (30 s) pass between the end of the
rep before it and its own start (``start_s``/``end_s`` of the rep metrics, seconds on the
session's clock). A rep without times stays in the set of the rep before it. Within a set,
velocity loss is measured against the best rep so far in that set (a rest lets the athlete
recover, so the next set starts afresh).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

SET_REST_S = 30.0


@dataclass
class RepSet:
    number: int
    reps: list[Any] = field(default_factory=list)
    rest_before_s: float | None = None

    @property
    def first(self) -> int:
        return self.reps[0].number

    @property
    def last(self) -> int:
        return self.reps[-1].number

    @property
    def start_s(self) -> float | None:
        return next((r.get("start_s") for r in self.reps if r.get("start_s") is not None), None)

    @property
    def end_s(self) -> float | None:
        return next((r.get("end_s") for r in reversed(self.reps)
                     if r.get("end_s") is not None), None)

    def mean(self, key: str) -> float | None:
        values = [v for v in (r.get(key) for r in self.reps) if v is not None]
        return sum(values) / len(values) if values else None

    @property
    def velocity_loss_pct(self) -> float | None:
        return self.reps[-1].velocity_loss_pct if self.reps else None

    @property
    def problems(self) -> int:
        return sum(1 for r in self.reps if r.problem)


def group_sets(reps: Sequence[Any]) -> list[RepSet]:
    """Sets of ``reps`` (rows with ``number``, ``get(key)`` and ``velocity_loss_pct``), in
    order; sets each rep's ``set_number`` and its velocity loss within its set."""
    sets: list[RepSet] = []
    last_end: float | None = None
    for rep in reps:
        start, end = rep.get("start_s"), rep.get("end_s")
        rest = start - last_end if start is not None and last_end is not None else None
        if not sets or (rest is not None and rest > SET_REST_S):
            sets.append(RepSet(len(sets) + 1, rest_before_s=rest))
        sets[-1].reps.append(rep)
        rep.set_number = sets[-1].number
        if end is not None:
            last_end = end
    for s in sets:
        best = 0.0
        for rep in s.reps:
            mcv = rep.get("mean_concentric_velocity_mps")
            if mcv is None:
                rep.velocity_loss_pct = None
                continue
            best = max(best, mcv)
            rep.velocity_loss_pct = 100.0 * (best - mcv) / best if best > 0 else None
    return sets
