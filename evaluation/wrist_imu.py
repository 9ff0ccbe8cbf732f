"""Does the calibrated false-alarm rate hold on data it was not chosen on? The shared barbell
wrist IMU dataset (``barbell-wrist-imu-ebbelaar``: 5 participants, one wrist IMU, bench press,
deadlift, overhead press, row and squat sets, all with ordinary form) as a second, unrelated
population: different sensor, placement, rate (12.5 Hz), exercises and people.

Each set's accelerometer and gyroscope files are merged on the accelerometer's clock (the gyro
interpolated onto it) and cut into fixed 2.4 s segments (the dataset has no rep boundaries;
duration is therefore not scored). An "athlete" is one participant doing one exercise; their
first set (by time) enrols them, their later sets are the clean test reps. Leave one
participant out: ``fit_bundle`` with ``groups`` and ``enrolment`` and the validated defaults
(rep Mahalanobis, enrolment baseline 0.75; body frame off: segments are not reps that start
standing), no autoencoder; the held-out participant enrols per exercise and their later sets
are scored. Every segment is clean, so the share at or below each nominal rate is the achieved
false-alarm rate, reported with counts and 95 % Clopper-Pearson intervals.

``python -m evaluation.wrist_imu DATA_DIR OUT_DIR`` (about three minutes: three
configurations, ``CONFIGURATIONS``).
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.metrics import count_with_interval

RATE_HZ = 12.5
SEGMENT_S = 2.4
CHANNELS = ("w_ax", "w_ay", "w_az", "w_gx", "w_gy", "w_gz")
EXERCISES = ("bench", "dead", "ohp", "row", "squat")
NOMINAL_RATES = (0.01, 0.05, 0.10)
CONFIGURATIONS = {
    "validated": {},
    "earlier": {"rep_detectors": ["rep_iforest", "rep_ocsvm", "rep_extent"], "enrolment_baseline": 0.0},
    "no_baseline": {"rep_detectors": ["rep_mahalanobis"], "enrolment_baseline": 0.0},
}
"""``validated``: ``fit_bundle``'s defaults with enrolment; ``earlier``: what the same call fused
before (IsolationForest, One-Class SVM, extent; calibrated on later sets only);
``no_baseline``: the rep Mahalanobis without the enrolment baseline."""
_NAME = re.compile(r"^([A-E])-([a-z]+)-[a-z0-9-]*?_MetaWear_(\S+?)_[0-9A-F]+_(Accelerometer|Gyroscope)_")


@dataclass
class WristSet:
    participant: str
    exercise: str
    started: str
    rows: np.ndarray     # T x 6 at RATE_HZ


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        data = np.array([[float(r[0]), float(r[3]), float(r[4]), float(r[5])] for r in reader if r])
    return data[:, 0], data[:, 1:]


def load_sets(data_dir: Path) -> list[WristSet]:
    """Every exercise set at the top level of ``raw/`` (rest and ``raw/form`` left out)."""
    pairs: dict[tuple[str, str, str], dict[str, Path]] = defaultdict(dict)
    for path in sorted((Path(data_dir) / "raw").glob("*.csv")):
        m = _NAME.match(path.name)
        if m and m.group(2) in EXERCISES and not path.name.endswith("1.4.41.csv"):
            pairs[(m.group(1), m.group(2), m.group(3))][m.group(4)] = path
    sets = []
    for (participant, exercise, started), files in sorted(pairs.items()):
        if set(files) != {"Accelerometer", "Gyroscope"}:
            continue
        t_acc, acc = _read(files["Accelerometer"])
        t_gyr, gyr = _read(files["Gyroscope"])
        keep = (t_acc >= t_gyr[0]) & (t_acc <= t_gyr[-1])
        gyro = np.column_stack([np.interp(t_acc[keep], t_gyr, gyr[:, k]) for k in range(3)])
        sets.append(WristSet(participant, exercise, started, np.hstack([acc[keep], gyro])))
    return sets


def segments_of(rows: np.ndarray) -> list[np.ndarray]:
    n = int(round(SEGMENT_S * RATE_HZ))
    return [rows[i:i + n] for i in range(0, len(rows) - n + 1, n)]


def _athletes(sets: Sequence[WristSet]) -> dict[str, list[WristSet]]:
    by: dict[str, list[WristSet]] = defaultdict(list)
    for s in sets:
        by[f"{s.participant}-{s.exercise}"].append(s)
    return {k: sorted(v, key=lambda s: s.started) for k, v in by.items() if len(v) >= 2}


def held_out_p_values(sets: Sequence[WristSet], participant: str, tmp: Path,
                      false_alarm_rate: float = 0.05, configuration: str = "validated") -> list[float]:
    """Fused tail probabilities of the held-out participant's later-set segments."""
    from models.anomaly import fit_bundle, load_bundle

    athletes = _athletes(sets)
    segments, groups, enrolment = [], [], []
    for name, own in athletes.items():
        if name.startswith(participant + "-"):
            continue
        for k, s in enumerate(own):
            for seg in segments_of(s.rows):
                segments.append(seg)
                groups.append(name)
                enrolment.append(k == 0)
    path = fit_bundle(segments, CHANNELS, RATE_HZ, tmp / f"{configuration}-without-{participant}",
                      groups=groups, enrolment=enrolment, autoencoder=False, body_frame=False,
                      false_alarm_rate=false_alarm_rate, lift_types=("squat",),
                      **CONFIGURATIONS[configuration])
    model = load_bundle(path)
    out: list[float] = []
    for name, own in athletes.items():
        if not name.startswith(participant + "-"):
            continue
        enrol = segments_of(own[0].rows)
        if len(enrol) < 3:
            continue
        profile = model.enrol(enrol)
        later = [seg for s in own[1:] for seg in segments_of(s.rows)]
        batch = model.decide_segments(later, profile, score_duration=False)
        out += [float(p) for p, ok in zip(batch.fused_p, batch.scored) if ok]
    return out


def _figures(p_values: dict[str, list[float]]) -> dict:
    pooled = np.concatenate([np.asarray(v) for v in p_values.values()])
    return {"achieved": {str(a): count_with_interval(pooled <= a) for a in NOMINAL_RATES},
            "per_participant": {p: {str(a): count_with_interval(np.asarray(v) <= a) for a in NOMINAL_RATES}
                                for p, v in p_values.items()}}


def evaluate(data_dir: Path, out_dir: Path | None = None,
             configurations: Sequence[str] = tuple(CONFIGURATIONS)) -> dict:
    sets = load_sets(data_dir)
    participants = sorted({s.participant for s in sets})
    report: dict = {"dataset": "barbell-wrist-imu-ebbelaar", "sets": len(sets), "participants": participants,
                    "segment_s": SEGMENT_S, "rate_hz": RATE_HZ, "configurations": {}}
    with tempfile.TemporaryDirectory(prefix="liftguard-wrist-") as tmp:
        for name in configurations:
            report["configurations"][name] = _figures(
                {p: held_out_p_values(sets, p, Path(tmp), configuration=name) for p in participants})
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "wrist_imu.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    json.dump(evaluate(args.data_dir, args.out_dir), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
