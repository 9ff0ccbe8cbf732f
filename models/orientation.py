"""Bar attitude from the IMU: a complementary filter on the gravity ("up") direction.

The filter tracks ``up``, the world's vertical expressed in the IMU frame (the third row of the
body-to-world rotation). Each step it is rotated by the gyro (``d up/dt = up x omega``: a world-
fixed vector seen from a rotating body) and then pulled towards the measured specific-force
direction ``a/|a|`` with weight ``dt / (tau + dt)`` -- a first-order complementary filter
(Mahony et al. 2008 in its simplest, tilt-only form; Higgins 1975). The gyro dominates at short
time scales, the accelerometer corrects the drift over ``tau`` = 1 s. The correction is skipped
while ``||a| - g|`` exceeds ``accel_gate`` (hard bumps, dropped bar) and at NaN samples, where the
estimate is carried through and resumes with the next valid sample.

Why a constant 1 s: on the simulator, scheduling a short constant at rest and a long one in
motion (and tracking gyro bias at rest) was worse -- an athlete holding the bar is never quite
still, and the residual gyro offset (about 1 deg/s after calibration) turns a long constant into
degrees of drift. Horizontal bar acceleration does drag the estimate somewhat (a 1 Hz sideways
sway of 4 cm reads as about 1 deg for a second), see docs/metrics.md.

Vertical bar acceleration does not bias the estimate: it is parallel to ``up``. Heading (yaw) is
not observable without a magnetometer and is not needed for any metric.
"""
from __future__ import annotations

import math

import numpy as np

from sensors.frame import STANDARD_GRAVITY

DEFAULT_TAU_S = 1.0
DEFAULT_ACCEL_GATE = 3.0  # m/s^2


class UpFilter:
    """Incremental form of the filter: feed sample blocks, state carries over between blocks."""

    def __init__(self, rate_hz: float, tau_s: float = DEFAULT_TAU_S,
                 accel_gate: float = DEFAULT_ACCEL_GATE) -> None:
        self.dt = 1.0 / rate_hz
        self.k = self.dt / (tau_s + self.dt)
        self.accel_gate = accel_gate
        self._u: tuple[float, float, float] | None = None

    @property
    def state(self) -> tuple[float, float, float] | None:
        return self._u

    @property
    def params(self) -> tuple[float, float, float]:
        return self.dt, self.k, self.accel_gate

    def resume(self, state: tuple[float, float, float] | None) -> None:
        """Continue from a state ``state`` read after some sample (see ``update``'s ``states``)."""
        self._u = state

    def update(self, accel: np.ndarray, gyro: np.ndarray,
               states: dict[int, tuple[float, float, float] | None] | None = None,
               every: int = 256) -> np.ndarray:
        """``up`` for each sample of the block, shape (n, 3); NaN before the first valid one.
        ``states``: filled with the state after each ``every``-th sample of the block (key: how
        many samples of the block it follows), to resume from later."""
        n, dt, k = accel.shape[0], self.dt, self.k
        up = np.full((n, 3), np.nan)
        ax, ay, az = (accel[:, i].tolist() for i in range(3))
        gx, gy, gz = (gyro[:, i].tolist() for i in range(3))
        for i in range(n):
            a_norm = math.sqrt(ax[i] * ax[i] + ay[i] * ay[i] + az[i] * az[i])
            a_ok = a_norm > 0 and math.isfinite(a_norm)
            if self._u is None:
                if not a_ok:
                    continue
                ux, uy, uz = ax[i] / a_norm, ay[i] / a_norm, az[i] / a_norm
            else:
                ux, uy, uz = self._u
                wx, wy, wz = gx[i], gy[i], gz[i]
                if math.isfinite(wx) and math.isfinite(wy) and math.isfinite(wz):
                    ux, uy, uz = (ux + dt * (uy * wz - uz * wy),
                                  uy + dt * (uz * wx - ux * wz),
                                  uz + dt * (ux * wy - uy * wx))
                if a_ok and abs(a_norm - STANDARD_GRAVITY) < self.accel_gate:
                    ux += k * (ax[i] / a_norm - ux)
                    uy += k * (ay[i] / a_norm - uy)
                    uz += k * (az[i] / a_norm - uz)
                norm = math.sqrt(ux * ux + uy * uy + uz * uz)
                ux, uy, uz = ux / norm, uy / norm, uz / norm
            self._u = (ux, uy, uz)
            up[i] = self._u
            if states is not None and (i + 1) % every == 0:
                states[i + 1] = self._u
        return up


def estimate_up(accel: np.ndarray, gyro: np.ndarray, rate_hz: float,
                tau_s: float = DEFAULT_TAU_S) -> np.ndarray:
    """World "up" unit vector in IMU coordinates per sample, shape (n, 3); NaN before first valid."""
    return UpFilter(rate_hz, tau_s).update(accel, gyro)


def bar_tilt_deg(up: np.ndarray) -> np.ndarray:
    """Bar tilt in degrees: elevation of the bar axis (IMU x) above horizontal.

    Positive = the athlete's right end higher than the left (bar tipped to the left).
    """
    return np.degrees(np.arcsin(np.clip(up[:, 0], -1.0, 1.0)))
