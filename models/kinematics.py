"""Vertical bar kinematics: gravity removal, stillness detection and drift-free integration.

* Vertical acceleration: ``a_v = up . a - g`` (``up`` from :mod:`models.orientation`), m/s^2.
* Stillness ("rest"): over a trailing window of ``REST_WINDOW_S`` the standard deviation of
  ``|a|`` is below ``REST_ACCEL_STD`` m/s^2, its mean is within ``REST_ACCEL_MEAN`` m/s^2 of the
  at-rest reading ``g_ref`` and the mean gyro norm is below ``REST_GYRO`` rad/s. A sample is at
  rest when any window containing it qualifies. ``g_ref`` is the mean ``|a|`` of the first quiet
  window (low spread and gyro) of the recording, so an accelerometer scale error does not hide
  rests. Motion at constant velocity looks quiet to any IMU (a slow squat descent can hold
  0.4 m/s for a second), so a quiet window only counts as rest when the velocity integrated
  since the last rest is below ``REST_MAX_VELOCITY`` m/s (:class:`RestDetector`).
  That integral drifts (an orientation error of a degree or two during a rep, e.g. while the bar
  tips, leaves 0.1-0.2 m/s at the next pause), and a drift above the gate would block every later
  rest for the rest of the set. So a quiet stretch also counts as rest, from its first quiet
  window on, once it has lasted ``REST_DRIFT_QUIET_S`` with less than ``REST_DRIFT_VELOCITY``
  m/s integrated (or with any integral, when a data gap since the last rest left it unknown), or
  ``REST_ALWAYS_QUIET_S`` whatever the integral says: a bar moving at an even speed does not
  stay that quiet for that long within one rep's range of motion.
* Velocity with zero-velocity updates: velocity is 0 at rest; across each motion segment between
  two rests the integral of ``a_v`` is corrected by the straight line that brings it back to 0 at
  the next rest (linear drift removal: a constant bias, e.g. from gravity mis-estimation, is
  removed exactly). A segment still open at the end of the data is left uncorrected.
* Displacement is the running integral of the corrected velocity; it is continuous across
  rests, so rep depth does not depend on how long the athlete pauses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sensors.frame import STANDARD_GRAVITY

REST_WINDOW_S = 0.15
REST_ACCEL_STD = 0.12
REST_ACCEL_MEAN = 0.15
REST_GYRO = 0.10
REST_MAX_VELOCITY = 0.10
REST_DRIFT_VELOCITY = 0.30
REST_DRIFT_QUIET_S = 0.5
REST_ALWAYS_QUIET_S = 2.0


def window_samples(rate_hz: float, seconds: float = REST_WINDOW_S) -> int:
    return max(2, int(round(seconds * rate_hz)))


def _trailing_mean(x: np.ndarray, w: int) -> np.ndarray:
    c = np.concatenate(([0.0], np.cumsum(x)))
    out = np.empty_like(x)
    idx = np.arange(x.size)
    lo = np.maximum(idx + 1 - w, 0)
    out[:] = (c[idx + 1] - c[lo]) / (idx + 1 - lo)
    return out


def _window_stats(accel: np.ndarray, gyro: np.ndarray, w: int):
    a_norm = np.linalg.norm(accel, axis=1)
    g_norm = np.linalg.norm(gyro, axis=1)
    bad = ~(np.isfinite(a_norm) & np.isfinite(g_norm))
    a_norm = np.where(bad, 0.0, a_norm)
    mean = _trailing_mean(a_norm, w)
    std = np.sqrt(np.maximum(_trailing_mean(a_norm ** 2, w) - mean ** 2, 0.0))
    quiet = (std < REST_ACCEL_STD) & (_trailing_mean(np.where(bad, 0.0, g_norm), w) < REST_GYRO)
    quiet &= _trailing_mean(bad.astype(float), w) == 0
    quiet[: w - 1] = False
    return mean, quiet


def gravity_reference(accel: np.ndarray, gyro: np.ndarray, rate_hz: float) -> float | None:
    """Mean ``|a|`` over the first quiet window (the at-rest reading), or None if none yet."""
    mean, quiet = _window_stats(accel, gyro, window_samples(rate_hz))
    idx = np.flatnonzero(quiet)
    return float(mean[idx[0]]) if idx.size else None


def quiet_windows(accel: np.ndarray, gyro: np.ndarray, rate_hz: float,
                  g_ref: float) -> np.ndarray:
    """True at sample i when the window ending at i is quiet (causal: uses samples <= i)."""
    mean, quiet = _window_stats(accel, gyro, window_samples(rate_hz))
    return quiet & (np.abs(mean - g_ref) < REST_ACCEL_MEAN)


class RestDetector:
    """Causal rest decision: a quiet window while the velocity integrated since the last rest
    is small, or a long enough quiet stretch (module docstring). Feed blocks in order; the
    state carries over.

    After :meth:`update`, ``backfill_from`` is the sample index (counted from the first sample
    ever fed) from which earlier samples are now rest too, or None: a long quiet stretch is
    recognised as rest only once it has lasted, and then counts from its start.
    """

    def __init__(self, rate_hz: float) -> None:
        self.dt = 1.0 / rate_hz
        self._drift_n = max(1, int(round(REST_DRIFT_QUIET_S * rate_hz)))
        self._always_n = max(1, int(round(REST_ALWAYS_QUIET_S * rate_hz)))
        self._v = 0.0
        self._v_unknown = False   # a gap (NaN) since the last rest: the integral means nothing
        self._n = 0
        self._quiet_since: int | None = None
        self.backfill_from: int | None = None

    @property
    def params(self) -> tuple[float, int, int]:
        return self.dt, self._drift_n, self._always_n

    @property
    def fed(self) -> int:
        """Samples fed so far."""
        return self._n

    def resume(self, state: tuple[float, bool, int | None], fed: int) -> None:
        """Continue from a checkpoint's (velocity, unknown, quiet since) after ``fed`` samples
        (``update``'s ``checkpoints``)."""
        self._v, self._v_unknown, self._quiet_since = state
        self._n = fed

    def update(self, quiet: np.ndarray, a_vert: np.ndarray,
               checkpoints: dict[int, tuple[tuple[float, bool, int | None], bool]] | None = None,
               every: int = 256) -> np.ndarray:
        """Rest decisions for the next block. ``checkpoints[k]`` gets, before every sample
        ``k`` (counted from the first ever fed) that is a multiple of ``every``, the state to
        ``resume`` from and whether sample k-1 was rest at that moment
        (``models.segmentation.SegmentationMemo.rest``)."""
        out = np.zeros(quiet.size, bool)
        v, dt, base, unknown = self._v, self.dt, self._n, self._v_unknown
        since = self._quiet_since
        self.backfill_from = None
        for i, (q, a) in enumerate(zip(quiet.tolist(), a_vert.tolist())):
            if checkpoints is not None and i and (base + i) % every == 0:
                checkpoints[base + i] = ((v, unknown, since), bool(out[i - 1]))
            if not q:
                since = None
            elif since is None:
                since = base + i
            if q and abs(v) < REST_MAX_VELOCITY and not unknown:
                out[i], v = True, 0.0
                continue
            if q:
                run = base + i - since + 1
                if run >= self._always_n or (run >= self._drift_n and (
                        unknown or abs(v) < REST_DRIFT_VELOCITY)):
                    out[max(0, since - base):i + 1] = True
                    if since < base and self.backfill_from is None:
                        self.backfill_from = since
                    v, unknown = 0.0, False
                    continue
            if a == a:  # not NaN
                v += a * dt
            else:
                unknown = True
        self._v, self._n, self._quiet_since = v, base + quiet.size, since
        self._v_unknown = unknown
        return out


def rest_confirmed(accel: np.ndarray, gyro: np.ndarray, a_vert: np.ndarray, rate_hz: float,
                   g_ref: float) -> np.ndarray:
    """Confirmed rest per sample (window ending there), whole trace at once."""
    return RestDetector(rate_hz).update(quiet_windows(accel, gyro, rate_hz, g_ref), a_vert)


def rest_mask(confirmed: np.ndarray, rate_hz: float) -> np.ndarray:
    """Spread each confirmed window back over the samples it covers."""
    w = window_samples(rate_hz)
    c = np.concatenate(([0], np.cumsum(confirmed.astype(np.int64))))
    idx = np.arange(confirmed.size)
    hi = np.minimum(idx + w, confirmed.size)
    return (c[hi] - c[idx]) > 0


def vertical_acceleration(accel: np.ndarray, up: np.ndarray,
                          gravity: float = STANDARD_GRAVITY) -> np.ndarray:
    """Gravity-free vertical acceleration in the world frame, m/s^2 (NaN stays NaN).

    Pass the at-rest reading ``g_ref`` as ``gravity`` to also remove the accelerometer's
    offset along the vertical."""
    return np.einsum("ij,ij->i", accel, up) - gravity


@dataclass
class VerticalMotion:
    velocity: np.ndarray      # m/s, positive up
    displacement: np.ndarray  # m, relative to the first sample
    rest: np.ndarray          # bool


def integrate_with_zupt(a_vert: np.ndarray, rest: np.ndarray, rate_hz: float,
                        close_last: bool = False) -> VerticalMotion:
    """Velocity and displacement from vertical acceleration with zero-velocity updates.

    ``close_last`` treats the end of the data as a rest (offline use on a finished set).
    """
    dt = 1.0 / rate_hz
    a = np.where(np.isfinite(a_vert), a_vert, 0.0)
    v = np.zeros_like(a)
    moving = ~rest
    edges = np.diff(np.concatenate(([0], moving.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for s, e in zip(starts, ends):
        seg = np.cumsum(a[s:e]) * dt
        closed = e < a.size or close_last
        if closed and e - s > 0:
            seg -= seg[-1] * np.arange(1, e - s + 1) / (e - s)
        v[s:e] = seg
    return VerticalMotion(velocity=v, displacement=np.cumsum(v) * dt, rest=rest)
