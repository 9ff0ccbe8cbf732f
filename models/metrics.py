"""Per-rep metrics and set-level figures; formulas, units and references in docs/metrics.md."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import numpy as np

from sensors.geometry import DEFAULT_PLATFORM, PlatformGeometry, left_right_asymmetry_pct

CHI2_95_2DOF = 5.991          # chi-square quantile (0.95, 2 dof) for the prediction ellipse
TREMOR_BAND_HZ = (7.0, 13.0)  # physiological / fatigue tremor band
COP_SMOOTH_S = 0.05           # moving average applied to the COP before the path length
STICKING_RANGE = (0.25, 0.75)  # part of the concentric displacement searched for a stall


@dataclass
class RepMetrics:
    """One rep's metrics; a value is None when it could not be computed (see ``unavailable``)."""

    number: int
    start_s: float
    bottom_s: float
    end_s: float
    eccentric_s: float | None = None
    concentric_s: float | None = None
    pause_s: float | None = None
    rom_m: float | None = None
    mean_concentric_velocity_mps: float | None = None
    peak_concentric_velocity_mps: float | None = None
    mid_range_velocity_mps: float | None = None
    peak_eccentric_velocity_mps: float | None = None
    sticking_ratio: float | None = None
    max_tilt_deg: float | None = None
    signed_max_tilt_deg: float | None = None
    rms_tilt_deg: float | None = None
    lateral_displacement_m: float | None = None
    signed_lateral_displacement_m: float | None = None
    tremor_rms_mps2: float | None = None
    cop_ml_rms_m: float | None = None
    cop_ap_rms_m: float | None = None
    cop_path_velocity_mps: float | None = None
    cop_ellipse_area_m2: float | None = None
    cop_ap_shift_m: float | None = None
    asymmetry_pct: float | None = None
    balance_score: float | None = None
    stability_score: float | None = None
    injury_risk: float | None = None
    velocity_loss_pct: float | None = None   # against the best rep so far (models.velocity_cue)
    mid_range_velocity_loss_pct: float | None = None  # the same on mid_range_velocity_mps: the cue's
    unavailable: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` gives, without its recursive deep copy of every value
        (the per-rep analysis calls this for every rep of the set so far at each rep): the
        numbers are immutable, ``unavailable`` is copied."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["unavailable"] = dict(self.unavailable)
        return out


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def centre_of_pressure(forces: np.ndarray,
                       geometry: PlatformGeometry = DEFAULT_PLATFORM) -> np.ndarray:
    """COP (x, y) in metres per sample from corner forces (columns f_fl, f_fr, f_rl, f_rr):
    COP_x = sum(F_i x_i) / sum(F_i), likewise y. NaN where the total is not positive."""
    xy = geometry.corner_xy()
    pos = np.array([xy[c] for c in ("f_fl", "f_fr", "f_rl", "f_rr")])  # (4, 2)
    total = forces.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cop = forces @ pos / total[:, None]
    cop[~(total > 0)] = np.nan
    return cop


def cop_sway_defined(cop: np.ndarray) -> bool:
    """Whether ``cop_sway`` gives values for ``cop`` (at least 3 finite samples) or ``{}``."""
    return int(np.count_nonzero(np.all(np.isfinite(cop), axis=1))) >= 3


def cop_sway(cop: np.ndarray, rate_hz: float) -> dict[str, float]:
    """ML/AP RMS about the mean (m), mean path velocity (m/s), 95 % prediction-ellipse area (m^2)
    (Prieto et al. 1996; Schubert & Kirchner 2014: area = pi * chi2 * sqrt(l1 * l2))."""
    if not cop_sway_defined(cop):
        return {}
    c = cop[np.all(np.isfinite(cop), axis=1)]
    d = c - c.mean(axis=0)
    w = max(1, int(round(COP_SMOOTH_S * rate_hz)))
    smooth = np.column_stack([np.convolve(c[:, i], np.ones(w) / w, mode="valid") for i in (0, 1)])
    path = float(np.sum(np.linalg.norm(np.diff(smooth, axis=0), axis=1)))
    eig = np.clip(np.linalg.eigvalsh(np.cov(d.T)), 0.0, None)
    return {"cop_ml_rms_m": rms(d[:, 0]), "cop_ap_rms_m": rms(d[:, 1]),
            "cop_path_velocity_mps": path * rate_hz / max(smooth.shape[0] - 1, 1),
            "cop_ellipse_area_m2": float(math.pi * CHI2_95_2DOF * math.sqrt(eig[0] * eig[1]))}


def mean_asymmetry_pct(forces: np.ndarray) -> float:
    """Mean over the samples of ``sensors.geometry.left_right_asymmetry_pct`` (positive = left)."""
    ok = np.all(np.isfinite(forces), axis=1)
    vals = [left_right_asymmetry_pct(*row) for row in forces[ok].tolist()]
    return float(np.mean(vals)) if vals else math.nan


def band_rms(x: np.ndarray, rate_hz: float, band: tuple[float, float] = TREMOR_BAND_HZ) -> float:
    """RMS of the part of ``x`` inside ``band`` (Hz), from the FFT (Parseval), linear trend removed."""
    x = x[np.isfinite(x)]
    if x.size < 8:
        return math.nan
    t = np.arange(x.size)
    x = x - np.polyval(np.polyfit(t, x, 1), t)
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1.0 / rate_hz)
    sel = (f >= band[0]) & (f <= band[1])
    power = 2.0 * np.sum(np.abs(spec[sel]) ** 2) / x.size ** 2
    return float(np.sqrt(power))


def lateral_excursion(a_lat: np.ndarray, rate_hz: float) -> np.ndarray:
    """Bar displacement along the (horizontal) bar axis over one rep, m, relative to its start.

    Double integration of the lateral acceleration with the velocity forced to 0 at both ends
    of the rep (the bar is at lockout/rest there): a linear velocity trend is removed. The
    position is likewise forced back to 0 at the end (the bar is re-centred at lockout), which
    removes the drift that a small orientation error leaks from gravity into the lateral axis:
    on the simulator this halves the mean error (1.7 -> 0.9 cm) and the worst (7 -> 3.4 cm).
    """
    a = np.where(np.isfinite(a_lat), a_lat, 0.0)
    dt = 1.0 / rate_hz
    v = np.cumsum(a) * dt
    v -= v[-1] * np.arange(1, v.size + 1) / v.size
    x = np.cumsum(v) * dt
    return x - x[-1] * np.arange(1, x.size + 1) / x.size


MID_RANGE = (0.10, 0.90)


def mid_range_velocity(z: np.ndarray, t: np.ndarray, band: tuple[float, float] = MID_RANGE
                       ) -> float:
    """Mean concentric speed while the bar covers ``band`` (10-90 %) of the concentric
    displacement: distance over the time between the two crossings (interpolated).

    The mean concentric velocity divides by the whole phase, whose ends are where the velocity
    changes sign: slow tails where a little velocity drift moves the boundary a lot (3 % per
    rep on the simulator). Crossing times of the displacement in mid-range are well defined
    (the bar is fast there): 0.5 % per rep. Same ratio rep to rep when the velocity profile
    keeps its shape, and it still slows for a mid-range sticking point."""
    if z.size < 3 or z[-1] == z[0]:
        return math.nan
    frac = (z - z[0]) / (z[-1] - z[0])
    crossings = []
    for level in band:
        i = int(np.argmax(frac >= level))
        if i == 0:
            return math.nan
        f0, f1 = frac[i - 1], frac[i]
        crossings.append(t[i - 1] + (level - f0) / (f1 - f0) * (t[i] - t[i - 1]) if f1 != f0 else t[i])
    dt = crossings[1] - crossings[0]
    return float((band[1] - band[0]) * abs(z[-1] - z[0]) / dt) if dt > 0 else math.nan


def sticking_ratio(z: np.ndarray, v: np.ndarray, mean_velocity: float) -> float:
    """Lowest concentric speed in the middle of the range (25-75 % of the displacement) relative
    to the mean concentric velocity; about 1 for a smooth rep, low when the bar stalls."""
    if z.size < 3 or not mean_velocity:
        return math.nan
    frac = (z - z[0]) / (z[-1] - z[0]) if z[-1] != z[0] else np.zeros_like(z)
    mid = (frac >= STICKING_RANGE[0]) & (frac <= STICKING_RANGE[1])
    return float(np.min(np.abs(v[mid])) / abs(mean_velocity)) if mid.any() else math.nan


def velocity_loss_pct(mean_velocities: Sequence[float | None]) -> float | None:
    """Velocity loss over the set: 100 * (best - last) / best mean concentric velocity
    (Sanchez-Medina & Gonzalez-Badillo 2011 use the fastest rep as reference)."""
    v = [x for x in mean_velocities if x is not None and math.isfinite(x)]
    if len(v) < 2 or max(v) <= 0:
        return None
    return 100.0 * (max(v) - v[-1]) / max(v)
