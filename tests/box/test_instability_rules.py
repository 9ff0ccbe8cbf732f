"""InstabilityRules: the live check without a model. A level, steady bar passes; a tilted or
swaying bar fires the matching check; nothing is judged while the platform is unloaded."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.daemon.instability import MIN_LOAD_N, THRESHOLDS, InstabilityRules, bar_tilt_deg

G = 9.81
RATE_HZ = 200
HOP_NS = 50_000_000   # 20 Hz hops


def window(tilt_deg: float = 0.0, sway_std: float = 0.0, load_n: float | None = 800.0,
           now_ns: int = 10**10, seconds: float = 1.0, seed: int = 0):
    """IMU rows (ax, ay, az, gx, gy, gz) for the last ``seconds`` with the bar tilted by
    ``tilt_deg`` and a lateral acceleration of standard deviation ``sway_std``; platform rows
    carrying ``load_n`` in total (none when ``load_n`` is None: a box without a platform)."""
    n = int(seconds * RATE_HZ)
    t = now_ns - (np.arange(n)[::-1] * (1e9 / RATE_HZ)).astype(np.int64)
    theta = np.radians(tilt_deg)
    imu = np.zeros((n, 6))
    imu[:, 0] = -G * np.sin(theta)
    imu[:, 2] = G * np.cos(theta)
    if sway_std:
        wave = np.sin(2 * np.pi * 0.8 * t / 1e9)
        imu[:, 0] += sway_std * wave / wave.std()
    if load_n is None:
        return imu, t, np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    platform = np.full((n // 2, 4), load_n / 4)
    return imu, t, platform, t[::2][: n // 2]


def settle(rules: InstabilityRules, hops: int = 40, **kw) -> int:
    """Feed ``hops`` level, steady windows; returns the time of the last one."""
    now = 10**10
    for _ in range(hops):
        now += HOP_NS
        rules.evaluate(*window(now_ns=now, **kw), now)
    return now


def test_bar_tilt_is_the_roll_angle_of_gravity():
    imu, *_ = window(tilt_deg=7.0)
    assert bar_tilt_deg(imu) == pytest.approx(7.0, abs=1e-9)


def test_a_level_steady_bar_passes_both_checks():
    rules = InstabilityRules()
    now = settle(rules) + HOP_NS
    decision = rules.evaluate(*window(now_ns=now), now)
    assert decision.evaluated and decision.severity < 1
    assert {f.check for f in decision.findings} == set(THRESHOLDS)


def test_a_tilted_bar_fires_the_tilt_check():
    rules = InstabilityRules()
    now = settle(rules) + HOP_NS
    decision = rules.evaluate(*window(tilt_deg=10.0, now_ns=now), now)
    assert decision.severity >= 1
    assert decision.top.check == "tilt_deg"
    assert decision.top.value == pytest.approx(10.0, abs=0.5)
    assert "bar tilting" in decision.top.describe()


def test_a_swaying_bar_fires_the_sway_check():
    rules = InstabilityRules()
    now = settle(rules) + HOP_NS
    decision = rules.evaluate(*window(sway_std=1.0, now_ns=now), now)
    assert decision.top.check == "lateral_accel_std_mps2" and decision.severity >= 1


def test_a_constant_mounting_offset_is_not_a_tilt():
    """The session's median tilt is the bar's level: a sensor mounted 8 degrees off is fine."""
    rules = InstabilityRules()
    now = settle(rules, tilt_deg=8.0) + HOP_NS
    decision = rules.evaluate(*window(tilt_deg=8.0, now_ns=now), now)
    assert decision.evaluated and decision.severity < 1


def test_nothing_is_judged_on_an_unloaded_platform_or_without_samples():
    rules = InstabilityRules()
    now = 10**10
    assert not rules.evaluate(*window(tilt_deg=20, load_n=MIN_LOAD_N / 2, now_ns=now), now).evaluated
    imu, t, platform, pt = window(now_ns=now)
    assert not rules.evaluate(imu[:1], t[:1], platform, pt, now).evaluated


def test_a_box_without_a_platform_always_judges():
    rules = InstabilityRules()
    now = settle(rules, load_n=None) + HOP_NS
    decision = rules.evaluate(*window(tilt_deg=10.0, load_n=None, now_ns=now), now)
    assert decision.evaluated and decision.top.check == "tilt_deg"


def test_reset_forgets_the_previous_sessions_level():
    rules = InstabilityRules()
    settle(rules, tilt_deg=8.0)
    rules.reset()
    now = settle(rules) + HOP_NS
    decision = rules.evaluate(*window(tilt_deg=8.0, now_ns=now), now)
    assert decision.top.check == "tilt_deg" and decision.severity >= 1


@given(st.floats(-3.0, 3.0), st.floats(0.0, 0.2))
def test_small_tilts_and_sways_never_fire(tilt, sway):
    rules = InstabilityRules()
    now = settle(rules, hops=5) + HOP_NS
    decision = rules.evaluate(*window(tilt_deg=tilt, sway_std=sway, now_ns=now), now)
    assert decision.evaluated and decision.severity < 1
