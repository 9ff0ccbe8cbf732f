"""Per-lift timelines: when each rep happens and how the bar, the body and the load move.

``plan_set`` lays out a whole set (walk-out or lift-off, reps with pauses, re-rack) as smooth
tracks (see ``tracks``) and notes each rep's phase times and fault onset. Vertical bar height
``z`` is measured from the lockout height (squat, bench press; negative = below lockout) or
from the floor (deadlift).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sensors.simulator import faults as F
from sensors.simulator.athlete import Athlete, LiftProfile, drawn_style
from sensors.simulator.tracks import Knots, Product, Scaled, Sine, Sum, Track, envelope, slow_sway

DEG = np.pi / 180.0

BENCH_SETUPS = ("uprights_on_platform", "rack_off_platform", "bench_off_platform")
"""Where the bench press's bar rests and where the bench stands (docs/simulator.md):
uprights_on_platform = bench with its own uprights on the platform, which carries the racked
bar too; rack_off_platform = bench on the platform, bar racked in a rack standing off it;
bench_off_platform = bench and rack off the platform, only the lifter's feet on it."""
FEET_SHARE_ON_BENCH = 0.15   # share of body weight through the feet of a lifter lying on a bench
SPOTTER_SHARE = (0.15, 0.40)  # share of the bar's weight a spotter's hands take when touching it

WALK_STEP_M = 0.07          # squat walk-out: each step back moves lifter and bar 7 cm
WALK_STEP_S = 0.7
STEP_COP_SHIFT_M = 0.10     # COP moves over the stance foot while the other foot is lifted
MIN_JERK_PEAK_ACCEL = 10 / np.sqrt(3)   # peak |acceleration| of a min-jerk move = this * D / T^2


@dataclass
class RepPlan:
    number: int
    start_s: float
    bottom_s: float
    end_s: float
    fault: str | None = None
    fault_onset_s: float | None = None
    hold_s: float = 0.0        # deadlift: time held at lockout between "bottom" and the descent


@dataclass
class SetPlan:
    """Everything the signal generator needs, all as functions of set time (s)."""

    z: Sum                     # bar height (m)
    x: Sum                     # bar lateral position (m), + = athlete's right
    y: Sum                     # bar antero-posterior position (m), + = forward
    roll: Sum                  # rotation about y (rad): the bar's ends go up/down
    pitch: Sum                 # rotation about x (rad): the bar turns about its own axis
    yaw: Sum                   # rotation about z (rad)
    bar_on_platform: Knots     # 0..1: share of the bar's weight carried through the lifter
    cop_x: Sum                 # centre of pressure of the body's own load (m), before bar coupling
    cop_y: Sum
    body_y: Knots              # where the lifter stands (walk-out), m along y
    bar_mass_kg: float
    body_moving_kg: float      # body mass whose vertical acceleration equals the bar's
    platform_static_kg: float  # body + fixed equipment (bench)
    reps: list[RepPlan] = field(default_factory=list)
    duration_s: float = 0.0
    spotter_kg: Knots = field(default_factory=Knots)  # bar weight a spotter (off the platform) holds
    spotter_share: float = 0.0
    spotter_rep: int | None = None
    bench_setup: str | None = None
    lockout_hold_s: float = 0.0


