"""How far the athlete's own clean reps lie from their own norm, learnt at enrolment.

Athletes differ in how much their clean reps vary from one to the next. On the real squat
data the median rep Mahalanobis distance of a clean rep from its own athlete's norm (each rep
left out of the norm it is scored against) ranged from 15 to 28 across six athletes, and a
later set's clean reps followed it (docs/models.md). With one population threshold, the
variable athletes set the threshold and the steady athletes' faults fall below it. Scoring a
rep's distance *beyond* (a share of) the far end of the athlete's own enrolment distances puts
athletes on one scale without estimating a spread from ten reps per feature.

``fit_bundle(enrolment_baseline=w)`` also calibrates in both directions: each calibration
athlete's later clean reps against their enrolment norm (as before), and their enrolment reps
against a norm from their later reps. Both are "a clean rep of a new set, scored against a
norm the athlete gave at another time", the question the box asks; twice the calibration reps
make the population threshold steadier.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from models.anomaly.pipeline import (
    AthleteProfile,
    Components,
    Geometry,
    PreparedSegment,
    compute_profile,
    prepare_segment,
)

BASELINE_PERCENTILE = 90.0
"""Which of the athlete's leave-one-out enrolment distances is their baseline: near the far end
of their own clean reps. On the real squat data (proxy, docs/models.md) the 90th percentile
took more of the athletes' differences out than the median, and, unlike the largest distance,
kept its false alarms when the athlete enrolled with 5 or 3 reps instead of 10."""


def leave_one_out_features(segments: Sequence[np.ndarray], geometry: Geometry,
                           profile: AthleteProfile | None = None) -> np.ndarray:
    """Rep features of each segment with a complete rep, centred on the median rep features of
    the *other* segments (n_complete x F; no rows with fewer than 2 complete reps).

    The channel offset is the whole norm's (``profile``, computed when not given): it moves
    every rep's features alike, so re-deriving it without each rep would cost a full
    preparation of the others per rep for a change far below the reps' own spread.
    """
    profile = compute_profile(segments, geometry) if profile is None else profile
    features = [prepare_segment(s, geometry, profile).rep_features for s in segments]
    complete = np.array([f for f in features if f is not None])
    if len(complete) < 2:
        return np.empty((0, len(geometry.rep_feature_names)))
    return np.array([complete[i] - np.median(np.delete(complete, i, axis=0), axis=0) for i in range(len(complete))])


def baseline_distance(components: Components, left_out: np.ndarray) -> float:
    """``BASELINE_PERCENTILE`` of the rep Mahalanobis distances of ``leave_one_out_features``
    rows (0 without the detector or without any row)."""
    if components.rep_mahalanobis is None or not len(left_out):
        return 0.0
    z = np.array([components.rep_z(row) for row in left_out])
    return float(np.percentile(components.rep_mahalanobis.anomaly_score(z), BASELINE_PERCENTILE))


@dataclass
class _AthleteDirection:
    scored: list[PreparedSegment]
    """Clean reps of one occasion, prepared against the norm of the other occasion."""
    norm_left_out: np.ndarray
    """The other occasion's rep features, each against the norm of the rest of that occasion."""

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
            directions = [_AthleteDirection([records[i] for i in later], leave_one_out_features(norm, geometry))]
            later_arrays = [arrays[i] for i in later]
            if len(later_arrays) >= 2:
                reverse_profile = compute_profile(later_arrays, geometry)
                reverse = [prepare_segment(a, geometry, reverse_profile) for a in norm]
                directions.append(_AthleteDirection([r for r in reverse if r.rep_features is not None],
                                                    leave_one_out_features(later_arrays, geometry, reverse_profile)))
            self._by_athlete[athlete] = directions

    def __call__(self, components: Components, held_out: Sequence[int]) -> list[PreparedSegment]:
        athletes = dict.fromkeys(self._groups[i] for i in held_out)
        return [record for athlete in athletes for direction in self._by_athlete[athlete]
                for record in direction.with_baseline(components)]
