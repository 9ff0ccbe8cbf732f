"""IMU calibration: offsets estimated from a still, level bar, stored as JSON, applied to samples.

Model, per axis: ``accel = accel_scale * (raw_accel - accel_bias)`` and
``gyro = raw_gyro - gyro_bias`` (m/s^2 and rad/s). One still pose determines the gyro bias
(the mean, since a still bar does not rotate) and the accelerometer bias under the assumption
that the bar rests level: the axis reading close to +-g carries exactly +-g and the others 0.
A tilt of the bar therefore shows up as bias on the horizontal axes, which is why
``estimate_still_calibration`` refuses a bar that is more than ``max_level_error_m_s2`` off
level. Per-axis accelerometer scale needs several poses; it is kept in the file (default 1) so a
six-position calibration done elsewhere can be loaded, but it is not estimated here.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensors.errors import SensorError
from sensors.files import read_json_file, write_json_atomic
from sensors.frame import IMU_CHANNELS, STANDARD_GRAVITY

FILE_FORMAT = "liftguard-imu-calibration"
FILE_VERSION = 1
DEFAULT_FILE_NAME = "imu-calibration.json"

GYRO_STILL_STD_MAX_RAD_S = math.radians(1.0)
"""A resting MPU-6050 shows ~0.1 deg/s rms gyro noise at 44 Hz bandwidth; 1 deg/s means motion."""
ACCEL_STILL_STD_MAX_M_S2 = 0.1
"""Resting accelerometer noise is ~0.03 m/s^2 rms at 44 Hz bandwidth; 0.1 means a touched bar."""
MAX_LEVEL_ERROR_M_S2 = 1.0
"""Largest gravity component allowed on a horizontal axis (about 6 degrees of tilt)."""
GRAVITY_AXIS_TOLERANCE = 0.15
"""The gravity axis must read within 15 % of g (MPU-6050 offsets are at most ~0.1 g)."""


class CalibrationError(SensorError):
    """Samples not fit for calibration, or an unreadable calibration file."""


@dataclass(frozen=True)
class ImuCalibration:
    gyro_bias_rad_s: tuple[float, float, float] = (0.0, 0.0, 0.0)
    accel_bias_m_s2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    accel_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    """How it was made (time, samples, gravity axis, noise): stored, never used in the maths."""

    @property
    def is_identity(self) -> bool:
        return (self.gyro_bias_rad_s == (0.0, 0.0, 0.0) and self.accel_bias_m_s2 == (0.0, 0.0, 0.0)
                and self.accel_scale == (1.0, 1.0, 1.0))

    def apply(self, samples: np.ndarray) -> np.ndarray:
        """Corrected copy of an (n, 6) array of ax ay az gx gy gz."""
        out = np.array(samples, dtype=float, copy=True)
        out[:, :3] = (out[:, :3] - self.accel_bias_m_s2) * self.accel_scale
        out[:, 3:] -= self.gyro_bias_rad_s
        return out

    def to_json(self) -> dict[str, Any]:
        return {"format": FILE_FORMAT, "version": FILE_VERSION,
                "gyro_bias_rad_s": list(self.gyro_bias_rad_s),
                "accel_bias_m_s2": list(self.accel_bias_m_s2),
                "accel_scale": list(self.accel_scale),
                "info": self.info}


IDENTITY = ImuCalibration()


def calibration_path(configured: str, data_dir: str | os.PathLike[str]) -> Path:
    """``[imu] calibration_file``, or ``<data_dir>/imu-calibration.json`` when left empty."""
    return Path(configured) if configured else Path(data_dir) / DEFAULT_FILE_NAME


def estimate_still_calibration(
        samples: np.ndarray, *,
        gyro_std_max: float = GYRO_STILL_STD_MAX_RAD_S,
        accel_std_max: float = ACCEL_STILL_STD_MAX_M_S2,
        max_level_error: float = MAX_LEVEL_ERROR_M_S2,
        min_samples: int = 50) -> ImuCalibration:
    """Biases from an (n, 6) array of ax ay az gx gy gz recorded on a still, level bar.

    Raises ``CalibrationError`` saying what was wrong when the bar moved, was not level, or
    no axis reads close to +-g.
    """
    data = np.asarray(samples, dtype=float)
    if data.ndim != 2 or data.shape[1] != 6:
        raise ValueError(f"expected an (n, 6) array of {' '.join(IMU_CHANNELS)}, got {data.shape}")
    if len(data) < min_samples:
        raise CalibrationError(f"only {len(data)} IMU samples collected (need {min_samples}): "
                               "is the IMU delivering data?")
    mean, std = data.mean(axis=0), data.std(axis=0)
    _reject_motion(std, gyro_std_max, accel_std_max)

    accel_mean = mean[:3]
    axis = int(np.argmax(np.abs(accel_mean)))
    if abs(abs(accel_mean[axis]) - STANDARD_GRAVITY) > GRAVITY_AXIS_TOLERANCE * STANDARD_GRAVITY:
        raise CalibrationError(
            f"no accelerometer axis reads about +-1 g (largest: {IMU_CHANNELS[axis]} = "
            f"{accel_mean[axis]:.2f} m/s^2): check [imu] accel_range_g and the sensor")
    expected = np.zeros(3)
    expected[axis] = math.copysign(STANDARD_GRAVITY, accel_mean[axis])
    off_level = [i for i in range(3) if i != axis and abs(accel_mean[i]) > max_level_error]
    if off_level:
        worst = max(off_level, key=lambda i: abs(accel_mean[i]))
        raise CalibrationError(
            f"bar not level: {IMU_CHANNELS[worst]} reads {accel_mean[worst]:.2f} m/s^2 "
            f"(limit {max_level_error:.2f}, about "
            f"{math.degrees(math.asin(min(1.0, max_level_error / STANDARD_GRAVITY))):.0f} deg): "
            "rest the bar level in the rack hooks and try again")
    sign = "+" if accel_mean[axis] > 0 else "-"
    return ImuCalibration(
        gyro_bias_rad_s=tuple(float(v) for v in mean[3:]),
        accel_bias_m_s2=tuple(float(v) for v in accel_mean - expected),
        info={"samples": int(len(data)), "gravity_axis": f"{sign}{IMU_CHANNELS[axis]}",
              "gyro_std_rad_s": [float(v) for v in std[3:]],
              "accel_std_m_s2": [float(v) for v in std[:3]]})


def _reject_motion(std: np.ndarray, gyro_std_max: float, accel_std_max: float) -> None:
    moving = [(IMU_CHANNELS[i], std[i], gyro_std_max, "rad/s") for i in range(3, 6)
              if std[i] > gyro_std_max]
    moving += [(IMU_CHANNELS[i], std[i], accel_std_max, "m/s^2") for i in range(3)
               if std[i] > accel_std_max]
    if moving:
        detail = ", ".join(f"{ch} std {s:.3f} {unit} > {limit:.3f}"
                           for ch, s, limit, unit in moving)
        raise CalibrationError(f"the bar moved during calibration ({detail}): "
                               "leave it resting in the rack, untouched, and try again")


def save_calibration(path: str | os.PathLike[str], calibration: ImuCalibration) -> Path:
    """Write atomically: a crash or power cut leaves the old file or the new one."""
    return write_json_atomic(path, calibration.to_json())


def load_calibration(path: str | os.PathLike[str]) -> ImuCalibration:
    """Read a calibration file; every problem names the file and the key."""
    p = Path(path)
    raw = read_json_file(p, "IMU calibration file", "run 'liftguard calibrate imu'", CalibrationError)
    if not isinstance(raw, dict) or raw.get("format") != FILE_FORMAT:
        raise CalibrationError(f"{p}: not an IMU calibration file (key 'format' must be "
                               f"{FILE_FORMAT!r})")
    if raw.get("version") != FILE_VERSION:
        raise CalibrationError(f"{p}: key 'version' = {raw.get('version')!r}, "
                               f"this liftguard reads version {FILE_VERSION}")
    info = raw.get("info", {})
    return ImuCalibration(gyro_bias_rad_s=_vector3(p, raw, "gyro_bias_rad_s", None),
                          accel_bias_m_s2=_vector3(p, raw, "accel_bias_m_s2", None),
                          accel_scale=_vector3(p, raw, "accel_scale", (1.0, 1.0, 1.0)),
                          info=info if isinstance(info, dict) else {})


def _vector3(path: Path, raw: dict[str, Any], key: str,
             default: tuple[float, float, float] | None) -> tuple[float, float, float]:
    if key not in raw:
        if default is None:
            raise CalibrationError(f"{path}: key '{key}' is missing")
        return default
    value = raw[key]
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in value)):
        raise CalibrationError(f"{path}: key '{key}' must be a list of 3 finite numbers, "
                               f"got {value!r}")
    if key == "accel_scale" and not all(0.5 <= v <= 2.0 for v in value):
        raise CalibrationError(f"{path}: key '{key}' = {value!r} is out of range 0.5..2.0")
    return (float(value[0]), float(value[1]), float(value[2]))
