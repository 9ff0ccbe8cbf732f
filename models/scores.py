"""balance_score, stability_score (0..100) and injury_risk (0..1): documented composites.

Each component turns one metric into a 0..100 sub-score with ``100 / (1 + (x / x50) ** 2)``:
100 when the metric is 0, 50 at ``x50`` (the value a coach would call clearly off), falling
towards 0 beyond. A score is the weighted mean of the sub-scores that could be computed; if none
could, the score is None. ``injury_risk`` combines per-metric risk ramps (0 below ``safe``,
1 at ``danger``) as ``1 - prod(1 - w_i * r_i)``. It is a heuristic training aid, not a
diagnosis (docs/metrics.md).
"""
from __future__ import annotations

import math
from typing import Mapping

# metric -> (x50, weight); metric values are taken as absolute values
BALANCE_COMPONENTS: dict[str, tuple[float, float]] = {
    "asymmetry_pct": (8.0, 0.4),
    "cop_ml_rms_m": (0.012, 0.3),
    "cop_ap_rms_m": (0.015, 0.3),
}
STABILITY_COMPONENTS: dict[str, tuple[float, float]] = {
    "max_tilt_deg": (4.0, 0.25),
    "lateral_displacement_m": (0.06, 0.2),
    "tremor_rms_mps2": (0.25, 0.2),
    "sticking_deficit": (0.6, 0.15),      # 1 - sticking_ratio
    "peak_eccentric_velocity_mps": (1.4, 0.2),
}
# metric -> (safe, danger, weight)
RISK_COMPONENTS: dict[str, tuple[float, float, float]] = {
    "asymmetry_pct": (5.0, 20.0, 0.5),
    "max_tilt_deg": (3.0, 10.0, 0.5),
    "lateral_displacement_m": (0.04, 0.12, 0.4),
    "cop_ap_rms_m": (0.015, 0.05, 0.4),
    "peak_eccentric_velocity_mps": (1.0, 2.0, 0.5),
    "tremor_rms_mps2": (0.2, 1.0, 0.3),
    "velocity_loss_pct": (20.0, 45.0, 0.4),
}


def _value(metrics: Mapping[str, float | None], name: str) -> float | None:
    if name == "sticking_deficit":
        r = metrics.get("sticking_ratio")
        return None if r is None or not math.isfinite(r) else max(0.0, 1.0 - r)
    x = metrics.get(name)
    return None if x is None or not math.isfinite(x) else abs(x)


def sub_score(x: float, x50: float) -> float:
    return 100.0 / (1.0 + (x / x50) ** 2)


def _composite(metrics: Mapping[str, float | None],
               components: Mapping[str, tuple[float, float]]) -> float | None:
    total = weight = 0.0
    for name, (x50, w) in components.items():
        x = _value(metrics, name)
        if x is not None:
            total += w * sub_score(x, x50)
            weight += w
    return total / weight if weight else None


def balance_score(metrics: Mapping[str, float | None]) -> float | None:
    """0..100 from left/right asymmetry and COP sway (platform metrics)."""
    return _composite(metrics, BALANCE_COMPONENTS)


def stability_score(metrics: Mapping[str, float | None]) -> float | None:
    """0..100 from bar tilt, lateral displacement, tremor, sticking and eccentric speed (IMU)."""
    return _composite(metrics, STABILITY_COMPONENTS)


def injury_risk(metrics: Mapping[str, float | None]) -> float | None:
    """0..1 heuristic: ``1 - prod(1 - w * ramp(x; safe, danger))`` over available metrics."""
    keep = 1.0
    seen = False
    for name, (safe, danger, w) in RISK_COMPONENTS.items():
        x = _value(metrics, name)
        if x is None:
            continue
        seen = True
        keep *= 1.0 - w * min(1.0, max(0.0, (x - safe) / (danger - safe)))
    return 1.0 - keep if seen else None
