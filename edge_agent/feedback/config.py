"""Feedback settings: which GPIO pins drive the buzzer, LEDs and button, and the alert policy.

Field names are the keys of the ``[feedback]`` config section. In TOML a pin of ``-1``
disables that part (TOML has no null); here it becomes ``None``. Pins are BCM GPIO numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

PIN_FIELDS = ("buzzer_pin", "green_led_pin", "amber_led_pin", "red_led_pin", "button_pin")
DISABLED_PIN = -1


@dataclass(frozen=True)
class FeedbackConfig:
    buzzer_pin: int | None = 18
    green_led_pin: int | None = 23
    amber_led_pin: int | None = 24
    red_led_pin: int | None = 25
    button_pin: int | None = 17
    buzzer_active_high: bool = True
    button_bounce_s: float = 0.05
    quiet: bool = False
    console: bool = True
    min_alert_gap_s: float = 2.0
    alert_on: float = 0.9
    alert_off: float = 0.6

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.alert_off < self.alert_on:
            problems.append(f"[feedback] alert_off ({self.alert_off}) must be below "
                            f"alert_on ({self.alert_on}) for the hysteresis to work")
        if self.min_alert_gap_s < 0:
            problems.append(f"[feedback] min_alert_gap_s ({self.min_alert_gap_s}) "
                            "must not be negative")
        seen: dict[int, str] = {}
        for name in PIN_FIELDS:
            pin = getattr(self, name)
            if pin is None:
                continue
            if pin in seen:
                problems.append(f"[feedback] {seen[pin]} and {name} both use GPIO {pin}")
            seen[pin] = name
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> FeedbackConfig:
        """Build from a validated ``[feedback]`` section (``cfg.section("feedback")``).

        Unknown keys are ignored so the schema in ``liftguard.config`` stays the one place
        that rejects them.
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in section.items() if k in known}
        for name in PIN_FIELDS:
            if values.get(name) == DISABLED_PIN:
                values[name] = None
        return cls(**values)

    @property
    def uses_gpio(self) -> bool:
        """Some pin is configured (not -1), so a pin library is needed."""
        return any(getattr(self, name) is not None for name in PIN_FIELDS)

    def pin_key(self, pin: int) -> str:
        """The config key that assigns ``pin`` (for error messages)."""
        for name in PIN_FIELDS:
            if getattr(self, name) == pin:
                return name
        return "?"
