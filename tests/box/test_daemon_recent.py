"""RecentRows: the window the scorer sees is exactly the frames in (end - window, end]."""
from __future__ import annotations

import numpy as np

from edge_agent.daemon.recent import RecentRows, rows
from sensors.frame import IMU_CHANNELS, Frame


def imu_frame(i: int, period_ns: int = 5_000_000) -> Frame:
    return Frame("imu", i, i * period_ns, i * period_ns / 1e9, IMU_CHANNELS,
                 tuple(float(i * 10 + c) for c in range(6)))


def test_windows_match_a_direct_selection_across_compactions():
    keep_ns = 1_000_000_000
    buffer = RecentRows(IMU_CHANNELS, keep_ns)
    frames = [imu_frame(i) for i in range(20_000)]   # 100 s at 200 Hz: many compactions
    for start in range(0, len(frames), 37):
        buffer.extend(frames[start:start + 37])
        end_ns = frames[min(start + 36, len(frames) - 1)].mono_ns
        x, t = buffer.window(end_ns - keep_ns, end_ns)
        expected = [f for f in frames[:start + 37] if end_ns - keep_ns < f.mono_ns <= end_ns]
        assert t.tolist() == [f.mono_ns for f in expected]
        assert np.array_equal(x, rows(expected, IMU_CHANNELS))


def test_a_faster_source_than_expected_grows_the_buffer():
    buffer = RecentRows(IMU_CHANNELS, keep_ns=10_000_000_000)
    frames = [imu_frame(i, period_ns=1_000_000) for i in range(12_000)]  # 1 kHz, 12 s
    buffer.extend(frames[:6000])
    buffer.extend(frames[6000:])
    x, t = buffer.window(frames[-1].mono_ns - 10_000_000_000, frames[-1].mono_ns)
    assert t.size == 10_000 and t[0] == frames[2000].mono_ns
    assert x[-1, 0] == frames[-1].values[0]
