"""Simulator physics: forces, IMU signal, rep structure, realism, determinism."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, STANDARD_GRAVITY
from sensors.geometry import DEFAULT_PLATFORM
from sensors.recording import write_recording
from sensors.simulator import BENCH_MASS_KG, NoiseModel, RepTruth, simulate_set
from sensors.simulator.athlete import PROFILES
from sensors.simulator.faults import FaultSpecError, parse_faults
from sensors.simulator.signals import _rotate_x, _rotate_y, _rotate_z, corner_forces, platform_load

G = STANDARD_GRAVITY
BODY, BAR = 80.0, 60.0
LIFTS = ("squat", "bench_press", "deadlift")


def arrays(frames, source):
    fs = [f for f in frames if f.source == source]
    return (np.array([f.mono_ns for f in fs]) / 1e9, np.array([f.values for f in fs]))


@pytest.fixture(scope="module", params=LIFTS)
def clean_set(request):
    return simulate_set(lift=request.param, reps=5, seed=11, athlete_mass_kg=BODY,
                        bar_load_kg=BAR, noise=NoiseModel.none())


@pytest.fixture(scope="module")
def noisy_squat():
    return simulate_set(lift="squat", reps=8, seed=5, athlete_mass_kg=BODY, bar_load_kg=BAR)


def still_windows(s):
    """Times where the bar is at rest between reps (from the truth timeline); a deadlift's
    bar takes 0.4 s to settle onto / come off the floor around each rep."""
    margin = 0.45 if s.lift == "deadlift" else 0.1
    return [(a.end_s + margin, b.start_s - margin) for a, b in zip(s.reps, s.reps[1:])]


def test_static_force_is_body_plus_bar_plus_equipment(clean_set):
    s = clean_set
    t, f = s.clean.t_platform, s.clean.forces.sum(axis=1)
    if s.lift == "deadlift":   # between reps the bar rests on the floor, off the platform
        expected = BODY * G
    else:
        expected = (BODY + BAR + (BENCH_MASS_KG if s.lift == "bench_press" else 0.0)) * G
    checked = 0
    for lo, hi in still_windows(s):
        sel = (t > lo) & (t < hi)
        checked += sel.sum()
        np.testing.assert_allclose(f[sel], expected, rtol=1e-9)
    assert checked > 20


def test_noisy_still_force_mean_matches_weight(noisy_squat):
    t, f = arrays(noisy_squat.frames, "platform")
    total = f.sum(axis=1)
    for lo, hi in still_windows(noisy_squat):
        sel = (t > lo) & (t < hi)
        assert abs(total[sel].mean() - (BODY + BAR) * G) < 1.5
        assert 1.0 < total[sel].std() < 3.0        # 4 corners x 1 N RMS -> 2 N


def test_squat_starts_and_ends_with_the_bar_on_the_rack():
    s = simulate_set(lift="squat", reps=2, seed=4, noise=NoiseModel.none())
    f = s.clean.forces.sum(axis=1)
    np.testing.assert_allclose(f[:20], BODY * G, rtol=1e-9)
    np.testing.assert_allclose(f[-20:], BODY * G, rtol=1e-9)
    assert s.reps[0].start_s > 4.0               # unrack, three steps back, settle
    cop_ml = s.plan.cop_x.eval(np.arange(0, s.reps[0].start_s, 0.01))[0]
    assert np.abs(cop_ml).max() > 0.05           # weight over one foot while stepping


def test_dynamic_force_is_moving_mass_times_vertical_acceleration(clean_set):
    """F - M g = (bar + carried body fraction) * z'' with z'' from differentiating positions."""
    s, lift = clean_set, PROFILES[clean_set.lift]
    h = 1e-4
    for rep in s.reps:
        t = np.arange(rep.start_s + 0.05, rep.end_s - 0.05, 0.01)
        z = [s.plan.z.eval(t + d)[0] for d in (-h, 0.0, h)]
        zdd = (z[0] - 2 * z[1] + z[2]) / h ** 2
        share = s.plan.bar_on_platform.eval(t)[0]
        static = (BODY + lift.platform_extra_kg + share * BAR) * G
        total = corner_forces(*platform_load(s.plan, t), DEFAULT_PLATFORM).sum(axis=1)
        moving = share * BAR + lift.body_fraction_moving * BODY
        np.testing.assert_allclose(total - static, moving * zdd, atol=1.0)
        assert np.abs(total - static).max() > 50     # the dynamic part is really there


def test_imu_reads_specific_force_and_orientation_rates(clean_set):
    """Rotating the accelerometer back to the world frame gives a + g (a from positions);
    gyro about y follows the tilt rate."""
    s, p = clean_set, clean_set.plan
    t = s.clean.t_imu
    h = 1e-4
    pos = np.stack([np.stack([tr.eval(t + d)[0] for tr in (p.x, p.y, p.z)], axis=1)
                    for d in (-h, 0.0, h)])
    acc = (pos[0] - 2 * pos[1] + pos[2]) / h ** 2
    phi, theta, psi = (tr.eval(t)[0] for tr in (p.pitch, p.roll, p.yaw))
    world = _rotate_z(_rotate_y(_rotate_x(s.clean.accel, phi), theta), psi)
    # second differences are off by jerk jump * h / 6 where min-jerk segments meet
    np.testing.assert_allclose(world - acc - [0, 0, G], 0.0, atol=5e-3)
    roll_rate = (p.roll.eval(t + h)[0] - p.roll.eval(t - h)[0]) / (2 * h)
    np.testing.assert_allclose(s.clean.gyro[:, 1], roll_rate, atol=np.radians(0.2))


def test_corner_split_reproduces_total_and_centre_of_pressure(clean_set):
    s = clean_set
    force, cop_x, cop_y = platform_load(s.plan, s.clean.t_platform)
    fl, fr, rl, rr = s.clean.forces.T
    total = fl + fr + rl + rr
    np.testing.assert_allclose(total, force, rtol=1e-12)
    np.testing.assert_allclose(DEFAULT_PLATFORM.width_m / 2 * (fr + rr - fl - rl) / total, cop_x,
                               atol=1e-12)
    np.testing.assert_allclose(DEFAULT_PLATFORM.depth_m / 2 * (fl + fr - rl - rr) / total, cop_y,
                               atol=1e-12)
    assert (s.clean.forces > 0).all()


def test_rep_count_matches_bar_excursions(clean_set):
    s = clean_set
    assert [r.number for r in s.reps] == list(range(1, 6))
    z = s.plan.z.eval(s.clean.t_imu)[0]
    rom = min(r.rom_m for r in s.reps)
    if s.lift == "deadlift":
        far = z > rom / 2
    else:
        far = z < -rom / 2
    starts = np.flatnonzero(np.diff(far.astype(int)) == 1) + 1
    assert len(starts) == len(s.reps)
    for k, rep in zip(starts, s.reps):
        assert rep.start_s < s.clean.t_imu[k] < rep.end_s


def test_truth_metrics_agree_with_trajectory(clean_set):
    s = clean_set
    for rep in s.reps:
        c0, c1 = ((rep.start_s, rep.bottom_s) if s.lift == "deadlift"
                  else (rep.bottom_s, rep.end_s))
        z0, z1 = s.plan.z.eval(np.array([c0, c1]))[0]
        assert rep.mean_concentric_velocity_mps == pytest.approx(abs(z1 - z0) / (c1 - c0), abs=1e-5)
        assert rep.rom_m == pytest.approx(abs(z1 - z0), abs=1e-3)
        assert rep.concentric_s + rep.eccentric_s == pytest.approx(rep.end_s - rep.start_s, abs=1e-5)
        t = np.linspace(c0, c1, 500)
        assert s.plan.z.eval(t)[1].min() > -1e-6  # concentric never goes backwards


@pytest.mark.parametrize("lift", LIFTS)
def test_kinematics_are_in_realistic_ranges(lift):
    s = simulate_set(lift=lift, reps=8, seed=3, athlete_mass_kg=BODY, bar_load_kg=BAR)
    rom_lo, rom_hi = PROFILES[lift].rom_m
    for rep in s.reps:
        assert rom_lo * 0.9 < rep.rom_m < rom_hi * 1.1
        assert 0.25 <= rep.mean_concentric_velocity_mps <= 0.85
        assert 1.2 <= rep.eccentric_s <= 2.5
        assert rep.cop_ml_rms_m < 0.01 and rep.cop_ap_rms_m < 0.02
    first, last = s.reps[0], s.reps[-1]
    loss = 1 - last.mean_concentric_velocity_mps / first.mean_concentric_velocity_mps
    assert 0.05 < loss < 0.5                     # velocity loss across the set
    gaps = [b.start_s - a.end_s for a, b in zip(s.reps, s.reps[1:])]
    assert min(gaps) >= 0.8


def test_heavier_bar_moves_slower():
    light = simulate_set(reps=3, seed=2, bar_load_kg=50, noise=NoiseModel.none())
    heavy = simulate_set(reps=3, seed=2, bar_load_kg=110, noise=NoiseModel.none())
    assert (heavy.reps[0].mean_concentric_velocity_mps
            < light.reps[0].mean_concentric_velocity_mps - 0.15)


def test_imu_noise_and_quantisation(noisy_squat):
    t, v = arrays(noisy_squat.frames, "imu")
    clean = noisy_squat.clean.accel
    resid = v[:, :3] - clean
    bias = resid.mean(axis=0)
    assert (np.abs(bias) <= 0.05 * G + 0.01).all()
    noise_rms = (resid - bias).std(axis=0)
    expected = 400e-6 * G * np.sqrt(44)          # density x sqrt(DLPF bandwidth)
    assert ((noise_rms > 0.7 * expected) & (noise_rms < 1.3 * expected)).all()
    lsb = 8 * G / 32768
    np.testing.assert_allclose(v[:, :3] / lsb, np.round(v[:, :3] / lsb), atol=1e-6)


def test_frames_are_sorted_and_sources_complete(noisy_squat):
    s = noisy_squat
    ns = [f.mono_ns for f in s.frames]
    assert ns == sorted(ns)
    imu = [f for f in s.frames if f.source == "imu"]
    plat = [f for f in s.frames if f.source == "platform"]
    assert imu[0].channels == IMU_CHANNELS and plat[0].channels == PLATFORM_CHANNELS
    assert [f.seq for f in imu] == list(range(len(imu)))
    assert len(imu) == pytest.approx(s.duration_s * 200, abs=2)
    assert len(plat) == pytest.approx(s.duration_s * 80, abs=2)


def test_start_timestamps_are_honoured():
    s = simulate_set(reps=1, seed=1, start_mono_ns=5_000_000_000, start_wall_s=1.8e9)
    assert s.frames[0].mono_ns == 5_000_000_000 and s.frames[0].wall_s == 1.8e9
    imu = [f for f in s.frames if f.source == "imu"]
    assert imu[1].mono_ns - imu[0].mono_ns == 5_000_000


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    paths = []
    for i, seed in enumerate((7, 7, 8)):
        s = simulate_set(reps=2, seed=seed, faults={2: "tilt"})
        paths.append(write_recording(tmp_path / f"r{i}.csv", s.frames))
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c


def test_fault_free_set_reports_no_fault():
    s = simulate_set(reps=2, seed=1, noise=NoiseModel.none())
    assert all(isinstance(r, RepTruth) and r.fault is None and r.fault_onset_s is None
               for r in s.reps)


def test_parse_faults():
    assert parse_faults("lateral_sway@3, tilt@6") == {3: "lateral_sway", 6: "tilt"}
    assert parse_faults("") == {}
    for bad, words in (("wobble@2", "unknown fault type"), ("tilt", "TYPE@REP"),
                       ("tilt@0", "out of range"), ("tilt@9", "out of range 1..8"),
                       ("tilt@2,tremor@2", "two faults")):
        with pytest.raises(FaultSpecError, match=words):
            parse_faults(bad, reps=8)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown lift"):
        simulate_set(lift="curl")
    with pytest.raises(ValueError, match="out of range"):
        simulate_set(reps=2, faults={3: "tilt"})
    with pytest.raises(ValueError, match="unknown fault"):
        simulate_set(reps=2, faults={1: "wobble"})


def test_an_athletes_rep_variability_scales_their_rep_to_rep_spread_and_1_changes_nothing():
    import numpy as np
    import pytest

    from sensors.simulator import simulate_set

    def spread(variability: float) -> float:
        s = simulate_set("squat", reps=8, seed=9, rep_variability=variability)
        rom = np.array([r.rom_m for r in s.reps])
        return float(np.std(np.diff(rom)) / np.mean(rom))

    base = simulate_set("squat", reps=8, seed=9)
    same = simulate_set("squat", reps=8, seed=9, rep_variability=1.0)
    assert [f.values for f in base.frames[:50]] == [f.values for f in same.frames[:50]]
    assert spread(0.5) < spread(1.0) < spread(2.0)
    assert spread(2.0) == pytest.approx(4 * spread(0.5), rel=0.05)   # the same draws, scaled
    with pytest.raises(ValueError, match="rep_variability must be within 0.25..3, got 5"):
        simulate_set("squat", reps=2, seed=9, rep_variability=5)


def test_an_athletes_style_keeps_their_depth_and_tempo_across_sets_and_none_changes_nothing():
    from sensors.simulator import Style, set_style

    style = set_style("squat", 23)
    first, second = (simulate_set("squat", reps=6, seed=seed, style=style) for seed in (23, 1023))
    other = simulate_set("squat", reps=6, seed=1023)

    def depth(s):
        return float(np.median([r.rom_m for r in s.reps]))

    assert abs(depth(second) / depth(first) - 1) < 0.08          # set-to-set SD 2 % plus rep spread
    assert abs(depth(other) / depth(first) - 1) > 0.08            # this seed alone draws another depth
    assert simulate_set("squat", reps=6, seed=1023).frames == other.frames
    assert style == Style(style.rom_m, style.eccentric_s)


@given(rom=st.floats(allow_nan=True, allow_infinity=True), descent=st.floats(allow_nan=True, allow_infinity=True))
@settings(max_examples=60, deadline=None)
def test_a_style_out_of_range_is_refused_naming_it(rom, descent):
    from sensors.simulator import Style

    try:
        style = Style(rom, descent)
    except ValueError as exc:
        assert "style out of range" in str(exc)
        assert not (0.1 <= rom <= 1.0 and 1.2 <= descent <= 2.5)
        return
    rom_s, descent_s = style.for_set(1)
    assert 0.05 < rom_s < 1.2 and 1.2 <= descent_s <= 2.5
