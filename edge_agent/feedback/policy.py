"""When to sound an alert: hysteresis on the anomaly probability plus a minimum gap.

* The alert state is entered when the probability reaches ``alert_on`` and left only when
  it falls below ``alert_off`` (< ``alert_on``), so a borderline signal hovering around
  ``alert_on`` stays in one alert state instead of chattering.
* Each entry into the alert state earns at most one instability alert, and only if no
  alert went out in the last ``min_alert_gap_s``; an entry inside the gap is suppressed
  (and counted), not postponed: by the time the gap ends the moment has passed.
* Other buzzer sounds that are not athlete-initiated (rep with a problem, device fault) use
  the same gap via ``claim_alert_slot``; when refused they show on the LEDs only.
* In quiet mode alerts still take their slot, so the LEDs do not flicker either.

Time comes from an injected ``Clock`` so tests run on a ``ManualClock``.
"""
from __future__ import annotations

import enum
import math

from sensors.clock import SYSTEM_CLOCK, Clock


class Verdict(enum.Enum):
    NONE = "none"               # no new alert state entered
    ALERT = "alert"             # entered the alert state and may sound
    SUPPRESSED = "suppressed"   # entered the alert state inside the minimum gap


class AlertPolicy:
    def __init__(self, alert_on: float, alert_off: float, min_alert_gap_s: float,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        if not alert_off < alert_on:
            raise ValueError(f"alert_off ({alert_off}) must be below alert_on ({alert_on})")
        self.alert_on = alert_on
        self.alert_off = alert_off
        self.min_gap_ns = int(round(min_alert_gap_s * 1e9))
        self._clock = clock
        self._last_buzz_ns: int | None = None
        self._last_alert_at_ns: int | None = None
        self.in_alert = False
        self.alerts = 0
        self.suppressed_by_gap = 0

    def observe(self, probability: float, at_ns: int | None = None) -> Verdict:
        """Feed one decision's anomaly probability; NaN (no score available) changes nothing.

        ``at_ns`` is the decision's sensor time: the gap between alerts is then measured in
        sensor time, so a replay run faster than real time alerts as the live set would."""
        if math.isnan(probability):
            return Verdict.NONE
        if self.in_alert:
            if probability < self.alert_off:
                self.in_alert = False
            return Verdict.NONE
        if probability < self.alert_on:
            return Verdict.NONE
        self.in_alert = True
        if at_ns is not None:
            if self._last_alert_at_ns is not None and at_ns - self._last_alert_at_ns < self.min_gap_ns:
                self.suppressed_by_gap += 1
                return Verdict.SUPPRESSED
            self._last_alert_at_ns = at_ns
            self._last_buzz_ns = self._clock.mono_ns()
            self.alerts += 1
            return Verdict.ALERT
        if self.claim_alert_slot():
            self.alerts += 1
            return Verdict.ALERT
        self.suppressed_by_gap += 1
        return Verdict.SUPPRESSED

    def claim_alert_slot(self) -> bool:
        """True (and the gap restarts now) when no alert has gone out for the minimum gap."""
        now = self._clock.mono_ns()
        if self._last_buzz_ns is not None and now - self._last_buzz_ns < self.min_gap_ns:
            return False
        self._last_buzz_ns = now
        return True

    def reset(self) -> None:
        """Leave the alert state (new session); the gap and the counters are kept."""
        self.in_alert = False
