"""Shared set-up for the IMU tests: a ManualClock, a fake MPU-6050 on a fake bus, and sources
built on them (the real driver code, faked only at the SMBus seam). No tests here."""
from __future__ import annotations

import math
import random
from typing import Any

from sensors.clock import ManualClock
from sensors.fake_mpu6050 import FakeI2CBus, FakeMPU6050, Signal, still_level_bar
from sensors.frame import Frame
from sensors.imu_source import IMUSource

G = 9.80665


class Rig:
    def __init__(self, signal: Signal = still_level_bar, *, address: int = 0x68,
                 **chip_kwargs: Any) -> None:
        self.clock = ManualClock(mono_ns=1_000_000_000)
        self.chip = FakeMPU6050(self.clock, signal, **chip_kwargs)
        self.bus = FakeI2CBus({address: self.chip})
        self.sources: list[IMUSource] = []

    def source(self, **kwargs: Any) -> IMUSource:
        src = IMUSource(clock=self.clock, bus_factory=self.bus.factory, **kwargs)
        self.sources.append(src)
        return src

    def run(self, source: IMUSource, seconds: float, *, poll_min_s: float = 0.001,
            poll_max_s: float = 0.03, seed: int = 0) -> list[Frame]:
        """Poll at irregular intervals (uniform in [poll_min_s, poll_max_s]) for ``seconds``."""
        rng = random.Random(seed)
        end = self.clock.mono_ns() + int(seconds * 1e9)
        frames: list[Frame] = []
        while self.clock.mono_ns() < end:
            frames += source.poll()
            self.clock.advance(rng.uniform(poll_min_s, poll_max_s))
        return frames

    def close(self) -> None:
        for src in self.sources:
            src.stop()


def lsb_accel(range_g: int) -> float:
    """One accelerometer count in m/s^2: full scale +-range_g over the int16 range."""
    return range_g * G / 32768


def lsb_gyro(range_dps: int) -> float:
    return math.radians(range_dps / 32768)
