"""Each injected fault shows in the channels it should move, against the same set without it."""
from __future__ import annotations

import numpy as np
import pytest

from sensors.geometry import DEFAULT_PLATFORM
from sensors.simulator import FAULT_TYPES, simulate_set

REP = 2
SEED = 21


def _set(lift, fault):
    return simulate_set(lift=lift, reps=3, seed=SEED, faults={REP: fault} if fault else {})


@pytest.fixture(scope="module")
def baseline():
    return {lift: _set(lift, None) for lift in ("squat", "deadlift")}


def window(s, source, t0, t1):
    fs = [f for f in s.frames if f.source == source]
    t = np.array([f.mono_ns for f in fs]) / 1e9
    v = np.array([f.values for f in fs])
    sel = (t >= t0) & (t <= t1)
    return t[sel], v[sel]


def rep_window(s, source, after_onset=False):
    rep = s.reps[REP - 1]
    return window(s, source, rep.fault_onset_s if after_onset else rep.start_s, rep.end_s)


def cop(forces):
    fl, fr, rl, rr = forces.T
    total = forces.sum(axis=1)
    return (DEFAULT_PLATFORM.width_m / 2 * (fr + rr - fl - rl) / total,
            DEFAULT_PLATFORM.depth_m / 2 * (fl + fr - rl - rr) / total)


def band_power(x, rate, lo, hi):
    x = x - x.mean()
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return spec[(f >= lo) & (f <= hi)].sum() / len(x)


@pytest.mark.parametrize("fault", FAULT_TYPES)
@pytest.mark.parametrize("lift", ["squat", "deadlift"])
def test_fault_is_labelled_with_onset_inside_its_rep(lift, fault):
    s = _set(lift, fault)
    for rep in s.reps:
        if rep.number == REP:
            assert rep.fault == fault
            assert rep.start_s <= rep.fault_onset_s < rep.end_s
        else:
            assert rep.fault is None and rep.fault_onset_s is None


def test_lateral_sway_moves_ax_and_x(baseline):
    s = _set("squat", "lateral_sway")
    _, faulty = rep_window(s, "imu")
    _, clean = rep_window(baseline["squat"], "imu")
    assert faulty[:, 0].var() > 3 * clean[:, 0].var()
    assert s.reps[REP - 1].lateral_displacement_m > 0.02
    assert baseline["squat"].reps[REP - 1].lateral_displacement_m < 0.015


def test_tilt_moves_gy_and_roll(baseline):
    s = _set("squat", "tilt")
    rep = s.reps[REP - 1]
    _, faulty = window(s, "imu", rep.fault_onset_s, rep.fault_onset_s + 0.4)
    _, clean = window(baseline["squat"], "imu", rep.fault_onset_s, rep.fault_onset_s + 0.4)
    assert np.abs(faulty[:, 4]).max() > 3 * np.abs(clean[:, 4]).max()
    assert rep.max_tilt_deg > 4.0 > baseline["squat"].reps[REP - 1].max_tilt_deg
    # held tilt: gravity now leaks into ax by g * sin(tilt)
    _, held = window(s, "imu", rep.end_s - 0.05, rep.end_s)
    _, level = window(baseline["squat"], "imu", rep.end_s - 0.05, rep.end_s)
    shift = abs(held[:, 0].mean() - level[:, 0].mean())
    assert shift == pytest.approx(9.80665 * np.sin(np.radians(rep.max_tilt_deg)), rel=0.3)


