"""The athlete and the lift: masses, strength, ranges of motion, tempo.

Numbers are typical of trained recreational lifters; sources: the load-velocity literature
(González-Badillo & Sánchez-Medina 2010, Sánchez-Medina et al. 2017: mean concentric velocity
at 1RM about 0.3 m/s squat, 0.17 m/s bench, 0.15-0.2 m/s deadlift; 0.7-0.8 m/s at 60 % 1RM)
and body-segment mass fractions (Winter, Biomechanics and Motor Control of Human Movement).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LIFTS = ("squat", "bench_press", "deadlift")

BENCH_MASS_KG = 25.0
"""Flat bench with uprights standing on the platform during bench press: always carried."""


@dataclass(frozen=True)
class LiftProfile:
    name: str
    one_rm_per_body_mass: float   # 1RM of the simulated lifter, as a multiple of body mass
    v_at_1rm: float               # mean concentric velocity at 1RM, m/s
    v_at_60: float                # mean concentric velocity at 60 % 1RM, m/s
    rom_m: tuple[float, float]    # range of the set's typical vertical bar travel
    body_fraction_moving: float   # fraction of body mass whose vertical acceleration equals the bar's
    bar_path_slope: float         # horizontal (y) bar travel per metre of vertical travel
    cop_ap_per_m: float           # AP centre-of-pressure shift per metre of bar height (COM moves)
    concentric_first: bool        # deadlift: rep starts from the floor
    platform_extra_kg: float      # fixed equipment on the platform (bench)
    rack_drop_m: float            # bar height on the rack hooks below lockout (squat, bench)
    walk_out_steps: int           # squat walk-out steps (back after unrack, forward to re-rack)


PROFILES: dict[str, LiftProfile] = {
    # Squat: thighs, trunk, head and arms (about 80 % of body mass) ride down with the bar,
    # but hips travel less than the bar: 0.75 of body mass moves as the bar does.
    "squat": LiftProfile("squat", 1.5, 0.30, 0.78, (0.50, 0.65), 0.75, 0.04, -0.03,
                         False, 0.0, 0.05, 3),
    # Bench: only the forearms/upper arms move, about half as far as the bar.
    "bench_press": LiftProfile("bench_press", 1.0, 0.17, 0.80, (0.32, 0.42), 0.05, -0.20, 0.0,
                               False, BENCH_MASS_KG, 0.04, 0),
    # Deadlift: trunk, head and arms rise with the bar, hips less: 0.55 of body mass.
    "deadlift": LiftProfile("deadlift", 1.8, 0.17, 0.72, (0.48, 0.62), 0.55, 0.03, 0.03,
                            True, 0.0, 0.0, 0),
}


SET_ROM_SD = 0.02
SET_ECCENTRIC_SD = 0.05
"""Set-to-set change of an athlete's own depth and descent time (fractions, ``Style``)."""
ECCENTRIC_S = (1.3, 2.0)
"""Range of a set's base descent time when the athlete has no ``Style``."""


@dataclass(frozen=True)
class Style:
    """An athlete's own depth and descent time, kept from one set to the next.

    Without a style every set draws its range of motion from the lift's whole range and its
    base descent time from ``ECCENTRIC_S``, as if each set were a new lifter. With one, a set's
    base is this value changed by a small set-to-set amount (SD ``SET_ROM_SD`` of the depth,
    ``SET_ECCENTRIC_SD`` of the descent time), drawn from the set's seed."""

    rom_m: float
    eccentric_s: float

    def __post_init__(self) -> None:
        if not (0.1 <= self.rom_m <= 1.0 and 1.2 <= self.eccentric_s <= 2.5):
            raise ValueError(f"style out of range: rom {self.rom_m} m (0.1-1), descent {self.eccentric_s} s (1.2-2.5)")

    def for_set(self, seed: int) -> tuple[float, float]:
        """(range of motion, base descent time) of one set of this athlete."""
        rng = np.random.default_rng([seed, 0x571E])
        rom = self.rom_m * (1.0 + rng.normal(0.0, SET_ROM_SD))
        return rom, float(np.clip(self.eccentric_s * (1.0 + rng.normal(0.0, SET_ECCENTRIC_SD)), 1.2, 2.5))


def drawn_style(lift: "LiftProfile", rng: np.random.Generator) -> Style:
    """The depth and descent time a set without a style draws (the first draws of its stream)."""
    return Style(float(rng.uniform(*lift.rom_m)), float(rng.uniform(*ECCENTRIC_S)))


@dataclass(frozen=True)
class Athlete:
    body_mass_kg: float
    bar_load_kg: float
    rep_variability: float = 1.0
    """How much this athlete's clean reps vary within a set, as a multiple of the typical
    spread (SD 3 % of velocity, 2 % of range of motion, 8 % of descent time): 0.5 is a very
    consistent lifter, 2.0 a loose one (docs/simulator.md, "Athletes")."""
    style: Style | None = None
    """The athlete's own depth and descent time across sets; None: drawn per set (as before)."""

    def __post_init__(self) -> None:
        if not 0.25 <= self.rep_variability <= 3.0:
            raise ValueError(f"rep_variability must be within 0.25..3, got {self.rep_variability}")

    def relative_load(self, lift: LiftProfile) -> float:
        """Bar load as a fraction of this athlete's 1RM, clamped to 30..100 %."""
        return float(np.clip(self.bar_load_kg / (lift.one_rm_per_body_mass * self.body_mass_kg),
                             0.3, 1.0))

    def first_rep_velocity(self, lift: LiftProfile) -> float:
        """Mean concentric velocity of a fresh rep from the linear load-velocity relation."""
        p = self.relative_load(lift)
        v = lift.v_at_1rm + (lift.v_at_60 - lift.v_at_1rm) * (1.0 - p) / 0.4
        return float(np.clip(v, 0.30, 0.80))

    def velocity_loss(self, lift: LiftProfile, reps: int) -> float:
        """Fractional velocity loss from the first to the last rep of a set (fatigue)."""
        return float(np.clip(0.02 * reps * (0.6 + self.relative_load(lift)), 0.05, 0.45))
