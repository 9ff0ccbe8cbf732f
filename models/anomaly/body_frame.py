"""Rep features of each 6-axis IMU in its own body frame, in the angle domain, time-normalised.

Clean reps drift between sets in tempo and in the direction of gravity seen by a sensor that
moved a little on the body. Features in raw sensor axes carry that nuisance; these do not:

- **Body frame per rep**: the vertical is the mean accelerometer direction over the standing
  start of the rep (``STANDING_S``); the forward axis is the first principal direction of the
  gyro (the axis the segment mainly rotates about: the flexion axis), made orthogonal to the
  vertical; the third axis completes the right-handed frame. A re-mounted or slightly rotated
  sensor gives the same frame.
- **Angle domain, zeroed at rep start**: the angular rate about each body axis is integrated
  to an angle that starts at 0; the linear trend between start and end is removed (a rep
  starts and ends standing, so what remains at the end is gyro bias).
- **Time-normalised**: each angle curve is resampled to ``CURVE_POINTS`` points of the rep, so
  a slower set gives the same curve. Rep duration is deliberately not among these features.
- Between consecutive IMUs (e.g. waist-thigh, thigh-shank), the difference of the flexion
  angles: a joint angle curve.

A channel group is an IMU when the names ``<prefix>ax, ay, az, gx, gy, gz`` are all present.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

AXES = ("ax", "ay", "az", "gx", "gy", "gz")
ANGLES = ("flex", "abd", "twist")
"""Rotation about the flexion (main gyro) axis, about the vertical-flexion normal, about the vertical."""
CURVE_POINTS = 20
STANDING_S = 0.15
_EPS = 1e-9


def imu_groups(channels: Sequence[str]) -> list[tuple[str, list[int]]]:
    """``(prefix, [indices of ax..gz])`` for every complete 6-axis IMU in ``channels``."""
    index = {name: i for i, name in enumerate(channels)}
    prefixes = [name[:-2] for name in channels if name.endswith("ax")]
    return [(p, [index[p + a] for a in AXES]) for p in prefixes if all(p + a in index for a in AXES)]


def body_frame_feature_names(channels: Sequence[str]) -> list[str]:
    groups = imu_groups(channels)
    names = [f"{p}{angle}_t{k:02d}" for p, _ in groups for angle in ANGLES for k in range(CURVE_POINTS)]
    for (a, _), (b, _) in zip(groups, groups[1:]):
        names += [f"{a}{b}joint_t{k:02d}" for k in range(CURVE_POINTS)]
    return names


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > _EPS else fallback


def body_frame(acc: np.ndarray, gyro: np.ndarray, standing: int) -> np.ndarray:
    """3×3 rotation whose rows are the forward (flexion), lateral and vertical body axes."""
    vertical = _unit(acc[:standing].mean(axis=0), np.array([0.0, 0.0, 1.0]))
    _, _, vt = np.linalg.svd(gyro, full_matrices=False)
    main = vt[0] - (vt[0] @ vertical) * vertical
    helper = np.eye(3)[int(np.argmin(np.abs(vertical)))]
    forward = _unit(main, _unit(helper - (helper @ vertical) * vertical, np.array([1.0, 0.0, 0.0])))
    return np.stack([forward, np.cross(vertical, forward), vertical])


def _angle_curves(rates: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """Integrated, start-zeroed, end-detrended, time-normalised angles (3, CURVE_POINTS)."""
    angle = np.cumsum(rates, axis=0) / sample_rate_hz
    angle -= angle[0]
    angle -= np.linspace(0.0, 1.0, len(angle))[:, None] * angle[-1]
    t = np.linspace(0.0, 1.0, len(angle))
    u = np.linspace(0.0, 1.0, CURVE_POINTS)
    return np.stack([np.interp(u, t, angle[:, k]) for k in range(3)])


def body_frame_features(segment: np.ndarray, channels: Sequence[str], sample_rate_hz: float) -> np.ndarray:
    """Body-frame angle curves of one raw (not offset-centred) rep segment (T, C)."""
    standing = max(2, int(round(STANDING_S * sample_rate_hz)))
    flexion, parts = [], []
    for _, idx in imu_groups(channels):
        acc, gyro = segment[:, idx[:3]], segment[:, idx[3:]]
        rates = gyro @ body_frame(acc, gyro, min(standing, len(segment))).T
        curves = _angle_curves(rates, sample_rate_hz)
        peak = int(np.argmax(np.abs(curves[0])))
        if curves[0, peak] < 0:  # the gyro's principal axis has no sign: flexion is positive
            curves[:2] = -curves[:2]
        flexion.append(curves[0])
        parts.append(curves.ravel())
    parts += [a - b for a, b in zip(flexion, flexion[1:])]
    return np.concatenate(parts) if parts else np.zeros(0)