def test_weight_shift_moves_asymmetry(baseline):
    s = _set("squat", "weight_shift")
    rep = s.reps[REP - 1]
    _, f = window(s, "platform", rep.fault_onset_s + 0.4, rep.end_s)
    _, f0 = window(baseline["squat"], "platform", rep.fault_onset_s + 0.4, rep.end_s)

    def asym(forces):
        left, right = forces[:, 0] + forces[:, 2], forces[:, 1] + forces[:, 3]
        return 100 * (left - right) / (left + right)

    assert abs(asym(f).mean() - asym(f0).mean()) > 5.0
    assert abs(rep.asymmetry_pct) > 2.0 > abs(baseline["squat"].reps[REP - 1].asymmetry_pct)
    # before the onset nothing has happened yet
    _, pre = window(s, "platform", rep.start_s, rep.fault_onset_s)
    _, pre0 = window(baseline["squat"], "platform", rep.start_s, rep.fault_onset_s)
    assert abs(asym(pre).mean() - asym(pre0).mean()) < 0.5


@pytest.mark.parametrize("fault, sign", [("cop_forward", 1), ("cop_backward", -1)])
def test_cop_shift_moves_antero_posterior_cop(baseline, fault, sign):
    s = _set("squat", fault)
    rep = s.reps[REP - 1]
    _, f = window(s, "platform", rep.fault_onset_s + 0.4, rep.end_s)
    _, f0 = window(baseline["squat"], "platform", rep.fault_onset_s + 0.4, rep.end_s)
    shift = cop(f)[1].mean() - cop(f0)[1].mean()
    assert sign * shift > 0.03
    assert abs(cop(f)[0].mean() - cop(f0)[0].mean()) < 0.005   # ML untouched


@pytest.mark.parametrize("lift", ["squat", "deadlift"])
def test_tremor_adds_8_to_12_hz_power(baseline, lift):
    s = _set(lift, "tremor")
    _, imu = rep_window(s, "imu", after_onset=True)
    rep = s.reps[REP - 1]
    _, imu0 = window(baseline[lift], "imu", rep.fault_onset_s, rep.end_s)
    for col in (2, 3, 4):                     # az, gx, gy
        assert band_power(imu[:, col], 200, 8, 12) > 10 * band_power(imu0[:, col], 200, 8, 12)
    _, plat = rep_window(s, "platform", after_onset=True)
    _, plat0 = window(baseline[lift], "platform", rep.fault_onset_s, rep.end_s)
    assert (band_power(plat.sum(axis=1), 80, 8, 12)
            > 10 * band_power(plat0.sum(axis=1), 80, 8, 12))


@pytest.mark.parametrize("lift", ["squat", "deadlift"])
def test_sticking_point_dips_concentric_velocity(baseline, lift):
    s = _set(lift, "sticking_point")
    rep, ref = s.reps[REP - 1], baseline[lift].reps[REP - 1]
    assert rep.concentric_s > 1.15 * ref.concentric_s
    assert rep.mean_concentric_velocity_mps < 0.9 * ref.mean_concentric_velocity_mps
    c0, c1 = (rep.start_s, rep.bottom_s) if lift == "deadlift" else (rep.bottom_s, rep.end_s)
    t = np.linspace(c0, c1, 1000)
    v = s.plan.z.eval(t)[1]
    inner = v[100:-100]
    k = int(np.argmin(inner)) + 100
    assert v[k] < 0.4 * rep.mean_concentric_velocity_mps     # stall mid-range
    assert v[:k].max() > v[k] * 2 and v[k:].max() > v[k] * 2  # fast before and after
    assert c0 < rep.fault_onset_s < t[k]                      # onset: velocity starts to drop


@pytest.mark.parametrize("lift", ["squat", "deadlift"])
def test_fast_eccentric_is_shorter_and_faster(baseline, lift):
    s = _set(lift, "fast_eccentric")
    rep, ref = s.reps[REP - 1], baseline[lift].reps[REP - 1]
    assert rep.eccentric_s < 0.6 * ref.eccentric_s
    assert rep.rom_m / rep.eccentric_s > 1.5 * ref.rom_m / ref.eccentric_s
    assert (s.clean.forces.sum(axis=1) > 0).all()           # never faster than free fall


def test_faults_leave_other_reps_alone(baseline):
    s = _set("squat", "weight_shift")
    for a, b in zip(s.reps, baseline["squat"].reps):
        if a.number < REP:
            assert a == b
