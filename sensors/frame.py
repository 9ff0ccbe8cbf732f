"""The one frame contract every sample source yields (see DESIGN.md, "Contracts").

A frame is one sample instant of one source. The pipeline cannot tell hardware, simulator
and replay apart: they all yield these.
"""
from __future__ import annotations

from typing import NamedTuple

IMU_CHANNELS: tuple[str, ...] = ("ax", "ay", "az", "gx", "gy", "gz")
"""Bar IMU: acceleration in m/s^2 (specific force, gravity included), angular rate in rad/s."""

PLATFORM_CHANNELS: tuple[str, ...] = ("f_fl", "f_fr", "f_rl", "f_rr")
"""Platform corners (front-left, front-right, rear-left, rear-right): vertical force in N."""

BOX_CHANNELS: tuple[str, ...] = IMU_CHANNELS + PLATFORM_CHANNELS

CHANNEL_UNITS: dict[str, str] = {
    **{c: "m/s^2" for c in ("ax", "ay", "az")},
    **{c: "rad/s" for c in ("gx", "gy", "gz")},
    **{c: "N" for c in PLATFORM_CHANNELS},
}

STANDARD_GRAVITY = 9.80665
"""m/s^2, used for every g <-> SI conversion."""


class Frame(NamedTuple):
    """One sample instant of one source.

    ``seq`` counts samples per source from 0; a jump of more than one marks samples that were
    lost (FIFO overflow, CRC failure, unplugged cable). Consumers order by ``mono_ns`` (the
    monotonic clock) and never by ``wall_s``, which may jump on a box without an RTC.
    """

    source: str
    seq: int
    mono_ns: int
    wall_s: float
    channels: tuple[str, ...]
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.channels, self.values))

    def value(self, channel: str) -> float:
        return self.values[self.channels.index(channel)]
