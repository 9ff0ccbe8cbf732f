"""Load-cell calibration: per-corner tare (zero offset) and scale (counts per newton).

Model, per corner i: ``counts_i = tare_i + k_i * F_i`` with F_i the vertical force on corner i.

Procedure (docs/loadcell-protocol.md, "Calibration"): record the empty platform (tare), then
place one known mass in turn at the centre and centred over each of the four load cells.
How a load on a four-legged platform divides among the legs is statically indeterminate,
so the solver never assumes it; it uses only what equilibrium guarantees for every
placement j of weight W at (x_j, y_j)::

    sum_i s_i d_ij       = W              (vertical forces)
    sum_i s_i d_ij x_i   = W x_j          (moment about the y axis)
    sum_i s_i d_ij y_i   = W y_j          (moment about the x axis)

where d_ij = counts_ij - tare_i and s_i = 1 / k_i. These are linear in s, so five placements
give 15 equations for 4 unknowns, solved by least squares (numpy.linalg.lstsq). Moment rows
are divided by the half width/depth so that all rows are in newtons. The residual of each
placement's total force says whether the weight was where the operator said it was.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sensors.errors import SensorError
from sensors.files import read_json_file, write_json_atomic
from sensors.frame import PLATFORM_CHANNELS, STANDARD_GRAVITY
from sensors.geometry import DEFAULT_PLATFORM, PlatformGeometry

CALIBRATION_FORMAT = 1
MAX_RESIDUAL_PCT = 5.0
MIN_RESPONSE_COUNTS = 20.0
CORNER_NAMES = {"f_fl": "front-left", "f_fr": "front-right",
                "f_rl": "rear-left", "f_rr": "rear-right"}


class CalibrationError(SensorError):
    """The recorded data cannot give a trustworthy calibration; says which step to repeat."""


@dataclass(frozen=True)
class Placement:
    """The known mass at (x_m, y_m) in the box frame, and the median counts it produced."""

    name: str
    x_m: float
    y_m: float
    counts: tuple[float, float, float, float]


@dataclass(frozen=True)
class PlacementSpot:
    """A spot where the operator puts the known mass; ``where`` completes a prompt sentence."""

    name: str
    x_m: float
    y_m: float
    where: str


def standard_spots(geometry: PlatformGeometry = DEFAULT_PLATFORM) -> list[PlacementSpot]:
    """Centre, then centred over each load cell (front-left, front-right, rear-left, rear-right)."""
    spots = [PlacementSpot("centre", 0.0, 0.0, "on the centre of the platform")]
    for channel, (x, y) in geometry.corner_xy().items():
        corner = CORNER_NAMES[channel]
        spots.append(PlacementSpot(f"corner-{channel[2:]}", x, y,
                                   f"centred over the {corner} load cell"))
    return spots


@dataclass(frozen=True)
class LoadCellCalibration:
    """Per-corner tare and scale, in PLATFORM_CHANNELS order. A negative scale is valid: it
    means that corner's bridge is wired with its signal pair swapped."""

    tare_counts: tuple[float, float, float, float]
    counts_per_newton: tuple[float, float, float, float]
    known_mass_kg: float = 0.0
    residual_pct: dict[str, float] = field(default_factory=dict)
    created: str = ""

    def forces(self, counts: Sequence[int]) -> tuple[float, ...]:
        """Corner forces in newtons for one frame of raw counts."""
        return tuple((c - t) / k for c, t, k in
                     zip(counts, self.tare_counts, self.counts_per_newton))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CALIBRATION_FORMAT,
            "created": self.created,
            "known_mass_kg": self.known_mass_kg,
            "tare_counts": dict(zip(PLATFORM_CHANNELS, self.tare_counts)),
            "counts_per_newton": dict(zip(PLATFORM_CHANNELS, self.counts_per_newton)),
            "residual_pct": self.residual_pct,
        }


def tare_from_samples(samples: np.ndarray) -> np.ndarray:
    """Per-corner zero offset: the median of the empty-platform counts (robust to a bump)."""
    samples = _as_count_matrix(samples, "tare")
    return np.median(samples, axis=0)


def noise_counts(samples: np.ndarray) -> np.ndarray:
    """Per-corner noise (robust standard deviation, 1.4826 * MAD) of a still recording."""
    samples = _as_count_matrix(samples, "tare")
    return 1.4826 * np.median(np.abs(samples - np.median(samples, axis=0)), axis=0)


def placement_from_samples(spot: PlacementSpot, samples: np.ndarray) -> Placement:
    counts = np.median(_as_count_matrix(samples, spot.name), axis=0)
    return Placement(spot.name, spot.x_m, spot.y_m, tuple(float(c) for c in counts))


