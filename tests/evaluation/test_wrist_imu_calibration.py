"""The calibrated false-alarm rate on a second real dataset it was not chosen on (the shared
barbell wrist IMU data; evaluation/wrist_imu.py): the sets load as the README describes,
and a participant held out of the fit gets calibrated tail probabilities for their later sets.
The pooled figures (nominal against achieved) are a script's job (docs/models.md)."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.wrist_imu import (
    CHANNELS,
    RATE_HZ,
    SEGMENT_S,
    _athletes,
    held_out_p_values,
    load_sets,
    segments_of,
)

pytestmark = pytest.mark.data

DATASET = "barbell-wrist-imu-ebbelaar"


@pytest.fixture
def sets(shared_data):
    path = shared_data / DATASET
    if not path.is_dir():
        pytest.skip(f"{path} not found: the wrist IMU calibration check needs ../shared/data/{DATASET}")
    return load_sets(path)


def test_sets_load_with_gravity_on_the_accelerometer_and_both_sensors_merged(sets):
    assert {s.participant for s in sets} == set("ABCDE")
    assert {s.exercise for s in sets} == {"bench", "dead", "ohp", "row", "squat"}
    for s in sets:
        assert s.rows.shape[1] == len(CHANNELS) and np.isfinite(s.rows).all()
        gravity = np.median(np.linalg.norm(s.rows[:, :3], axis=1))
        assert 0.8 < gravity < 1.2, (s.participant, s.exercise, gravity)   # in g
    assert all(len(seg) == round(SEGMENT_S * RATE_HZ) for s in sets for seg in segments_of(s.rows))


def test_a_held_out_participant_gets_calibrated_p_values_for_every_later_set_segment(sets, tmp_path):
    p = np.array(held_out_p_values(sets, "D", tmp_path))
    later = sum(len(segments_of(s.rows)) for name, own in _athletes(sets).items()
                if name.startswith("D-") for s in own[1:])
    assert len(p) == later > 0
    assert ((p > 0) & (p <= 1)).all()
    assert len(np.unique(p)) > 5            # a tail probability, not a constant
