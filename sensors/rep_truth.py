"""Ground truth of one simulated rep (written to the labels file next to a recording)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class RepTruth:
    """Times are seconds since the set's first frame.

    Squat / bench press: ``start_s`` = eccentric begins, ``bottom_s`` = end of the eccentric
    and start of the concentric, ``end_s`` = back at lockout. Deadlift (concentric first):
    ``start_s`` = bar leaves the floor, ``bottom_s`` = lockout (the turnaround), ``end_s`` =
    bar back on the floor. Metrics come from the noise-free trajectory and forces.
    """

    number: int
    start_s: float
    bottom_s: float
    end_s: float
    eccentric_s: float
    concentric_s: float
    rom_m: float
    mean_concentric_velocity_mps: float
    peak_concentric_velocity_mps: float
    asymmetry_pct: float
    max_tilt_deg: float
    lateral_displacement_m: float
    cop_ml_rms_m: float
    cop_ap_rms_m: float
    fault: str | None = None
    fault_onset_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
