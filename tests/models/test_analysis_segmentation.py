"""Orientation, zero-velocity-update integration and rep segmentation (incremental = offline)."""
from __future__ import annotations

import numpy as np
import pytest

from models.kinematics import integrate_with_zupt, window_samples
from models.orientation import bar_tilt_deg, estimate_up
from models.segmentation import RepSegmenter, segment_bar, zigzag
from models.signals import align_frames
from sensors.frame import IMU_CHANNELS
from sensors.frame import STANDARD_GRAVITY as G

RATE = 100.0


def _min_jerk(distance: float, n: int) -> np.ndarray:
    tau = np.linspace(0, 1, n)
    return distance * (10 * tau ** 3 - 15 * tau ** 4 + 6 * tau ** 5)


def _trace(pieces: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(pieces)


def _imu_from_height(z: np.ndarray, x: np.ndarray | None = None, seed: int = 0,
                     bias=(0.05, -0.03, 0.08)) -> tuple[np.ndarray, np.ndarray]:
    """Level bar: specific force = (a_x, 0, g + a_z) plus noise and a constant offset."""
    rng = np.random.default_rng(seed)
    dt = 1 / RATE
    az = np.gradient(np.gradient(z, dt), dt)
    ax = np.zeros_like(z) if x is None else np.gradient(np.gradient(x, dt), dt)
    acc = np.column_stack([ax, np.zeros_like(z), G + az]) + rng.normal(0, 0.03, (z.size, 3)) + bias
    gyr = rng.normal(0, 0.003, (z.size, 3))
    return acc, gyr


def _squat_set(reps: int = 4, rom: float = 0.5, pause_s: float = 0.0, seed: int = 0):
    """Squat-like heights with rests at lockout; returns z and the true (start, bottom, end)."""
    rng = np.random.default_rng(seed)
    pieces, truth, n = [np.zeros(150)], [], 150
    for _ in range(reps):
        down, up = int(RATE * rng.uniform(1.2, 1.8)), int(RATE * rng.uniform(0.8, 1.2))
        pause, rest = int(RATE * pause_s), int(RATE * rng.uniform(0.8, 1.5))
        pieces += [-_min_jerk(rom, down), np.full(pause, -rom), -rom + _min_jerk(rom, up),
                   np.zeros(rest)]
        truth.append((n, n + down + pause, n + down + pause + up))
        n += down + pause + up + rest
    return _trace(pieces), truth


def test_complementary_filter_follows_a_static_tilt_and_a_rotation():
    n = 600
    angle = np.radians(np.concatenate([np.full(200, 5.0), np.linspace(5, -10, 200), np.full(200, -10.0)]))
    rate = np.gradient(angle, 1 / RATE)
    # bar tipped about y by -angle: right end up by +angle -> ax = g sin(angle)
    acc = np.column_stack([G * np.sin(angle), np.zeros(n), G * np.cos(angle)])
    gyr = np.column_stack([np.zeros(n), -rate, np.zeros(n)])
    tilt = bar_tilt_deg(estimate_up(acc, gyr, RATE))
    assert tilt[150] == pytest.approx(5.0, abs=0.05)
    assert tilt[300] == pytest.approx(np.degrees(angle[300]), abs=0.5)   # mid-rotation: gyro-led
    assert tilt[-1] == pytest.approx(-10.0, abs=0.05)


def test_zupt_removes_a_constant_acceleration_bias_between_rests():
    z, _ = _squat_set(reps=3)
    a = np.gradient(np.gradient(z, 1 / RATE), 1 / RATE) + 0.2  # 0.2 m/s^2 uncorrected bias
    rest = np.abs(np.gradient(z, 1 / RATE)) < 1e-9
    motion = integrate_with_zupt(a, rest, RATE)
    assert np.abs(motion.displacement - z).max() < 0.02
    raw = np.cumsum(np.cumsum(a) / RATE) / RATE
    assert np.abs(raw - z).max() > 1.0     # without ZUPT the same bias drifts by metres


@pytest.mark.parametrize("pause_s", [0.0, 1.0])
def test_segmentation_finds_reps_with_and_without_a_pause_at_the_bottom(pause_s):
    z, truth = _squat_set(reps=4, pause_s=pause_s)
    acc, gyr = _imu_from_height(z)
    reps, seg = segment_bar(acc, gyr, "squat", RATE)
    assert len(reps) == len(truth)
    for rep, (start, bottom, end) in zip(reps, truth):
        assert abs(rep.start - start) <= 10 and abs(rep.end - end) <= 10
        assert abs(rep.turn - bottom) <= 10
        assert np.ptp(seg.motion.displacement[rep.start:rep.end + 1]) == pytest.approx(0.5, abs=0.02)


def test_walk_out_and_small_vertical_moves_are_not_reps():
    walk_x = _trace([np.zeros(100)] + [k * 0.07 + _min_jerk(0.07, 70) for k in range(3)]
                    + [np.full(100, 0.21)])
    bumps = _trace([np.zeros(100), _min_jerk(0.05, 60), np.full(50, 0.05), 0.05 - _min_jerk(0.05, 60),
                    np.zeros(100), -_min_jerk(0.08, 80), np.full(50, -0.08), -0.08 + _min_jerk(0.08, 80)])
    z = np.concatenate([np.zeros(walk_x.size), bumps, np.zeros(100)])
    x = np.concatenate([walk_x, np.full(bumps.size + 100, 0.21)])
    acc, gyr = _imu_from_height(z, x)
    reps, _ = segment_bar(acc, gyr, "squat", RATE)
    assert reps == []


def test_deadlift_reps_go_up_first():
    z = _trace([np.zeros(150), _min_jerk(0.5, 90), np.full(60, 0.5), 0.5 - _min_jerk(0.5, 120),
                np.zeros(150), _min_jerk(0.5, 90), np.full(60, 0.5), 0.5 - _min_jerk(0.5, 120),
                np.zeros(150)])
    acc, gyr = _imu_from_height(z)
    assert len(segment_bar(acc, gyr, "deadlift", RATE)[0]) == 2
    reps, _ = segment_bar(acc, gyr, "deadlift", RATE)
    assert abs(reps[0].start - 150) <= 10 and abs(reps[0].first_end - 240) <= 10


def _simulated_imu(lift: str, seed: int):
    sim = pytest.importorskip("sensors.simulator").simulate_set(lift=lift, reps=5, seed=seed)
    sig = align_frames([f for f in sim.frames if f.source == "imu"], RATE)
    return sim, sig.stack(IMU_CHANNELS[:3]), sig.stack(IMU_CHANNELS[3:])


@pytest.mark.parametrize("lift,seed", [("squat", 1), ("bench_press", 2), ("deadlift", 3)])
def test_incremental_blocks_give_the_offline_result_and_report_within_300_ms(lift, seed):
    sim, acc, gyr = _simulated_imu(lift, seed)
    offline, _ = segment_bar(acc, gyr, lift, RATE)
    assert len(offline) == len(sim.reps)
    seg = RepSegmenter(lift, RATE)
    block = 5
    for i in range(0, acc.shape[0], block):
        seg.feed(acc[i:i + block], gyr[i:i + block])
    live = list(seg.reps)
    seg.finish()
    assert seg.reps == offline
    assert len(live) == len(offline)          # every rep was reported while streaming
    latency = np.array(seg.reported_at[:len(live)]) - np.array([r.end for r in live])
    limit = int(0.3 * RATE)
    assert (latency >= 0).all() and (latency <= limit).all(), latency
    assert window_samples(RATE) + block <= limit


def test_zigzag_pivots_need_the_threshold_swing():
    x = np.array([0, 1, 0.5, 2, 0, 0.3, 0])
    pivots, last = zigzag(x, 1.0)
    assert pivots == [0, 3] and last == 4
