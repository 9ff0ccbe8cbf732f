"""Frames and chunks the store, sync and web tests build on."""
from __future__ import annotations

import random

from sensors.frame import IMU_CHANNELS, Frame
from sync.chunks import WALL_TOLERANCE_S


def imu_frames(n, seq0=0, t0=10**12, dt=5_000_000, wall0=1_700_000_000.0, rng=None):
    rng = rng or random.Random(1)
    return [Frame("imu", seq0 + i, t0 + i * dt, wall0 + i * dt / 1e9, IMU_CHANNELS,
                  tuple(rng.gauss(0, 5) for _ in IMU_CHANNELS)) for i in range(n)]


def assert_same_frames(got, want):
    """Equal in everything; wall time within the documented tolerance."""
    assert [f._replace(wall_s=0.0) for f in got] == [f._replace(wall_s=0.0) for f in want]
    assert all(abs(a.wall_s - b.wall_s) <= WALL_TOLERANCE_S for a, b in zip(got, want))


OVERCLAIMING_CHUNKS = [  # n = 10**12 with one stored sample, or with no channel at all
    {"v": 1, "source": "imu", "channels": channels, "n": 10**12, "seq0": 0, "t0_ns": 0,
     "dt_ns": 10_000_000, "wall_t0": 0.0, "values": values}
    for channels, values in ((["ax"], [[0.0]]), ([], []))]


def expected_frame(seq: int) -> Frame:
    """The frame the child writes for ``seq``: ground truth recomputed here, not stored."""
    t = 2_000_000_000 + seq * 5_000_000
    return Frame("imu", seq, t, 1_700_000_000 + t / 1e9, IMU_CHANNELS,
                 tuple(((seq * 7 + c * 13) % 1000) / 37.0 for c in range(len(IMU_CHANNELS))))
