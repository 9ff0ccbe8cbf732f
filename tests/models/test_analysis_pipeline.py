"""End to end (models.analysis.analyze_frames) on simulated sets with gaps and bad channels."""
from __future__ import annotations

import pytest

from models import analyze_frames
from sensors.frame import Frame

sim = pytest.importorskip("sensors.simulator")


@pytest.fixture(scope="module")
def squat_set():
    return sim.simulate_set(lift="squat", reps=4, seed=11)


def _replace(frames, source, channel, t0, t1, value_fn):
    out = []
    for f in frames:
        t = f.mono_ns / 1e9
        if f.source == source and t0 <= t <= t1:
            values = tuple(value_fn(v) if c == channel else v for c, v in zip(f.channels, f.values))
            f = f._replace(values=values)
        out.append(f)
    return out


def test_imu_gap_inside_a_rep_makes_its_imu_metrics_unavailable_not_interpolated(squat_set):
    rep2 = squat_set.reps[1]
    mid = (rep2.start_s + rep2.end_s) / 2
    frames = [f for f in squat_set.frames
              if not (f.source == "imu" and mid - 0.3 <= f.mono_ns / 1e9 <= mid + 0.3)]
    result = analyze_frames(frames, "squat")
    assert result.summary["gap_fraction"]["imu"] > 0
    others = [r for r in result.reps if abs(r.start_s - rep2.start_s) > 0.5]
    assert len(others) == 3 and all(r.rom_m is not None for r in others)
    gapped = [r for r in result.reps if abs(r.start_s - rep2.start_s) <= 0.5]
    for r in gapped:  # found or not, a rep across a 0.6 s hole never gets IMU numbers
        assert r.mean_concentric_velocity_mps is None
        assert "missing" in r.unavailable["mean_concentric_velocity_mps"]


def test_saturated_channel_is_reported_and_platform_metrics_still_computed(squat_set):
    frames = _replace(squat_set.frames, "imu", "gx", 3.0, 3.05, lambda v: 1000 * 3.14159265 / 180)
    result = analyze_frames(frames, "squat")
    assert any(i.channel == "gx" and i.kind == "saturated" for i in result.issues)
    assert len(result.reps) == len(squat_set.reps)


def test_nan_platform_channel_drops_platform_metrics_with_reason(squat_set):
    frames = _replace(squat_set.frames, "platform", "f_fr", 0.0, 1e9, lambda v: float("nan"))
    result = analyze_frames(frames, "squat")
    assert any(i.channel == "f_fr" and i.kind == "missing" for i in result.issues)
    assert all(r.asymmetry_pct is None for r in result.reps)
    assert "platform" in result.unavailable["asymmetry_pct"]
    assert result.summary["stability_score"] is not None and result.summary["balance_score"] is None


def test_summary_holds_the_three_session_scores(squat_set):
    result = analyze_frames(squat_set.frames, "squat")
    s = result.summary
    assert s["rep_count"] == len(squat_set.reps)
    assert 0 <= s["balance_score"] <= 100 and 0 <= s["stability_score"] <= 100
    assert 0 <= s["injury_risk"] <= 1
    assert s["injury_risk"] == max(r.injury_risk for r in result.reps)
    mcv = [r.mean_concentric_velocity_mps for r in result.reps]
    assert s["velocity_loss_pct"] == pytest.approx(100 * (max(mcv) - mcv[-1]) / max(mcv))


def test_unknown_lift_and_no_frames_are_clear_errors():
    with pytest.raises(ValueError, match="unknown lift 'curl'"):
        analyze_frames([Frame("imu", 0, 0, 0.0, ("ax",), (0.0,))], "curl")
    with pytest.raises(ValueError, match="no frames"):
        analyze_frames([], "squat")


def test_a_bar_that_never_rests_gives_no_reps_and_says_why():
    import math

    import numpy as np

    from models import analyze_frames
    from sensors.frame import IMU_CHANNELS, STANDARD_GRAVITY, Frame

    noise = np.random.default_rng(3).normal(0, 0.02, (600, 6))   # real sensors are never frozen
    frames = []
    for i in range(600):   # 3 s at 200 Hz of constant up-down motion: never still
        t = i / 200
        az = STANDARD_GRAVITY + 3.0 * math.sin(2 * math.pi * 1.5 * t)
        gx = 0.8 * math.cos(2 * math.pi * 1.5 * t)
        values = tuple(float(v) for v in np.array([0.0, 0.0, az, gx, 0.0, 0.0]) + noise[i])
        frames.append(Frame("imu", i, i * 5_000_000, t, IMU_CHANNELS, values))
    result = analyze_frames(frames, "squat")
    assert result.reps == []
    assert "never rested" in result.unavailable["reps"]
