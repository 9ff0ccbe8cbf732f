"""Alignment, resampling, gap marking and bad-channel detection (models.signals, models.quality)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models.quality import clean_source, inspect_channel
from models.signals import MAX_INTERP_S, align_frames, split_by_source
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame


def _imu_frames(rate_hz: float, seconds: float, drop: range = range(0), t0_ns: int = 0,
                fn=lambda t: (0.0, 0.0, 9.8, 0.0, 0.0, 0.0)) -> list[Frame]:
    n = int(seconds * rate_hz)
    return [Frame("imu", k, t0_ns + int(round(k * 1e9 / rate_hz)), 0.0, IMU_CHANNELS, fn(k / rate_hz))
            for k in range(n) if k not in drop]


def _ramp(t: float) -> tuple[float, ...]:
    return (t, 0.0, 9.8, 0.0, 0.0, 2.0 * t)


def test_resampling_reproduces_a_linear_signal_on_the_common_grid():
    frames = _imu_frames(200, 2.0, fn=_ramp) + [
        Frame("platform", k, 3_000_000 + int(round(k * 1e9 / 80)), 0.0, PLATFORM_CHANNELS,
              (100.0 + k, 100.0, 100.0, 100.0)) for k in range(150)]
    sig = align_frames(frames, rate_hz=100)
    assert sig.rate_hz == 100 and np.allclose(np.diff(sig.t), 0.01)
    ok = np.isfinite(sig.channels["ax"])
    assert ok.sum() >= 199
    assert np.allclose(sig.channels["ax"][ok], sig.t[ok], atol=1e-9)
    assert np.allclose(sig.channels["gz"][ok], 2 * sig.t[ok], atol=1e-9)
    # the platform starts 3 ms later than the IMU: its first grid point is before its first frame
    assert math.isnan(sig.channels["f_fl"][0]) and sig.gap["platform"][0]
    k = 50  # t = 0.5 s -> platform sample index (0.5 - 0.003) * 80
    assert sig.channels["f_fl"][k] == pytest.approx(100.0 + (0.5 - 0.003) * 80, abs=1e-6)


def test_short_hole_is_interpolated_but_marked_long_hole_is_nan_and_marked():
    short = range(100, 105)       # 5 samples at 200 Hz: a 30 ms hole (<= 50 ms)
    long_ = range(200, 240)       # 40 samples: a 205 ms hole
    sig = align_frames(_imu_frames(200, 2.0, drop=set(short) | set(long_), fn=_ramp), rate_hz=100)
    ax, gap = sig.channels["ax"], sig.gap["imu"]
    in_short = (sig.t > 99 / 200) & (sig.t < 105 / 200)
    in_long = (sig.t > 199 / 200) & (sig.t < 240 / 200)
    assert in_short.any() and gap[in_short].all() and np.isfinite(ax[in_short]).all()
    assert np.allclose(ax[in_short], sig.t[in_short])
    assert in_long.any() and gap[in_long].all() and np.isnan(ax[in_long]).all()
    assert not gap[~(in_short | in_long)].any()
    assert (240 - 199) / 200 > MAX_INTERP_S >= (105 - 99) / 200


def test_frames_are_ordered_by_monotonic_time_not_arrival():
    frames = _imu_frames(100, 1.0, fn=_ramp)
    sig = align_frames(list(reversed(frames)), rate_hz=100)
    assert np.allclose(sig.channels["ax"], sig.t)


def test_frozen_saturated_and_nan_samples_are_flagged_and_not_used():
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(0, 0.05, n)
    x[50:52] = np.nan
    full_scale = 8 * 9.80665
    x[100:110] = full_scale          # pinned at the +-8 g range
    x[200:320] = x[199]              # stuck for 0.6 s at 200 Hz
    bad, issues = inspect_channel("ax", x, 200.0)
    kinds = {i.kind: i for i in issues}
    assert set(kinds) == {"nan", "saturated", "frozen"}
    assert bad[50:52].all() and bad[100:110].all() and bad[200:320].all()
    assert bad.sum() == 2 + 10 + 121  # the frozen run includes sample 199
    assert not bad[np.r_[0:50, 52:100, 110:199, 320:400]].any()


def test_small_signal_repeating_its_extreme_is_not_called_saturated():
    x = np.round(np.random.default_rng(1).normal(0, 1, 500)) * 0.001  # few-LSB gyro at rest
    _, issues = inspect_channel("gx", x, 200.0)
    assert not [i for i in issues if i.kind == "saturated"]


def test_mostly_bad_channel_is_dropped_with_a_reason():
    frames = _imu_frames(100, 2.0, fn=lambda t: (1.0, 0.0, 9.8, 0.0, 0.0, 0.0))  # ax frozen
    samples = split_by_source(frames)
    issues = clean_source(samples["imu"])
    assert "ax" not in samples["imu"].values
    assert any(i.channel == "ax" and i.kind == "missing" for i in issues)
