"""Body-frame rep features: the same rep seen by a re-mounted (rotated) sensor, or done at another
tempo, gives the same angle curves; degenerate input stays finite."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from models.anomaly.body_frame import (
    CURVE_POINTS,
    body_frame_feature_names,
    body_frame_features,
    imu_groups,
)

CHANNELS = ("s0_ax", "s0_ay", "s0_az", "s0_gx", "s0_gy", "s0_gz", "s1_ax", "s1_ay", "s1_az", "s1_gx", "s1_gy", "s1_gz")
RATE = 100.0


def squat_imu(n: int, depth_rad: float = 1.2) -> np.ndarray:
    """A segment that tilts about its x axis by depth*sin^2 and back, standing upright at the start."""
    t = np.linspace(0.0, 1.0, n)
    angle = depth_rad * np.sin(np.pi * t) ** 2
    rate = np.gradient(angle, 1.0 / RATE)
    gravity = np.column_stack([np.zeros(n), 9.81 * np.sin(angle), 9.81 * np.cos(angle)])
    gyro = np.column_stack([rate, 0.05 * rate, np.zeros(n)])
    return np.hstack([gravity, gyro])


def two_imus(n: int) -> np.ndarray:
    return np.hstack([squat_imu(n, 0.6), squat_imu(n, 1.3)])


def test_names_match_features_and_groups():
    assert [p for p, _ in imu_groups(CHANNELS)] == ["s0_", "s1_"]
    names = body_frame_feature_names(CHANNELS)
    assert len(names) == 2 * 3 * CURVE_POINTS + CURVE_POINTS and names[-1] == f"s0_s1_joint_t{CURVE_POINTS - 1:02d}"
    assert body_frame_features(two_imus(250), CHANNELS, RATE).shape == (len(names),)
    assert body_frame_feature_names(("ax", "ay", "az", "gx", "gy")) == []


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_rotated_sensor_gives_the_same_curves(seed):
    rep = two_imus(250)
    rotated = rep.copy()
    rotation = Rotation.random(random_state=seed).as_matrix()
    for k in (0, 6):
        rotated[:, k:k + 3] = rep[:, k:k + 3] @ rotation.T
        rotated[:, k + 3:k + 6] = rep[:, k + 3:k + 6] @ rotation.T
    np.testing.assert_allclose(body_frame_features(rotated, CHANNELS, RATE),
                               body_frame_features(rep, CHANNELS, RATE), atol=1e-6)


def test_a_slower_rep_gives_the_same_angle_curves_and_flexion_is_positive():
    fast, slow = (body_frame_features(two_imus(n), CHANNELS, RATE) for n in (200, 320))
    np.testing.assert_allclose(fast, slow, atol=0.03)
    flexion = fast[:CURVE_POINTS]
    assert flexion[0] == 0.0 and flexion.max() > 0.5 and abs(flexion[-1]) < 1e-9


def test_still_or_zero_input_stays_finite():
    for segment in (np.zeros((120, 12)), np.tile([0, 0, 9.81, 0, 0, 0] * 2, (120, 1)).astype(float)):
        assert np.isfinite(body_frame_features(segment, CHANNELS, RATE)).all()
