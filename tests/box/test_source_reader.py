"""SourceReader: one thread per source. It moves polled frames into the ring and wakes the
loop, turns health changes into one fault / recovery call each, survives a failing poll or
callback, retries a source that cannot be opened, and ends when a finite source runs out."""
from __future__ import annotations

import threading

from edge_agent.daemon.readers import SourceReader
from edge_agent.daemon.ring import FrameRing
from sensors.errors import SensorError
from sensors.frame import IMU_CHANNELS, Frame
from sensors.source import FrameSource
from tests.support.daemon_helpers import wait_for
from tests.support.frames import imu_frames


class ScriptedSource(FrameSource):
    """Plays a list of steps, one per poll: a list of frames, a health state to set, or an
    exception to raise. ``open_failures`` first ``start()`` calls raise ``SensorError``."""

    name = "imu"
    channels = IMU_CHANNELS

    def __init__(self, steps: list, *, finite: bool = True, open_failures: int = 0) -> None:
        super().__init__()
        self.steps = list(steps)
        self.finite = finite
        self.open_failures = open_failures
        self.starts = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        self.starts += 1
        if self.starts <= self.open_failures:
            raise SensorError("no device at 0x68")
        self.health.state = "running"

    def poll(self) -> list[Frame]:
        with self.lock:
            step = self.steps.pop(0) if self.steps else []
        if isinstance(step, Exception):
            raise step
        if isinstance(step, str):
            self.health.state = step
            if step != "running":
                self.health.errors += 1
            return []
        self.health.frames += len(step)
        return step

    @property
    def exhausted(self) -> bool:
        with self.lock:
            return self.finite and not self.steps


class Calls:
    def __init__(self) -> None:
        self.frames = 0
        self.faults: list[tuple[str, str]] = []
        self.recovered: list[str] = []

    def reader(self, source: FrameSource, ring: FrameRing | None = None) -> SourceReader:
        return SourceReader(source, ring or FrameRing(1000), poll_interval_s=0.001,
                            on_frames=self.on_frames, on_fault=self.on_fault,
                            on_recovered=self.recovered.append)

    def on_frames(self) -> None:
        self.frames += 1

    def on_fault(self, name: str, what: str) -> None:
        self.faults.append((name, what))


def test_frames_reach_the_ring_in_order_and_a_finished_source_ends_the_thread():
    frames = imu_frames(9)
    calls = Calls()
    reader = calls.reader(ScriptedSource([frames[:3], [], frames[3:]]))
    reader.start()
    assert reader.finished.wait(10)
    got, arrival = reader.ring.drain()
    assert got == frames and arrival > 0
    assert calls.frames >= 2 and not reader.died
    assert reader.status(12.5) == {**reader.source.health.as_dict(), "faults": 0,
                                    "ring_frames": 0, "ring_overwritten": 0,
                                    "rate_hz": 12.5}
    reader.stop()


def test_a_disconnect_is_one_fault_and_running_again_is_one_recovery():
    """Recovery is declared once the source has run without new errors for a quiet spell
    (``ERROR_BURST_QUIET_S``), so a flapping cable is one fault, not many."""
    calls = Calls()
    reader = calls.reader(ScriptedSource(["disconnected", [], "disconnected", "running",
                                          imu_frames(2)], finite=False))
    reader.start()
    wait_for(lambda: calls.recovered, what="the recovery")
    reader.stop()
    assert reader.faults == 1 and len(calls.faults) == 1
    assert calls.faults[0] == ("imu", "disconnected")
    assert calls.recovered == ["imu"]


def test_a_poll_that_raises_is_counted_and_reading_goes_on():
    calls = Calls()
    source = ScriptedSource([RuntimeError("bug in a driver"), imu_frames(3)])
    reader = calls.reader(source)
    reader.start()
    assert reader.finished.wait(10)
    reader.stop()
    assert source.health.errors == 1
    assert "RuntimeError: bug in a driver" in source.health.last_error
    assert reader.ring.drain()[0] == imu_frames(3) and not reader.died


def test_a_failing_fault_callback_does_not_end_the_reader():
    def broken(name: str, what: str) -> None:
        raise ValueError("callback broke")

    source = ScriptedSource(["degraded", imu_frames(2)])
    reader = SourceReader(source, FrameRing(10), poll_interval_s=0.001, on_frames=lambda: None,
                          on_fault=broken, on_recovered=lambda name: None)
    reader.start()
    assert reader.finished.wait(10)
    reader.stop()
    assert "ValueError: callback broke" in source.health.last_error
    assert reader.ring.drain()[0] == imu_frames(2) and not reader.died


def test_a_source_that_cannot_open_is_a_fault_and_is_tried_again():
    calls = Calls()
    source = ScriptedSource([imu_frames(4)], open_failures=1)
    reader = calls.reader(source)
    reader.start()                                   # does not raise: the daemon runs on
    assert source.health.state in ("disconnected", "running")
    wait_for(lambda: reader.finished.is_set(), what="the source to open on the retry")
    reader.stop()
    assert source.starts == 2
    assert calls.faults and "no device at 0x68" in calls.faults[0][1]
    assert reader.ring.drain()[0] == imu_frames(4)


def test_stop_ends_a_reader_on_an_endless_source():
    calls = Calls()
    reader = calls.reader(ScriptedSource([imu_frames(1)], finite=False))
    reader.start()
    wait_for(lambda: calls.frames >= 1, what="the first frames")
    reader.stop()
    assert not reader.died and not reader.finished.is_set()
    assert reader.source.health.state == "stopped"
