"""``simulate_set``: one set of squat, bench press or deadlift as sensor frames + ground truth."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sensors.geometry import DEFAULT_PLATFORM, PlatformGeometry
from sensors.rep_truth import RepTruth
from sensors.simulator.athlete import LIFTS, PROFILES, Athlete, Style, drawn_style
from sensors.simulator.faults import validate_faults
from sensors.simulator.kinematics import BENCH_SETUPS, RepPlan, SetPlan, plan_set
from sensors.simulator.noise import NoiseModel
from sensors.simulator.signals import corner_forces, imu_signals, platform_load

TRUTH_STEP_S = 0.001


@dataclass
class CleanSignals:
    """Noise-free sensor signals at the sample instants (for tests and analysis checks)."""

    t_imu: np.ndarray
    accel: np.ndarray      # (n, 3) m/s^2
    gyro: np.ndarray       # (n, 3) rad/s
    t_platform: np.ndarray
    forces: np.ndarray     # (n, 4) N, PLATFORM_CHANNELS order


@dataclass
class SimulatedSet:
    lift: str
    seed: int
    athlete_mass_kg: float
    bar_load_kg: float
    platform_extra_kg: float
    imu_rate_hz: float
    platform_rate_hz: float
    faults: dict[int, str]
    frames: list[Frame]
    reps: list[RepTruth]
    duration_s: float
    plan: SetPlan = field(repr=False)
    clean: CleanSignals = field(repr=False)

    def meta(self) -> dict[str, Any]:
        """What the labels file records about the set besides its reps."""
        load_path = {}
        if self.lift == "bench_press":
            load_path["bench_setup"] = self.plan.bench_setup
        if self.plan.lockout_hold_s:
            load_path["lockout_hold_s"] = self.plan.lockout_hold_s
        if self.plan.spotter_rep is not None:
            load_path.update(spotter_rep=self.plan.spotter_rep,
                             spotter_share=round(self.plan.spotter_share, 6))
        return {**load_path, "lift": self.lift, "seed": self.seed, "athlete_mass_kg": self.athlete_mass_kg,
                "bar_load_kg": self.bar_load_kg, "platform_extra_kg": self.platform_extra_kg,
                "imu_rate_hz": self.imu_rate_hz, "platform_rate_hz": self.platform_rate_hz,
                "duration_s": round(self.duration_s, 6),
                "faults": {str(k): v for k, v in sorted(self.faults.items())}}


def set_style(lift: str, seed: int) -> Style:
    """The depth and descent time that ``simulate_set(lift, seed=seed)`` without a style draws:
    pass it as ``style`` to simulate the same athlete's other sets (``plan_set``'s stream)."""
    return drawn_style(PROFILES[lift], np.random.default_rng([seed, 0]))


def simulate_set(lift: str = "squat", reps: int = 8, faults: dict[int, str] | None = None,
                 seed: int = 7, imu_rate_hz: float = 200, platform_rate_hz: float = 80,
                 athlete_mass_kg: float = 80.0, bar_load_kg: float = 60.0,
                 start_mono_ns: int = 0, start_wall_s: float = 1.7e9,
                 noise: NoiseModel | None = None,
                 geometry: PlatformGeometry = DEFAULT_PLATFORM,
                 bench_setup: str = BENCH_SETUPS[0], lockout_hold_s: float = 0.0,
                 spotter_rep: int | None = None, rep_variability: float = 1.0,
                 style: Style | None = None) -> SimulatedSet:
    """Simulate one set; the same arguments always give the same frames.

    ``faults`` maps 1-based rep numbers to ``FAULT_TYPES`` entries. ``noise`` defaults to the
    MPU-6050 / HX711 model; ``NoiseModel.none()`` gives the exact signals. The load path:
    ``bench_setup`` (bench press: ``BENCH_SETUPS``), ``lockout_hold_s`` (deadlift: seconds
    held at lockout; 0 = straight back down, as the shipped bundle was trained) and
    ``spotter_rep`` (a spotter touches the bar around that rep); docs/simulator.md.
    ``rep_variability`` scales how much the athlete's clean reps vary within the set
    (``Athlete.rep_variability``; 1.0 = as before, the same frames for the same seed).
    ``style`` keeps the athlete's own depth and descent time across sets (``Style``; None: drawn
    per set, as before).
    """
    if lift not in PROFILES:
        raise ValueError(f"unknown lift {lift!r} (known: {', '.join(LIFTS)})")
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    if imu_rate_hz <= 0 or platform_rate_hz <= 0:
        raise ValueError("sample rates must be positive")
    faults = dict(faults or {})
    validate_faults(faults, reps)
    noise = NoiseModel() if noise is None else noise
    profile = PROFILES[lift]
    plan = plan_set(profile, Athlete(athlete_mass_kg, bar_load_kg, rep_variability, style), reps, faults, seed,
                    bench_setup, lockout_hold_s, spotter_rep)

    t_imu = _sample_times(plan.duration_s, imu_rate_hz)
    t_plat = _sample_times(plan.duration_s, platform_rate_hz)
    accel, gyro = imu_signals(plan, t_imu)
    forces = corner_forces(*platform_load(plan, t_plat), geometry)
    clean = CleanSignals(t_imu, accel, gyro, t_plat, forces)

    noise_rng = np.random.default_rng([seed, 0x5E550])
    accel_n, gyro_n = noise.imu(accel, gyro, imu_rate_hz, noise_rng)
    forces_n = noise.loadcells(forces, noise_rng, platform_rate_hz)

    frames = (_frames("imu", IMU_CHANNELS, np.hstack([accel_n, gyro_n]), imu_rate_hz,
                      start_mono_ns, start_wall_s)
              + _frames("platform", PLATFORM_CHANNELS, forces_n, platform_rate_hz,
                        start_mono_ns, start_wall_s))
    frames.sort(key=lambda f: (f.mono_ns, f.source != "imu"))
    truth = [_rep_truth(plan, rep, geometry, profile.concentric_first) for rep in plan.reps]
    return SimulatedSet(lift, seed, float(athlete_mass_kg), float(bar_load_kg),
                        profile.platform_extra_kg, float(imu_rate_hz), float(platform_rate_hz),
                        faults, frames, truth, plan.duration_s, plan, clean)


def _sample_times(duration_s: float, rate_hz: float) -> np.ndarray:
    return np.arange(int(np.floor(duration_s * rate_hz)) + 1) / rate_hz


def _frames(source: str, channels: tuple[str, ...], values: np.ndarray, rate_hz: float,
            start_mono_ns: int, start_wall_s: float) -> list[Frame]:
    period_ns = 1e9 / rate_hz
    return [Frame(source, k, start_mono_ns + int(round(k * period_ns)), start_wall_s + k / rate_hz,
                  channels, tuple(row))
            for k, row in enumerate(values.tolist())]


def _rep_truth(plan: SetPlan, rep: RepPlan, geometry: PlatformGeometry,
               concentric_first: bool) -> RepTruth:
    """Truth metrics from the noise-free plan, sampled every millisecond over the rep."""
    t = np.arange(rep.start_s, rep.end_s + TRUTH_STEP_S / 2, TRUTH_STEP_S)
    z, vz, _ = plan.z.eval(t)
    c0, c1 = (rep.start_s, rep.bottom_s) if concentric_first else (rep.bottom_s, rep.end_s)
    in_con = (t >= c0) & (t <= c1)
    z_c0, z_c1 = plan.z.eval(np.array([c0, c1]))[0]
    x, _, _ = plan.x.eval(t)
    roll, _, _ = plan.roll.eval(t)
    force, cop_x, cop_y = platform_load(plan, t)
    f = corner_forces(force, cop_x, cop_y, geometry)
    left, right = f[:, 0] + f[:, 2], f[:, 1] + f[:, 3]
    return RepTruth(
        number=rep.number,
        start_s=round(rep.start_s, 6), bottom_s=round(rep.bottom_s, 6), end_s=round(rep.end_s, 6),
        eccentric_s=round((rep.end_s - rep.bottom_s - rep.hold_s) if concentric_first
                          else (rep.bottom_s - rep.start_s), 6),
        concentric_s=round(c1 - c0, 6),
        rom_m=round(float(z.max() - z.min()), 6),
        mean_concentric_velocity_mps=round(float(abs(z_c1 - z_c0) / (c1 - c0)), 6),
        peak_concentric_velocity_mps=round(float(vz[in_con].max()), 6),
        asymmetry_pct=round(float(np.mean(100.0 * (left - right) / (left + right))), 6),
        max_tilt_deg=round(float(np.degrees(np.abs(roll).max())), 6),
        lateral_displacement_m=round(float(np.abs(x - x[0]).max()), 6),
        cop_ml_rms_m=round(float(np.std(cop_x)), 6),
        cop_ap_rms_m=round(float(np.std(cop_y)), 6),
        fault=rep.fault,
        fault_onset_s=None if rep.fault_onset_s is None else round(rep.fault_onset_s, 6),
    )
