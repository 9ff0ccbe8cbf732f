"""Nested leave-one-subject-out check of the enrolment baseline, at the operating point.

The squat evaluation takes the 90th percentile of each athlete's leave-one-out enrolment
distances (``enrolment_baseline.BASELINE_PERCENTILE``) times a weight (``ENROLMENT_BASELINE``)
off each rep's distance. Both were picked by looking at all six subjects. This repeats the
pick without the subject being reported: for each outer subject, the candidate with the most
detection at no more than ``MAX_FALSE_ALARMS`` on the other five subjects (each in turn held
out, calibrated on the remaining four) is used on the outer subject. It is done twice: over
the weights with the shipped percentile, and over every statistic and weight tried. It also
reports a few candidates when the tested athlete enrols with 5 or 3 reps instead of 10.

It uses ``nested_choice``'s fast stand-in for the bundle (the same rep features, centred on
the athlete's norm, robust z-scores against the training athletes' clean reps, the
shrunk-covariance distance), with the bundle's calibration: the empirical tail of other
athletes' clean reps of one set scored against a norm from their other set, in both directions,
each calibration athlete scored by a model that did not see them.

Run: ``python -m evaluation.nested_baseline DATA_DIR`` (prints JSON; about 20 s).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from evaluation.metrics import count_with_interval
from evaluation.nested_choice import feature_sets
from evaluation.squat_dataset import ENROLMENT_BASELINE, load_reps
from models.anomaly.detectors import CompiledMahalanobis, fit_shrunk_covariance
from models.anomaly.enrolment_baseline import BASELINE_PERCENTILE

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
STATISTICS: dict[str, Callable[[np.ndarray], float]] = {
    "median": np.median,
    "percentile75": lambda d: np.percentile(d, 75),
    "percentile90": lambda d: np.percentile(d, 90),
    "max": np.max,
}
SHIPPED_STATISTIC = f"percentile{BASELINE_PERCENTILE:g}"
ALPHA = 0.05
"""The nominal false-alarm rate of the squat evaluation's bundles."""
MAX_FALSE_ALARMS = 0.10
SMALLER_ENROLMENTS = (5, 3)

Candidate = tuple[str, float]
"""(statistic of the leave-one-out enrolment distances, weight)."""


@dataclass(frozen=True)
class Squats:
    features: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    sets: np.ndarray

    def clean(self, subject: int, set_no: int) -> np.ndarray:
        return (self.subjects == subject) & (self.labels == 0) & (self.sets == set_no)


class StandIn:
    """The rep distance of a model fitted on ``train`` subjects' clean reps (each centred on
    their set-1 norm, the covariance within each subject's set, as ``fit_bundle`` with
    ``enrolment`` does), scoring any rep against any norm."""

    def __init__(self, data: Squats, train: tuple[int, ...]) -> None:
        X = data.features
        own = [(data.subjects == s) & (data.labels == 0) for s in train]
        reference = np.concatenate([X[rows] - np.median(X[data.clean(s, 1)], axis=0) for s, rows in zip(train, own)])
        occasions = [(s, k) for s, rows in zip(train, own) for k in data.sets[rows].tolist()]
        self.median = np.median(reference, axis=0)
        self.scale = 1.4826 * np.median(np.abs(reference - self.median), axis=0) + 1e-9
        self.model = CompiledMahalanobis(fit_shrunk_covariance((reference - self.median) / self.scale, occasions))

    def distance(self, reps: np.ndarray, norm: np.ndarray) -> np.ndarray:
        return self.model.anomaly_score((reps - norm - self.median) / self.scale)

    def left_out(self, norm_reps: np.ndarray) -> np.ndarray:
        """Each norm rep's distance from the norm of the others (``enrolment_baseline``)."""
        return np.array([self.distance(norm_reps[i][None], np.median(np.delete(norm_reps, i, axis=0), axis=0))[0]
                         for i in range(len(norm_reps))])