class _Planner:
    def __init__(self, lift: LiftProfile, athlete: Athlete, reps: int, faults: dict[int, str],
                 rng: np.random.Generator, seed: int, bench_setup: str = BENCH_SETUPS[0],
                 lockout_hold_s: float = 0.0, spotter_rep: int | None = None) -> None:
        self.lift, self.athlete, self.n, self.faults, self.rng = lift, athlete, reps, faults, rng
        self.seed = seed
        self.frng = rng
        self.bench_setup = bench_setup if lift.name == "bench_press" else None
        self.lockout_hold_s = lockout_hold_s if lift.concentric_first else 0.0
        self.spotter_rep = spotter_rep
        self.spotter = Knots(0.0)
        self.spotter_share = 0.0
        start_z = -lift.rack_drop_m
        self.zk = Knots(start_z)
        self.walk = Knots(WALK_STEP_M * lift.walk_out_steps)
        self.step_cop = Knots(0.0)
        # The bar's share carried through the platform: squat bar on the rack (off the
        # platform), deadlift plates on the floor beyond its edges, the bench's racked bar on
        # uprights standing on the platform (or on a rack off it, or nowhere near it).
        self.load = Knots(1.0 if self.bench_setup == "uprights_on_platform" else 0.0)
        self.extra_z: list[Track] = []
        self.extra = {k: [] for k in ("x", "roll", "pitch", "cop_x", "cop_y")}
        self.reps: list[RepPlan] = []
        self.t = 0.0

    # --- set structure -------------------------------------------------------------------
    def build(self) -> SetPlan:
        rng, lift = self.rng, self.lift
        v0 = self.athlete.first_rep_velocity(lift)
        loss = self.athlete.velocity_loss(lift, self.n)
        drawn = drawn_style(lift, rng)
        rom0, ecc0 = drawn.rom_m, drawn.eccentric_s
        if self.athlete.style is not None:
            rom0, ecc0 = self.athlete.style.for_set(self.seed)
        self._setup()
        spread = self.athlete.rep_variability
        for i in range(1, self.n + 1):
            progress = (i - 1) / max(self.n - 1, 1)
            v = v0 * (1.0 - loss * progress ** 1.3) * (1.0 + rng.normal(0.0, 0.03 * spread))
            rom = rom0 * (1.0 + rng.normal(0.0, 0.02 * spread))
            ecc = float(np.clip(ecc0 * (1.0 + rng.normal(0.0, 0.08 * spread)), 1.2, 2.5))
            self._rep(i, rom, v, ecc, self.faults.get(i))
        self._finish()
        return self._plan()

    def _setup(self) -> None:
        lift, t = self.lift, 1.0
        if lift.name == "squat":
            self.load.move(t, t + 0.5, 1.0)            # push up under the bar: rack lets go
            self.zk.move(t + 0.4, t + 1.0, 0.0)       # stand up with it
            t += 1.3
            t = self._walk(t, -1)
            t += 1.5                                    # settle and brace
        elif lift.name == "bench_press":
            if self.bench_setup == "rack_off_platform":
                self.load.move(t - 0.1, t + 0.4, 1.0)  # arms take the bar off the hooks
            self.zk.move(t, t + 0.6, 0.0)              # lift-off from the uprights
            t += 1.8                                     # bring it over the shoulders, settle
        else:
            t += 0.5                                     # deadlift: set up over the bar
        self.t = t

    def _finish(self) -> None:
        lift, t = self.lift, self.t + 1.0
        if lift.name == "squat":
            t = self._walk(t, +1)
            self.zk.move(t, t + 0.6, -lift.rack_drop_m)
            self.load.move(t + 0.5, t + 0.9, 0.0)
            t += 0.9
        elif lift.name == "bench_press":
            self.zk.move(t, t + 0.6, -lift.rack_drop_m)
            if self.bench_setup == "rack_off_platform":
                self.load.move(t + 0.5, t + 0.9, 0.0)
            t += 0.9 if self.bench_setup == "rack_off_platform" else 0.6
        self.t = t + 1.0

    def _walk(self, t: float, direction: int) -> float:
        """Walk-out (direction -1, backwards) or walk-in (+1) steps, alternating feet."""
        for step in range(self.lift.walk_out_steps):
            side = 1.0 if step % 2 == 0 else -1.0       # stance on the right foot first
            self.walk.move(t, t + 0.6, self.walk.value + direction * WALK_STEP_M)
            self.step_cop.move(t, t + 0.2, side * STEP_COP_SHIFT_M)
            self.step_cop.move(t + 0.4, t + 0.6, 0.0)
            t += WALK_STEP_S
        return t

    # --- one rep -------------------------------------------------------------------------
    def _rep(self, number: int, rom: float, v_mean: float, ecc: float, fault: str | None) -> None:
        # Fault magnitudes come from their own stream, so a set with a fault is the same set as
        # without it up to that rep's fault (same seed, same natural variability).
        self.frng = np.random.default_rng([self.seed, number])
        rng, lift = self.frng, self.lift
        if fault == "fast_eccentric":
            # As fast as drawn, but a minimum-jerk descent's peak acceleration (5.77 ROM / T^2)
            # stays below FAST_ECCENTRIC_MAX_ACCEL: lifter and bar cannot fall faster than g.
            ecc = max(rng.uniform(*F.FAST_ECCENTRIC_S),
                      float(np.sqrt(MIN_JERK_PEAK_ACCEL * rom / F.FAST_ECCENTRIC_MAX_ACCEL)))
        con = rom / v_mean
        onset: float | None = None
        if lift.concentric_first:
            self.load.move(self.t, self.t + 0.4, 1.0)   # take up the slack: bar still on the floor
            start = self.t + 0.4
            bottom, onset_c = self._concentric(start, 0.0, rom, con, v_mean, fault)
            descent = bottom + self.lockout_hold_s
            self.zk.move(descent, descent + ecc, 0.0)
            end = descent + ecc
            self.load.move(end + 0.05, end + 0.35, 0.0)
            pause = self.rng.uniform(1.2, 2.2)
            ecc_start = descent
        else:
            start = self.t
            self.zk.move(start, start + ecc, -rom)
            bottom = start + ecc
            end, onset_c = self._concentric(bottom, -rom, 0.0, con, v_mean, fault)
            pause = self.rng.uniform(0.8, 1.6)
            ecc_start = start
        if fault == "sticking_point":
            onset = onset_c
        elif fault == "fast_eccentric":
            onset = ecc_start
        elif fault == "tremor":
            c0, c1 = (start, bottom) if lift.concentric_first else (bottom, end)
            onset = c0 + rng.uniform(0.1, 0.4) * (c1 - c0)
            self._tremor(onset, end)
        elif fault is not None:
            onset = start + rng.uniform(0.15, 0.55) * (end - start)
            self._posture_fault(fault, onset, end)
        self.reps.append(RepPlan(number, start, bottom, end, fault, onset, self.lockout_hold_s))
        if number == self.spotter_rep:
            self._spotter_touch(start, end, pause)
        self.t = end + pause

    def _spotter_touch(self, start: float, end: float, pause: float) -> None:
        """A spotter standing off the platform holds part of the bar's weight from the still
        stretch before rep ``spotter_rep`` through the rep to the stretch after it: that
        weight reaches the floor through the spotter, not through the platform."""
        rng = np.random.default_rng([self.seed, 0x5B07])
        self.spotter_share = float(rng.uniform(*SPOTTER_SHARE))
        kg = self.spotter_share * self.athlete.bar_load_kg
        before = max(self.spotter.end_t + 0.01, start - 0.6)
        self.spotter.move(before - 0.2, before, kg)
        after = end + 0.7 * pause
        self.spotter.move(after, after + 0.2, 0.0)

    def _concentric(self, t0: float, z0: float, z1: float, duration: float, v_mean: float,
                    fault: str | None) -> tuple[float, float | None]:
        """Add the concentric move; returns its end time and, for a sticking point, the onset
        (the instant the velocity starts to collapse: its peak before the stall)."""
        if fault != "sticking_point":
            self.zk.move(t0, t0 + duration, z1)
            return t0 + duration, None
        rng, d = self.frng, z1 - z0
        frac = rng.uniform(*F.STICKING_DEPTH_FRACTION)
        v_stall = rng.uniform(*F.STICKING_VELOCITY_FRACTION) * v_mean
        t1 = t0 + frac * d / (0.8 * v_mean)
        t2 = t1 + (1 - frac) * d / (0.75 * v_mean)
        self.zk.move(t0, t1, z0 + frac * d, v=v_stall)
        self.zk.add(t2, z1)
        grid = np.linspace(t0, t1, 2001)
        _, vel, _ = self.zk.eval(grid)
        return t2, float(grid[int(np.argmax(vel))])

    # --- faults --------------------------------------------------------------------------
    def _posture_fault(self, fault: str, onset: float, end: float) -> None:
        rng = self.frng
        env = envelope(onset, F.FAULT_RAMP_S, end, F.FAULT_RELEASE_S)
        side = rng.choice([-1.0, 1.0])
        if fault == "lateral_sway":
            sway = Sine(rng.uniform(*F.LATERAL_SWAY_AMP_M), rng.uniform(*F.LATERAL_SWAY_FREQ_HZ),
                        t0=onset)
            self.extra["x"].append(Product(env, sway))
        elif fault == "tilt":
            self.extra["roll"].append(Scaled(env, side * rng.uniform(*F.TILT_DEG) * DEG))
        elif fault == "weight_shift":
            self.extra["cop_x"].append(Scaled(env, side * rng.uniform(*F.WEIGHT_SHIFT_M)))
        elif fault in ("cop_forward", "cop_backward"):
            sign = 1.0 if fault == "cop_forward" else -1.0
            self.extra["cop_y"].append(Scaled(env, sign * rng.uniform(*F.COP_SHIFT_M)))
        else:
            raise ValueError(f"no posture model for fault {fault!r}")

    def _tremor(self, onset: float, end: float) -> None:
        rng = self.frng
        f = rng.uniform(*F.TREMOR_FREQ_HZ)
        w = 2 * np.pi * f
        env = envelope(onset, 0.15, end, 0.3)

        def shake(amp: float) -> Product:
            return Product(env, Sine(amp, f, rng.uniform(0, 2 * np.pi)))

        self.extra_z.append(shake(rng.uniform(*F.TREMOR_ACCEL_MPS2) / w ** 2))
        for axis in ("roll", "pitch"):
            self.extra[axis].append(shake(rng.uniform(*F.TREMOR_GYRO_DPS) * DEG / w))
        for axis in ("cop_x", "cop_y"):
            self.extra[axis].append(shake(F.TREMOR_COP_M))

    # --- assembly ------------------------------------------------------------------------
    def _plan(self) -> SetPlan:
        rng, lift, a = self.rng, self.lift, self.athlete
        z = Sum(self.zk, *self.extra_z)
        y = Sum(self.walk, Scaled(self.zk, lift.bar_path_slope))
        x = Sum(slow_sway(rng, 0.003, 0.2, 0.8), *self.extra["x"])
        roll = Sum(slow_sway(rng, 0.4 * DEG), *self.extra["roll"])
        pitch = Sum(slow_sway(rng, 0.5 * DEG), Scaled(self.zk, 3.0 * DEG), *self.extra["pitch"])
        yaw = Sum(slow_sway(rng, 0.3 * DEG))
        cop_x = Sum(slow_sway(rng, 0.0025), self.step_cop, *self.extra["cop_x"])
        cop_y = Sum(slow_sway(rng, 0.004), self.walk, Scaled(self.zk, lift.cop_ap_per_m),
                    *self.extra["cop_y"])
        return SetPlan(
            z=z, x=x, y=y, roll=roll, pitch=pitch, yaw=yaw, bar_on_platform=self.load,
            cop_x=cop_x, cop_y=cop_y,
            body_y=self.walk, bar_mass_kg=a.bar_load_kg,
            body_moving_kg=(0.0 if self.bench_setup == "bench_off_platform"
                            else lift.body_fraction_moving * a.body_mass_kg),
            platform_static_kg=(FEET_SHARE_ON_BENCH * a.body_mass_kg
                                if self.bench_setup == "bench_off_platform"
                                else a.body_mass_kg + lift.platform_extra_kg),
            reps=self.reps, duration_s=self.t, spotter_kg=self.spotter,
            spotter_share=self.spotter_share, spotter_rep=self.spotter_rep,
            bench_setup=self.bench_setup, lockout_hold_s=self.lockout_hold_s)


