"""Alert policy, config and pattern data: pure logic, deterministic time (ManualClock)."""
from __future__ import annotations

import math

import pytest

from edge_agent.feedback import PATTERNS, AlertPolicy, Event, FeedbackConfig, Pattern, Verdict
from edge_agent.feedback.config import PIN_FIELDS
from sensors.clock import ManualClock

ON, OFF, GAP = 0.9, 0.6, 2.0
DECISION_PERIOD_S = 0.1  # the real-time loop decides ~10 times a second


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def policy(clock: ManualClock) -> AlertPolicy:
    return AlertPolicy(ON, OFF, GAP, clock)


def feed(policy: AlertPolicy, clock: ManualClock, probabilities) -> list[tuple[float, Verdict]]:
    """Feed one probability per decision period; returns (time_s, verdict) for each."""
    out = []
    for p in probabilities:
        out.append((clock.mono_ns() / 1e9, policy.observe(p)))
        clock.advance(DECISION_PERIOD_S)
    return out


def alert_times(verdicts) -> list[float]:
    return [t for t, v in verdicts if v is Verdict.ALERT]


def test_borderline_signal_hovering_around_alert_on_alerts_once(policy, clock):
    # 20 s oscillating just around alert_on but never below alert_off: one alert state
    wobble = [ON + 0.02, ON - 0.05] * 100
    verdicts = feed(policy, clock, wobble)
    assert len(alert_times(verdicts)) == 1
    assert policy.suppressed_by_gap == 0
    assert policy.in_alert


def test_signal_crossing_both_thresholds_respects_the_gap(policy, clock):
    # every other decision enters the alert state: 100 entries in 20 s
    flapping = [ON + 0.05, OFF - 0.2] * 100
    verdicts = feed(policy, clock, flapping)
    times = alert_times(verdicts)
    entries = sum(p >= ON for p in flapping)
    assert times, "a real entry into the alert state must alert"
    assert all(b - a >= GAP - 1e-9 for a, b in zip(times, times[1:]))
    assert len(times) <= math.floor(len(flapping) * DECISION_PERIOD_S / GAP) + 1
    assert len(times) + policy.suppressed_by_gap == entries
    assert policy.alerts == len(times)


def test_sustained_alert_state_gives_one_alert_however_long(policy, clock):
    verdicts = feed(policy, clock, [0.99] * 300)
    assert [v for _, v in verdicts].count(Verdict.ALERT) == 1
    assert policy.suppressed_by_gap == 0


def test_new_entry_after_leaving_and_waiting_the_gap_alerts_again(policy, clock):
    assert feed(policy, clock, [0.95])[0][1] is Verdict.ALERT
    feed(policy, clock, [OFF - 0.01])          # leaves the alert state
    clock.advance(GAP)
    assert feed(policy, clock, [0.95])[0][1] is Verdict.ALERT
    assert policy.alerts == 2


def test_dip_between_thresholds_does_not_leave_alert_state(policy, clock):
    feed(policy, clock, [0.95, (ON + OFF) / 2])
    clock.advance(10 * GAP)
    assert feed(policy, clock, [0.95])[0][1] is Verdict.NONE
    assert policy.in_alert


def test_nan_means_no_score_and_changes_nothing(policy, clock):
    assert feed(policy, clock, [math.nan])[0][1] is Verdict.NONE
    assert not policy.in_alert
    feed(policy, clock, [0.95, math.nan])
    assert policy.in_alert


def test_reset_leaves_alert_state_but_keeps_the_gap(policy, clock):
    feed(policy, clock, [0.95])
    policy.reset()
    assert not policy.in_alert
    assert feed(policy, clock, [0.95])[0][1] is Verdict.SUPPRESSED


def test_claim_alert_slot_is_shared_with_instability_alerts(policy, clock):
    feed(policy, clock, [0.95])
    assert not policy.claim_alert_slot()
    clock.advance(GAP)
    assert policy.claim_alert_slot()
    assert not policy.claim_alert_slot()


def test_zero_gap_lets_every_entry_alert(clock):
    policy = AlertPolicy(ON, OFF, 0.0, clock)
    verdicts = feed(policy, clock, [0.95, 0.1] * 5)
    assert len(alert_times(verdicts)) == 5


def test_policy_rejects_inverted_thresholds(clock):
    with pytest.raises(ValueError, match="alert_off"):
        AlertPolicy(0.5, 0.7, GAP, clock)


# --- config ---

def test_config_from_section_maps_minus_one_to_disabled():
    cfg = FeedbackConfig.from_section({"buzzer_pin": -1, "amber_led_pin": -1, "red_led_pin": 5,
                                       "quiet": True, "min_alert_gap_s": 3.5})
    assert cfg.buzzer_pin is None and cfg.amber_led_pin is None
    assert cfg.red_led_pin == 5 and cfg.quiet and cfg.min_alert_gap_s == 3.5


def test_config_names_the_keys_of_inverted_thresholds():
    with pytest.raises(ValueError, match=r"\[feedback\] alert_off \(0.9\).*alert_on \(0.8\)"):
        FeedbackConfig(alert_on=0.8, alert_off=0.9)


def test_config_names_both_keys_of_a_shared_pin():
    with pytest.raises(ValueError, match="green_led_pin and red_led_pin both use GPIO 23"):
        FeedbackConfig(green_led_pin=23, red_led_pin=23)


def test_default_config_is_valid_and_uses_distinct_pins():
    cfg = FeedbackConfig()
    pins = [getattr(cfg, k) for k in PIN_FIELDS]
    assert len(set(pins)) == len(pins)
    assert not {2, 3} & set(pins), "GPIO 2/3 belong to the IMU's I2C bus"


# --- pattern data ---

def _signature(pattern: Pattern) -> tuple:
    return tuple(sorted((k, b.on_s, b.off_s, b.n) for k, b in pattern.tracks.items()))


def test_every_event_has_a_pattern():
    assert set(PATTERNS) == set(Event)
    assert all(p.duration_s > 0 for p in PATTERNS.values())


@pytest.mark.parametrize("variant", [
    pytest.param(lambda p: p, id="full"),
    pytest.param(lambda p: p.without("buzzer"), id="quiet-leds-only"),
    pytest.param(lambda p: p.with_amber_as_red_and_green(), id="no-amber-led"),
    pytest.param(lambda p: p.with_amber_as_red_and_green().without("buzzer"), id="quiet-no-amber"),
])
def test_patterns_stay_distinct(variant):
    signatures = [_signature(variant(p)) for p in PATTERNS.values()]
    assert all(signatures), "every pattern must show something"
    assert len(set(signatures)) == len(signatures)


def test_amber_fallback_lights_red_and_green_together():
    amber = PATTERNS[Event.REP_PROBLEM].tracks["amber"]
    fallback = PATTERNS[Event.REP_PROBLEM].with_amber_as_red_and_green()
    assert "amber" not in fallback.tracks
    assert fallback.tracks["red"] == fallback.tracks["green"] == amber
