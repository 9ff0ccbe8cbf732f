"""Axes and platform geometry shared by every source, the simulator and the metrics.

Box frame (right-handed): x = medio-lateral, positive to the athlete's right; y = antero-
posterior, positive forward (the way the athlete faces); z = up.

The bar IMU is mounted at the bar's centre with its axes aligned to the box frame when the bar
is level and square to the athlete: x along the bar (to the athlete's right), z up. At rest it
reads (ax, ay, az) = (0, 0, +g): accelerometers measure specific force, not acceleration.
A bar that tips with its right end down is a positive rotation about y (right-hand rule).

Load cells sit under the four corners of a rectangular platform centred on the origin.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlatformGeometry:
    width_m: float = 0.90   # medio-lateral distance between left and right load cells
    depth_m: float = 0.60   # antero-posterior distance between front and rear load cells

    def corner_xy(self) -> dict[str, tuple[float, float]]:
        """Corner positions (x, y) in metres, keyed by platform channel name."""
        hx, hy = self.width_m / 2, self.depth_m / 2
        return {"f_fl": (-hx, hy), "f_fr": (hx, hy), "f_rl": (-hx, -hy), "f_rr": (hx, -hy)}


DEFAULT_PLATFORM = PlatformGeometry()


def left_right_asymmetry_pct(f_fl: float, f_fr: float, f_rl: float, f_rr: float) -> float:
    """Signed left/right load asymmetry, 100 * (L - R) / (L + R); positive = more load on the left.

    This is the "symmetry index" form normalised by the total (Robinson et al. 1987 use the
    mean of the two sides, which doubles the value); docs/metrics.md states which one is used.
    """
    left, right = f_fl + f_rl, f_fr + f_rr
    total = left + right
    return 0.0 if total <= 0 else 100.0 * (left - right) / total
