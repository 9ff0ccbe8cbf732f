"""The athlete's typical distance from their own norm, learnt at enrolment.

Athletes differ in how much their clean reps vary from one to the next. On the real squat
data the median rep Mahalanobis distance of a clean rep from its own athlete's norm (each rep
left out of the norm it is scored against) ranged from 15 to 28 across six athletes, and a
later set's clean reps followed it (docs/models.md). With one population threshold, the
variable athletes set the threshold and the steady athletes' faults fall below it. Scoring a
rep's distance *beyond* part of the athlete's own typical distance puts athletes on one scale
without estimating a spread from ten reps per feature.

``fit_bundle(enrolment_baseline=w)`` also calibrates in both directions: each calibration
athlete's later clean reps against their enrolment norm (as before), and their enrolment reps
against a norm from their later reps. Both are "a clean rep of a new set, scored against a
norm the athlete gave at another time", the question the box asks; twice the calibration reps
make the population threshold steadier.
"""
from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from models.anomaly.pipeline import Components, Geometry, PreparedSegment, compute_profile, prepare_segment

log = logging.getLogger(__name__)


def leave_one_out_records(segments: Sequence[np.ndarray], geometry: Geometry) -> list[PreparedSegment]:
    """Each segment prepared against the norm of the *other* segments (none for a segment whose
    others hold no complete rep, or which has no complete rep itself)."""
    records = []
    for i, segment in enumerate(segments):
        try:
            profile = compute_profile([s for j, s in enumerate(segments) if j != i], geometry)
        except ValueError:
            continue
        record = prepare_segment(segment, geometry, profile)
        if record.rep_features is not None:
            records.append(record)
    return records


def baseline_distance(components: Components, left_out: Sequence[PreparedSegment]) -> float:
    """Median rep Mahalanobis distance of ``leave_one_out_records`` (0 without the detector or
    without any complete rep)."""
    if components.rep_mahalanobis is None or not left_out:
        return 0.0
    z = np.array([components.rep_z(record.rep_features) for record in left_out])
    return float(np.median(components.rep_mahalanobis.anomaly_score(z)))


@dataclass
class _AthleteDirection:
    scored: list[PreparedSegment]
    """Clean reps of one occasion, prepared against the norm of the other occasion."""
    norm_left_out: list[PreparedSegment]
    """The other occasion's reps, each against the norm of the rest of that occasion."""

    def with_baseline(self, components: Components) -> list[PreparedSegment]:
        baseline = baseline_distance(components, self.norm_left_out)
        return [replace(record, rep_baseline=baseline) for record in self.scored]


class BothDirections:
    """The rep calibration sets of ``fit_bundle(enrolment_baseline=...)``, per athlete.

    Called by ``calibrate_out_of_fold`` with a fold's model and the indices of its held-out
    segments; returns those athletes' calibration reps with baselines measured by that model
    (the baseline is a distance, so it depends on the model scoring it).
    """

    def __init__(self, arrays: Sequence[np.ndarray], groups: Sequence[Hashable], enrolled: Sequence[bool],
                 records: Sequence[PreparedSegment], geometry: Geometry) -> None:
        self._groups = list(groups)
        self._by_athlete: dict[Hashable, list[_AthleteDirection]] = {}
        for athlete in dict.fromkeys(self._groups):
            own = [i for i, g in enumerate(self._groups) if g == athlete]
            norm = [arrays[i] for i in own if enrolled[i]]
            later = [i for i in own if not enrolled[i] and records[i].rep_features is not None]
            directions = [_AthleteDirection([records[i] for i in later], leave_one_out_records(norm, geometry))]
            later_arrays = [arrays[i] for i in later]
            if len(later_arrays) >= 2:
                reverse_profile = compute_profile(later_arrays, geometry)
                reverse = [prepare_segment(a, geometry, reverse_profile) for a in norm]
                directions.append(_AthleteDirection([r for r in reverse if r.rep_features is not None],
                                                    leave_one_out_records(later_arrays, geometry)))
            self._by_athlete[athlete] = directions

    def __call__(self, components: Components, held_out: Sequence[int]) -> list[PreparedSegment]:
        athletes = dict.fromkeys(self._groups[i] for i in held_out)
        return [record for athlete in athletes for direction in self._by_athlete[athlete]
                for record in direction.with_baseline(components)]
