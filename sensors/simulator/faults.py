"""Fault types the simulator can inject, their spec syntax and their magnitudes.

Each fault happens in one rep and starts at a ground-truth onset time inside that rep;
``docs/simulator.md`` describes what each does physically and which channels it moves.
"""
from __future__ import annotations

import re

FAULT_TYPES: tuple[str, ...] = (
    "lateral_sway",    # bar oscillates side to side (x)
    "tilt",            # uneven bar: one end drops (rotation about y)
    "weight_shift",    # load moves onto one foot (left/right asymmetry)
    "cop_forward",     # weight rolls onto the toes, heels lift (COP moves forward)
    "cop_backward",    # weight rocks back onto the heels, toes lift (COP moves back)
    "tremor",          # 8-12 Hz shaking near failure (accel, gyro, forces)
    "sticking_point",  # concentric velocity collapses near mid-range, then recovers
    "fast_eccentric",  # uncontrolled, fast descent
)

# Magnitude ranges, drawn per fault with the set's RNG (documented in docs/simulator.md).
LATERAL_SWAY_AMP_M = (0.025, 0.045)
LATERAL_SWAY_FREQ_HZ = (0.8, 1.3)
TILT_DEG = (4.0, 8.0)
WEIGHT_SHIFT_M = (0.035, 0.06)        # COP x shift; asymmetry = -200 * dx / platform width %
COP_SHIFT_M = (0.04, 0.06)            # COP y shift
TREMOR_FREQ_HZ = (8.0, 12.0)
TREMOR_ACCEL_MPS2 = (0.6, 1.2)        # vertical bar acceleration amplitude
TREMOR_GYRO_DPS = (6.0, 12.0)         # angular-rate amplitude about x and y
TREMOR_COP_M = 0.002
STICKING_DEPTH_FRACTION = (0.35, 0.50)  # where in the concentric (fraction of ROM) it stalls
STICKING_VELOCITY_FRACTION = (0.12, 0.25)  # velocity at the stall / normal mean velocity
FAST_ECCENTRIC_S = (0.45, 0.65)
FAST_ECCENTRIC_MAX_ACCEL = 0.75 * 9.80665  # m/s^2: the descent is lengthened to stay below
FAULT_RAMP_S = 0.3                    # envelope rise after onset
FAULT_RELEASE_S = 0.5                 # envelope fall after the rep ends

_ITEM = re.compile(r"^\s*([a-z_]+)\s*@\s*(\d+)\s*$")


class FaultSpecError(ValueError):
    """A fault spec such as 'lateral_sway@3,tilt@6' that cannot be parsed."""


def parse_faults(spec: str, reps: int | None = None) -> dict[int, str]:
    """Parse ``"type@rep,type@rep"`` into ``{rep (1-based): type}``; empty spec -> no faults.

    Raises ``FaultSpecError`` naming the bad item: unknown type, rep number below 1 (or above
    ``reps`` when given), a rep named twice, or a malformed item.
    """
    faults: dict[int, str] = {}
    if not spec.strip():
        return faults
    for item in spec.split(","):
        m = _ITEM.match(item)
        if m is None:
            raise FaultSpecError(f"fault spec item {item.strip()!r} is not TYPE@REP "
                                 f"(e.g. 'lateral_sway@3')")
        kind, rep = m.group(1), int(m.group(2))
        if kind not in FAULT_TYPES:
            raise FaultSpecError(f"unknown fault type {kind!r} in {item.strip()!r} "
                                 f"(known: {', '.join(FAULT_TYPES)})")
        if rep < 1 or (reps is not None and rep > reps):
            bound = f"1..{reps}" if reps is not None else ">= 1"
            raise FaultSpecError(f"rep {rep} in {item.strip()!r} is out of range {bound}")
        if rep in faults:
            raise FaultSpecError(f"rep {rep} has two faults ({faults[rep]!r} and {kind!r}); "
                                 f"one fault per rep")
        faults[rep] = kind
    return faults


def validate_faults(faults: dict[int, str], reps: int) -> None:
    for rep, kind in faults.items():
        if kind not in FAULT_TYPES:
            raise FaultSpecError(f"unknown fault type {kind!r} for rep {rep} "
                                 f"(known: {', '.join(FAULT_TYPES)})")
        if not 1 <= rep <= reps:
            raise FaultSpecError(f"fault {kind!r} names rep {rep}, out of range 1..{reps}")