def plan_set(lift: LiftProfile, athlete: Athlete, reps: int, faults: dict[int, str],
             seed: int, bench_setup: str = BENCH_SETUPS[0], lockout_hold_s: float = 0.0,
             spotter_rep: int | None = None) -> SetPlan:
    """The whole set's motion; natural variability from ``seed``, each fault from (seed, rep).

    ``bench_setup`` (bench press only) is one of ``BENCH_SETUPS``; ``lockout_hold_s``
    (deadlift only) holds each rep at lockout; ``spotter_rep`` has a spotter touch the bar
    around that rep (the load-path fault, see ``_spotter_touch``)."""
    if bench_setup not in BENCH_SETUPS:
        raise ValueError(f"unknown bench setup {bench_setup!r} (known: {', '.join(BENCH_SETUPS)})")
    if not 0.0 <= lockout_hold_s <= 10.0:
        raise ValueError(f"lockout_hold_s must be within 0..10 s, got {lockout_hold_s}")
    if spotter_rep is not None and not 1 <= spotter_rep <= reps:
        raise ValueError(f"spotter_rep {spotter_rep} is out of range 1..{reps}")
    rng = np.random.default_rng([seed, 0])
    return _Planner(lift, athlete, reps, faults, rng, seed, bench_setup, lockout_hold_s,
                    spotter_rep).build()