def solve_calibration(tare: Sequence[float], placements: Sequence[Placement],
                      known_mass_kg: float,
                      geometry: PlatformGeometry = DEFAULT_PLATFORM,
                      noise: Sequence[float] | None = None,
                      max_residual_pct: float = MAX_RESIDUAL_PCT) -> LoadCellCalibration:
    """Least-squares per-corner scale from placements of one known mass (see module docstring).

    Raises CalibrationError when a corner did not respond, the placements cannot determine
    all four scales, or a placement's total disagrees with the known weight by more than
    ``max_residual_pct``.
    """
    if not known_mass_kg > 0:
        raise CalibrationError(f"known mass must be positive, got {known_mass_kg} kg")
    if not placements:
        raise CalibrationError("no placements of the known mass were recorded")
    tare_v = np.asarray(tare, dtype=float)
    weight = known_mass_kg * STANDARD_GRAVITY
    deltas = np.array([p.counts for p in placements], dtype=float) - tare_v
    _check_every_corner_responds(deltas, noise)

    half_w, half_d = geometry.width_m / 2, geometry.depth_m / 2
    xy = np.array([geometry.corner_xy()[c] for c in PLATFORM_CHANNELS])
    rows, rhs = [], []
    for p, d in zip(placements, deltas):
        rows += [d, d * xy[:, 0] / half_w, d * xy[:, 1] / half_d]
        rhs += [weight, weight * p.x_m / half_w, weight * p.y_m / half_d]
    newtons_per_count, _, rank, _ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    if rank < len(PLATFORM_CHANNELS):
        raise CalibrationError(
            f"the {len(placements)} placement(s) cannot separate the four corners (rank {rank}): "
            "record the mass over each load cell as well as at the centre")

    totals = deltas @ newtons_per_count
    residual = {p.name: float(100.0 * (t - weight) / weight) for p, t in zip(placements, totals)}
    worst = max(residual, key=lambda n: abs(residual[n]))
    if abs(residual[worst]) > max_residual_pct:
        raise CalibrationError(
            f"placement '{worst}' reads {residual[worst]:+.1f} % off the known "
            f"{known_mass_kg:g} kg "
            f"after calibration (limit {max_residual_pct:g} %): was the mass on its mark and "
            "nothing else touching the platform? Repeat the calibration")
    return LoadCellCalibration(
        tare_counts=tuple(float(t) for t in tare_v),
        counts_per_newton=tuple(float(1.0 / s) for s in newtons_per_count),
        known_mass_kg=float(known_mass_kg),
        residual_pct=residual,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _check_every_corner_responds(deltas: np.ndarray, noise: Sequence[float] | None) -> None:
    noise_v = np.zeros(len(PLATFORM_CHANNELS)) if noise is None else np.asarray(noise, float)
    threshold = np.maximum(MIN_RESPONSE_COUNTS, 10.0 * noise_v)
    response = np.max(np.abs(deltas), axis=0)
    for channel, r, t in zip(PLATFORM_CHANNELS, response, threshold):
        if r < t:
            raise CalibrationError(
                f"the {CORNER_NAMES[channel]} load cell ({channel}) changed by at most {r:.0f} "
                f"counts with the mass on the platform (needs > {t:.0f}): check its wiring "
                "to the HX711 and that the cell is not bearing on a stop")


def _as_count_matrix(samples: np.ndarray, step: str) -> np.ndarray:
    arr = np.asarray(samples, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != len(PLATFORM_CHANNELS) or arr.shape[0] == 0:
        raise CalibrationError(f"step '{step}': expected N x {len(PLATFORM_CHANNELS)} counts, "
                               f"got shape {arr.shape}")
    return arr


def save_calibration(calibration: LoadCellCalibration, path: str | os.PathLike[str]) -> Path:
    """Write the calibration as JSON atomically: a crash leaves the old file or the new one."""
    return write_json_atomic(path, calibration.to_json())


def load_calibration(path: str | os.PathLike[str]) -> LoadCellCalibration:
    """Read a calibration file; every problem names the file and the key."""
    p = Path(path)
    raw = read_json_file(p, "load-cell calibration", "run `liftguard calibrate loadcells --known-kg <mass>`", CalibrationError)
    if not isinstance(raw, dict):
        raise CalibrationError(f"{p}: expected a JSON object at the top level")
    if raw.get("format") != CALIBRATION_FORMAT:
        raise CalibrationError(f"{p}: key 'format' is {raw.get('format')!r}, "
                               f"expected {CALIBRATION_FORMAT}")
    tare = _corner_values(raw, "tare_counts", p)
    scale = _corner_values(raw, "counts_per_newton", p)
    for channel, k in zip(PLATFORM_CHANNELS, scale):
        if k == 0:
            raise CalibrationError(f"{p}: key 'counts_per_newton.{channel}' must not be 0")
    residual = raw.get("residual_pct", {})
    return LoadCellCalibration(tare, scale, float(raw.get("known_mass_kg", 0.0)),
                               dict(residual) if isinstance(residual, dict) else {},
                               str(raw.get("created", "")))


def _corner_values(raw: dict[str, Any], key: str, path: Path) -> tuple[float, float, float, float]:
    table = raw.get(key)
    if not isinstance(table, dict):
        raise CalibrationError(f"{path}: key '{key}' is missing or not an object "
                               f"with {', '.join(PLATFORM_CHANNELS)}")
    values = []
    for channel in PLATFORM_CHANNELS:
        v = table.get(channel)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise CalibrationError(f"{path}: key '{key}.{channel}' = {v!r} is not a finite number")
        values.append(float(v))
    return tuple(values)  # type: ignore[return-value]
