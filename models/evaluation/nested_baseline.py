"""Nested leave-one-subject-out check of the enrolment-baseline weight, at the operating point.

The squat evaluation takes half of each athlete's typical enrolment distance off the rep
distance (``ENROLMENT_BASELINE = 0.5``), a weight picked by looking at all six subjects. This
repeats the pick without the subject being reported: for each outer subject, the weight with
the most detection at no more than ``MAX_FALSE_ALARMS`` on the other five subjects (each in
turn held out, calibrated on the remaining four) is used on the outer subject.

It uses ``nested_choice``'s fast stand-in for the bundle (the same rep features, centred on
the athlete's norm, robust z-scores against the training athletes' clean reps, the
shrunk-covariance distance), with the bundle's calibration: the empirical tail of other
athletes' clean reps of one set scored against a norm from their other set, in both directions,
each calibration athlete scored by a model that did not see them.

Run: ``python -m models.evaluation.nested_baseline DATA_DIR`` (prints JSON; about a minute).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.anomaly.detectors import CompiledMahalanobis, fit_shrunk_covariance
from models.evaluation.metrics import count_with_interval
from models.evaluation.nested_choice import feature_sets
from models.evaluation.squat_dataset import ENROLMENT_BASELINE, load_reps

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
ALPHA = 0.05
"""The nominal false-alarm rate of the squat evaluation's bundles."""
MAX_FALSE_ALARMS = 0.10


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
    their set-1 norm), scoring any rep against any norm."""

    def __init__(self, data: Squats, train: list[int]) -> None:
        X = data.features
        centred = np.concatenate([X[data.subjects == s] - np.median(X[data.clean(s, 1)], axis=0) for s in train])
        clean = np.concatenate([data.labels[data.subjects == s] == 0 for s in train])
        reference = centred[clean]
        self.median = np.median(reference, axis=0)
        self.scale = 1.4826 * np.median(np.abs(reference - self.median), axis=0) + 1e-9
        self.model = CompiledMahalanobis(fit_shrunk_covariance((reference - self.median) / self.scale))
        self.data = data

    def distance(self, reps: np.ndarray, norm: np.ndarray) -> np.ndarray:
        return self.model.anomaly_score((reps - norm - self.median) / self.scale)

    def baseline(self, norm_reps: np.ndarray) -> float:
        """Median distance of each norm rep from the norm of the others (``enrolment_baseline``)."""
        return float(np.median([
            self.distance(norm_reps[i][None], np.median(np.delete(norm_reps, i, axis=0), axis=0))[0]
            for i in range(len(norm_reps))]))

    def scores(self, rows: np.ndarray, norm_rows: np.ndarray, weight: float) -> np.ndarray:
        X = self.data.features
        norm_reps = X[norm_rows]
        return self.distance(X[rows], np.median(norm_reps, axis=0)) - weight * self.baseline(norm_reps)


def alarms(data: Squats, test: int, pool: list[int], weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Alarms on ``test``'s set 2 (enrolled on set 1) and whether each rep is faulty, with the
    threshold calibrated on the rest of ``pool``."""
    train = [s for s in pool if s != test]
    calibration = []
    for athlete in train:
        stand_in = StandIn(data, [s for s in train if s != athlete])
        calibration += [stand_in.scores(data.clean(athlete, 2), data.clean(athlete, 1), weight),
                        stand_in.scores(data.clean(athlete, 1), data.clean(athlete, 2), weight)]
    reference = np.concatenate(calibration)
    rows = (data.subjects == test) & (data.sets == 2)
    scores = StandIn(data, train).scores(rows, data.clean(test, 1), weight)
    p = (1 + (reference[None, :] >= scores[:, None]).sum(axis=1)) / (len(reference) + 1)
    return p <= ALPHA, data.labels[rows] != 0


def operating_point(data: Squats, pool: list[int], weight: float) -> tuple[float, float]:
    """(detection, false-alarm rate) pooled over every subject of ``pool`` held out in turn."""
    results = [alarms(data, s, pool, weight) for s in pool]
    alarm, faulty = np.concatenate([a for a, _ in results]), np.concatenate([f for _, f in results])
    return float(alarm[faulty].mean()), float(alarm[~faulty].mean())


def pick(data: Squats, pool: list[int]) -> float:
    """The weight with the most detection at no more than ``MAX_FALSE_ALARMS`` on ``pool``."""
    points = {w: operating_point(data, pool, w) for w in WEIGHTS}
    allowed = [w for w, (_, fa) in points.items() if fa <= MAX_FALSE_ALARMS] or [min(points, key=lambda w: points[w][1])]
    return max(allowed, key=lambda w: points[w][0])


def nested(data_dir: Path) -> dict:
    reps = load_reps(data_dir)
    data = Squats(feature_sets(reps)["signal_statistics+body_frame"],
                  *(np.array([getattr(r, k) for r in reps]) for k in ("label", "subject", "set_no")))
    everyone = sorted(set(data.subjects.tolist()))
    picks, outer = {}, []
    for s in everyone:
        weight = pick(data, [t for t in everyone if t != s])
        picks[f"subject{s}"] = weight
        outer.append(alarms(data, s, everyone, weight))
    alarm, faulty = np.concatenate([a for a, _ in outer]), np.concatenate([f for _, f in outer])
    fixed = {f"{w:g}": dict(zip(("detection", "false_alarms"), np.round(operating_point(data, everyone, w), 3)))
             for w in WEIGHTS}
    return {"alpha": ALPHA, "shipped_weight": ENROLMENT_BASELINE, "fixed_weight": fixed, "nested_picks": picks,
            "nested_detection": count_with_interval(alarm[faulty]),
            "nested_false_alarms": count_with_interval(alarm[~faulty])}


if __name__ == "__main__":
    print(json.dumps(nested(Path(sys.argv[1])), indent=2, default=float))
