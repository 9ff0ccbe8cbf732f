"""The feedback patterns as data: which outputs blink, for how long, how often.

Every track is one gpiozero ``blink(on_time, off_time, n)`` call, so playback runs on
gpiozero's own background threads and never blocks the caller. A solid flash is
``Blink(on_s, 0, 1)``. The table in docs/feedback.md is this module in prose.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

OUTPUTS = ("buzzer", "green", "amber", "red")
LED_OUTPUTS = ("green", "amber", "red")


@dataclass(frozen=True)
class Blink:
    """``n`` cycles of ``on_s`` seconds on then ``off_s`` seconds off."""

    on_s: float
    off_s: float = 0.0
    n: int = 1

    def __post_init__(self) -> None:
        if self.on_s <= 0 or self.off_s < 0 or self.n < 1:
            raise ValueError(f"invalid blink {self}: need on_s > 0, off_s >= 0, n >= 1")

    @property
    def duration_s(self) -> float:
        return self.n * (self.on_s + self.off_s)


class Event(enum.Enum):
    INSTABILITY = "instability"
    REP_CLEAN = "rep_clean"
    REP_PROBLEM = "rep_problem"
    STOP_SET = "stop_set"
    TECHNIQUE_DRIFT = "technique_drift"
    SESSION_STARTED = "session_started"
    SESSION_ENDED = "session_ended"
    DEVICE_FAULT = "device_fault"


@dataclass(frozen=True)
class Pattern:
    event: Event
    tracks: Mapping[str, Blink] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.tracks) - set(OUTPUTS)
        if unknown:
            raise ValueError(f"pattern {self.event.value}: unknown outputs {sorted(unknown)}")
        object.__setattr__(self, "tracks", MappingProxyType(dict(self.tracks)))

    @property
    def duration_s(self) -> float:
        return max((b.duration_s for b in self.tracks.values()), default=0.0)

    def without(self, output: str) -> Pattern:
        return Pattern(self.event, {k: v for k, v in self.tracks.items() if k != output})

    def with_amber_as_red_and_green(self) -> Pattern:
        """For boxes without an amber LED: red and green lit together read as amber
        (and are exactly amber on a bi-colour LED)."""
        amber = self.tracks.get("amber")
        if amber is None:
            return self
        tracks = {k: v for k, v in self.tracks.items() if k != "amber"}
        for colour in ("red", "green"):
            tracks.setdefault(colour, amber)
        return Pattern(self.event, tracks)


PATTERNS: Mapping[Event, Pattern] = MappingProxyType({p.event: p for p in (
    # fast triple chirp + red: "stop drifting now"
    Pattern(Event.INSTABILITY, {"buzzer": Blink(0.08, 0.07, 3), "red": Blink(0.8)}),
    # silent on purpose: a clean rep needs no sound
    Pattern(Event.REP_CLEAN, {"green": Blink(0.4)}),
    Pattern(Event.REP_PROBLEM, {"buzzer": Blink(0.35), "amber": Blink(1.0)}),
    # one long tone and red + amber held together: "rack it", once per set
    Pattern(Event.STOP_SET, {"buzzer": Blink(1.2), "red": Blink(3.0), "amber": Blink(3.0)}),
    # two long beeps and a slowly blinking amber: "your technique is drifting", once per set
    Pattern(Event.TECHNIQUE_DRIFT, {"buzzer": Blink(0.35, 0.15, 2), "amber": Blink(0.5, 0.5, 3)}),
    Pattern(Event.SESSION_STARTED, {"buzzer": Blink(0.1), "green": Blink(0.2, 0.2, 2)}),
    Pattern(Event.SESSION_ENDED, {"buzzer": Blink(0.1, 0.1, 2), "green": Blink(1.0)}),
    Pattern(Event.DEVICE_FAULT, {"buzzer": Blink(0.5, 0.25, 2), "red": Blink(0.25, 0.25, 6)}),
)})
