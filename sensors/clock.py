"""Clocks. Samples are ordered by the monotonic clock; wall time is metadata only.

Sources take a ``Clock`` so tests and the fast simulator can supply their own time base.
"""
from __future__ import annotations

import time


class Clock:
    """The system clocks: ``time.monotonic_ns`` and ``time.time``."""

    def mono_ns(self) -> int:
        return time.monotonic_ns()

    def wall_s(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock(Clock):
    """A clock that only moves when told to: for fast simulation and deterministic tests."""

    def __init__(self, mono_ns: int = 0, wall_s: float = 1_700_000_000.0) -> None:
        self._mono_ns = mono_ns
        self._wall_offset_s = wall_s - mono_ns / 1e9

    def mono_ns(self) -> int:
        return self._mono_ns

    def wall_s(self) -> float:
        return self._mono_ns / 1e9 + self._wall_offset_s

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._mono_ns += int(round(seconds * 1e9))

    def jump_wall(self, seconds: float) -> None:
        """Step the wall clock (as NTP does on a box without an RTC); monotonic time is untouched."""
        self._wall_offset_s += seconds


SYSTEM_CLOCK = Clock()