class Experiment:
    """Distances computed once per (training subjects, athlete, direction), reused by every
    candidate."""

    def __init__(self, data: Squats) -> None:
        self.data = data
        self.subjects = sorted(set(data.subjects.tolist()))
        self._stand_in = cache(lambda train: StandIn(data, train))
        self._distances = cache(self._compute)

    def _compute(self, train: tuple[int, ...], athlete: int, scored_set: int, every_rep: bool, enrol_reps: int | None):
        """(distances of the scored reps, leave-one-out distances of the other set's first
        ``enrol_reps`` (all when None), faulty flags)."""
        data, stand_in = self.data, self._stand_in(train)
        rows = (data.subjects == athlete) & (data.sets == scored_set) if every_rep else data.clean(athlete, scored_set)
        norm_reps = data.features[data.clean(athlete, 3 - scored_set)][:enrol_reps]
        scores = stand_in.distance(data.features[rows], np.median(norm_reps, axis=0))
        return scores, stand_in.left_out(norm_reps), data.labels[rows] != 0

    def scores(self, train, athlete, scored_set, candidate: Candidate, every_rep=False, enrol_reps=None):
        distances, left_out, faulty = self._distances(tuple(train), athlete, scored_set, every_rep, enrol_reps)
        statistic, weight = candidate
        return distances - weight * STATISTICS[statistic](left_out), faulty

    def alarms(self, test: int, pool: list[int], candidate: Candidate,
               enrol_reps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Alarms on ``test``'s set 2 (enrolled on the first ``enrol_reps`` of set 1) and
        whether each rep is faulty, with the threshold calibrated on the rest of ``pool``."""
        train = [s for s in pool if s != test]
        reference = np.concatenate([self.scores([s for s in train if s != a], a, scored, candidate)[0]
                                    for a in train for scored in (2, 1)])
        scores, faulty = self.scores(train, test, 2, candidate, every_rep=True, enrol_reps=enrol_reps)
        p = (1 + (reference[None, :] >= scores[:, None]).sum(axis=1)) / (len(reference) + 1)
        return p <= ALPHA, faulty

    def pooled(self, tests: list[int], pool: list[int], choose: Callable[[int], Candidate],
               enrol_reps: int | None = None):
        results = [self.alarms(s, pool, choose(s), enrol_reps) for s in tests]
        return np.concatenate([a for a, _ in results]), np.concatenate([f for _, f in results])

    def operating_point(self, pool: list[int], candidate: Candidate,
                        enrol_reps: int | None = None) -> tuple[float, float]:
        """(detection, false-alarm rate) pooled over every subject of ``pool`` held out in turn."""
        alarm, faulty = self.pooled(pool, pool, lambda _: candidate, enrol_reps)
        return float(alarm[faulty].mean()), float(alarm[~faulty].mean())

    def pick(self, pool: list[int], candidates: list[Candidate]) -> Candidate:
        """The candidate with the most detection at no more than ``MAX_FALSE_ALARMS`` on ``pool``."""
        points = {c: self.operating_point(pool, c) for c in candidates}
        allowed = [c for c, (_, fa) in points.items() if fa <= MAX_FALSE_ALARMS] or [min(points, key=lambda c: points[c][1])]
        return max(allowed, key=lambda c: points[c][0])

    def nested(self, candidates: list[Candidate]) -> dict:
        picks = {s: self.pick([t for t in self.subjects if t != s], candidates) for s in self.subjects}
        alarm, faulty = self.pooled(self.subjects, self.subjects, picks.get)
        return {"picks": {f"subject{s}": f"{c[0]} x {c[1]:g}" for s, c in picks.items()},
                "detection": count_with_interval(alarm[faulty]), "false_alarms": count_with_interval(alarm[~faulty])}


def evaluate(data_dir: Path) -> dict:
    reps = load_reps(data_dir)
    data = Squats(feature_sets(reps)["signal_statistics+body_frame"],
                  *(np.array([getattr(r, k) for r in reps]) for k in ("label", "subject", "set_no")))
    experiment = Experiment(data)
    everything = [(name, w) for name in STATISTICS for w in WEIGHTS]

    def points(candidates: list[Candidate], enrol_reps: int | None = None) -> dict:
        return {f"{name} x {w:g}": dict(zip(("detection", "false_alarms"), np.round(
            experiment.operating_point(experiment.subjects, (name, w), enrol_reps), 3))) for name, w in candidates}

    # calibration athletes keep their 10 enrolment reps; the tested athlete enrols with fewer
    smaller = [("median", 0.5), (SHIPPED_STATISTIC, ENROLMENT_BASELINE), ("max", 0.75)]
    return {"alpha": ALPHA, "shipped": f"{SHIPPED_STATISTIC} x {ENROLMENT_BASELINE:g}", "fixed": points(everything),
            "smaller_enrolment": {f"{k} reps": points(smaller, k) for k in SMALLER_ENROLMENTS},
            "nested_weight": experiment.nested([(SHIPPED_STATISTIC, w) for w in WEIGHTS]),
            "nested_statistic_and_weight": experiment.nested(everything)}


if __name__ == "__main__":
    print(json.dumps(evaluate(Path(sys.argv[1])), indent=2, default=float))
