"""Adapters for the public body-worn IMU datasets in the shared data folder (path passed in).

* ``squat-form-imu-3sensor``: raw CSV per set (111 Hz, IMUs s0 waist, s1 thigh, s2 shank) with
  manual rep windows (``rep_windows/*_metadata.json``: ``start_sample``/``end_sample`` rows,
  end exclusive; the JSON's ``sampling_rate: 100`` and its times are wrong, the rows are right).
* ``barbell-wrist-imu-ebbelaar``: MetaMotion wrist accelerometer at 12.5 Hz (in g); "heavy" sets
  are 5 reps, "medium" sets 10 (the report's protocol), the exercise is in the file name.
"""
from __future__ import annotations

import csv
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.segmentation import BodyRepParams
from sensors.frame import STANDARD_GRAVITY

SQUAT_DATASET = "squat-form-imu-3sensor"
SQUAT_RATE_HZ = 111.0
WRIST_DATASET = "barbell-wrist-imu-ebbelaar"
WRIST_RATE_HZ = 12.5
WRIST_REPS = {"heavy": 5, "medium": 10}
# Tuned on these same datasets (see docs/metrics.md: the figures are in-sample).
WAIST_PARAMS = BodyRepParams(cutoff_ratio=2.5, min_prominence=0.40)
WRIST_PARAMS = BodyRepParams(cutoff_ratio=2.5, min_prominence=0.55)
_WRIST_NAME = re.compile(r"^(?P<who>[A-E])-(?P<ex>[a-z]+)-(?P<kind>heavy|medium)[^_]*_MetaWear_"
                         r".*_Accelerometer_.*\.csv$")


@dataclass
class ImuSet:
    """One recorded set: accelerometer (n, 3) in m/s^2, its rate, the reps and optional marks."""

    name: str
    exercise: str
    accel: np.ndarray
    rate_hz: float
    reps: int
    marks: list[tuple[int, int]] | None = None   # manual (start, end) sample indices


def load_squat_sets(root: Path, sensor: str = "s0") -> list[ImuSet]:
    """Every set of the squat-form dataset with its manual rep windows (sensor ``s0`` = waist)."""
    base = Path(root) / SQUAT_DATASET
    sets = []
    for raw in sorted(base.glob("raw/class*/subject*_set*.csv.gz")):
        meta_path = base / "rep_windows" / raw.parent.name / raw.name.replace(".csv.gz", "_metadata.json")
        with gzip.open(raw, "rt", newline="") as fh:
            header = fh.readline().strip().split(",")
            cols = [header.index(f"{sensor}_{a}") for a in ("ax", "ay", "az")]
            accel = np.loadtxt(fh, delimiter=",", usecols=cols, ndmin=2)
        windows = json.loads(meta_path.read_text())["windows"]
        marks = [(int(w["start_sample"]), int(w["end_sample"])) for w in windows]
        sets.append(ImuSet(f"{raw.parent.name}/{raw.name[:-7]}", "squat", accel, SQUAT_RATE_HZ,
                           len(marks), marks))
    return sets


def load_wrist_sets(root: Path) -> list[ImuSet]:
    """Every heavy/medium set of the Ebbelaar dataset (top-level folder; rest recordings skipped)."""
    base = Path(root) / WRIST_DATASET / "raw"
    sets = []
    for path in sorted(base.glob("*_Accelerometer_*.csv")):
        m = _WRIST_NAME.match(path.name)
        if m is None:
            continue
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        accel = np.array([[float(r[f"{a}-axis (g)"]) for a in "xyz"] for r in rows]) * STANDARD_GRAVITY
        sets.append(ImuSet(path.name.split("_MetaWear")[0], m.group("ex"), accel, WRIST_RATE_HZ,
                           WRIST_REPS[m.group("kind")]))
    return sets
