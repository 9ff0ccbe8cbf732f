"""Sensor faults mid-session (I2C error burst, serial unplugged) leave the session running,
with the fault counted in /status, the device-fault pattern played and a note in the session."""
from __future__ import annotations

import os
import threading
import time
import tty
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from liftguard.box import box_daemon
from sensors.clock import SYSTEM_CLOCK
from sensors.fake_mpu6050 import FakeI2CBus, FakeMPU6050
from sensors.imu_source import IMUSource
from sensors.loadcell_calibration import LoadCellCalibration
from sensors.loadcell_protocol import encode_frame
from sensors.loadcell_source import LoadCellSource
from tests.support.daemon_helpers import config, wait_for

CAL = LoadCellCalibration(tare_counts=(0.0, 0.0, 0.0, 0.0),
                          counts_per_newton=(10.0, 10.0, 10.0, 10.0))


class PtyPlatform:
    """The microcontroller end of a pty, reached through a /dev/serial/by-id-like symlink."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.link = link
        link.symlink_to(os.ttyname(self.slave))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._stream, daemon=True)
        self._thread.start()

    def _stream(self) -> None:
        seq = 0
        while not self._stop.is_set():
            os.write(self.master, encode_frame(seq, seq * 12_500, [2000, 2000, 2000, 2000]))
            seq += 1
            time.sleep(0.0125)

    def unplug(self) -> None:
        self._stop.set()
        self._thread.join()
        for fd in (self.master, self.slave):
            os.close(fd)
        self.link.unlink(missing_ok=True)


@pytest.fixture
def box(tmp_path):
    bus = FakeI2CBus({0x68: FakeMPU6050(SYSTEM_CLOCK)})
    imu = IMUSource(1, 0x68, bus_factory=bus.factory)
    platform = PtyPlatform(tmp_path / "usb-platform")
    loadcells = LoadCellSource(str(platform.link), CAL, backoff_initial_s=0.1)
    factory = MockFactory()
    d = box_daemon(config(tmp_path / "data", store={"commit_interval_s": 0.1}),
               sources=[imu, loadcells], pin_factory=factory, api=False)
    d.start()
    yield d, bus, platform, factory
    d.stop()
    if platform.link.exists():
        platform.unplug()


def test_i2c_burst_and_unplugged_serial_keep_the_session(box):
    daemon, bus, platform, factory = box
    sid = daemon.sessions.start("squat", "ann")
    wait_for(lambda: all(s["frames"] > 20 for s in daemon.status()["sources"].values()),
             what="both sensors delivering")
    buzzer, red = factory.pin(18), factory.pin(25)
    buzzer.clear_states()
    red.clear_states()

    bus.fail_next(8)                       # I2C errno 121 burst, then a chip reset
    wait_for(lambda: daemon.status()["sources"]["imu"]["faults"] >= 1, what="IMU fault")
    platform.unplug()                      # cable out: pty gone, by-id link gone
    wait_for(lambda: daemon.status()["sources"]["platform"]["faults"] >= 1,
             what="platform fault")

    st = daemon.status()
    assert st["session"]["id"] == sid and daemon.sessions.active_id == sid
    assert st["sensor_faults"] >= 2
    assert st["sources"]["platform"]["state"] == "disconnected"
    imu_frames = st["sources"]["imu"]["frames"]
    wait_for(lambda: daemon.status()["sources"]["imu"]["frames"] > imu_frames + 50,
             what="IMU delivering again after the burst")
    assert daemon.sessions.active_id == sid

    # the device-fault pattern: a long buzz (the second fault, inside the alert gap, shows on
    # the LEDs only and pre-empts the first) and the red LED blinking
    wait_for(lambda: any(s.state for s in buzzer.states), limit_s=5, what="device-fault buzz")
    wait_for(lambda: sum(1 for s in red.states if s.state) >= 2, limit_s=5,
             what="red LED blinking")
    daemon.store.flush()
    notes = [f["feedback_text"] for f in daemon.store.session_feedback(sid)]
    assert any(n.startswith("device fault: imu") for n in notes)
    assert any(n.startswith("device fault: platform") for n in notes)


def test_imu_missing_at_start_is_a_fault_not_a_crash_and_is_opened_when_it_appears(tmp_path):
    """A loose IMU cable at boot: the daemon starts, takes a session, reports the fault, and
    opens the chip once it answers (no restart needed)."""
    bus = FakeI2CBus({})                    # nothing answers at 0x68 (errno 121)
    imu = IMUSource(1, 0x68, bus_factory=bus.factory)
    d = box_daemon(config(tmp_path / "data", store={"commit_interval_s": 0.1}), sources=[imu],
               pin_factory=MockFactory(), api=False)
    d.start()
    try:
        assert d.ready.is_set()
        sid = d.sessions.start("squat", "ann")
        st = d.status()["sources"]["imu"]
        assert st["state"] == "disconnected" and "0x68" in st["last_error"]
        wait_for(lambda: d.status()["sources"]["imu"]["faults"] >= 1, what="IMU fault reported")
        bus.devices[0x68] = FakeMPU6050(SYSTEM_CLOCK)   # cable pushed back in
        wait_for(lambda: d.status()["sources"]["imu"]["frames"] > 50, what="IMU opened later")
        assert d.status()["sources"]["imu"]["state"] == "running"
        assert d.sessions.active_id == sid
    finally:
        d.stop()


def test_uncalibrated_load_cells_leave_the_platform_out_and_say_why(tmp_path):
    from edge_agent.daemon.wiring import sources_from_config
    from sensors.source import UnavailableSource

    imu_source, platform = sources_from_config(config(tmp_path / "data"))
    assert isinstance(imu_source, IMUSource) and isinstance(platform, UnavailableSource)
    assert platform.name == "platform" and platform.health.state == "unavailable"
    assert "loadcell-calibration.json" in platform.health.last_error
    assert "liftguard calibrate loadcells" in platform.health.last_error
    assert platform.poll() == []
