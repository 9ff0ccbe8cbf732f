"""LoadCellSource over pyserial loop:// and a pty pair: newtons, resync, gaps, unplug/replug."""
from __future__ import annotations

import errno
import json
import re
import time
from pathlib import Path
from typing import Sequence

import pytest
import serial

from sensors.clock import ManualClock
from sensors.errors import SensorError
from sensors.frame import PLATFORM_CHANNELS
from sensors.loadcell_calibration import LoadCellCalibration, save_calibration
from sensors.loadcell_protocol import STATUS_BOOT, STATUS_TIMEOUT_SHIFT, encode_frame
from sensors.loadcell_source import DeviceClockMapper, LoadCellSource, probe_loadcells
from tests.support.loadcells import PERIOD_US, PtyPlatform

CALIBRATION = LoadCellCalibration(tare_counts=(8123.0, -2210.0, 410.0, 15002.0),
                                  counts_per_newton=(104.2, 98.7, -101.3, 99.9))


def counts_for(forces: Sequence[float]) -> tuple[int, ...]:
    """Raw counts the HX711s would report for true corner forces (ground truth -> device)."""
    return tuple(round(t + k * f) for t, k, f in
                 zip(CALIBRATION.tare_counts, CALIBRATION.counts_per_newton, forces))


def true_forces(i: int) -> tuple[float, ...]:
    """A varying, distinct load per corner for frame i."""
    return tuple(150.0 + 40.0 * c + 3.0 * (i % 17) for c in range(4))


def frame_bytes(seq: int, status: int = 0, t0_us: int = 1_000_000) -> bytes:
    return encode_frame(seq, t0_us + seq * PERIOD_US, counts_for(true_forces(seq)), status)


def assert_forces(frame, i: int) -> None:
    tolerance = [0.5 / abs(k) + 1e-9 for k in CALIBRATION.counts_per_newton]  # count rounding
    for got, want, tol in zip(frame.values, true_forces(i), tolerance):
        assert got == pytest.approx(want, abs=tol)


class LoopPort:
    """Opens pyserial loop:// and keeps the instance, so a test can write the device side."""

    def __init__(self) -> None:
        self.port: serial.SerialBase | None = None

    def __call__(self, url: str, **kwargs) -> serial.SerialBase:
        self.port = serial.serial_for_url(url, **kwargs)
        return self.port


def loop_source(clock: ManualClock | None = None) -> tuple[LoadCellSource, LoopPort]:
    opener = LoopPort()
    source = LoadCellSource("loop://", CALIBRATION, clock=clock or ManualClock(),
                            open_port=opener)
    source.start()
    return source, opener


@pytest.fixture
def platforms():
    made: list[PtyPlatform] = []

    def make(link: Path) -> PtyPlatform:
        made.append(PtyPlatform(link))
        return made[-1]
    yield make
    for p in made:
        p.unplug()


def poll_until(source: LoadCellSource, n: int, limit_s: float = 5.0) -> list:
    """Poll until n frames arrived (a pty delivers asynchronously); the limit only stops a hang."""
    frames: list = []
    deadline = time.monotonic() + limit_s
    while len(frames) < n and time.monotonic() < deadline:
        frames += source.poll()
        time.sleep(0.001)
    return frames


# --- loop:// ---------------------------------------------------------------------------

def test_valid_stream_gives_calibrated_newtons_and_device_timing():
    clock = ManualClock(mono_ns=5_000_000_000)
    source, loop = loop_source(clock)
    loop.port.write(b"".join(frame_bytes(i) for i in range(40)))
    frames = source.poll()
    assert [f.seq for f in frames] == list(range(40))
    for i, f in enumerate(frames):
        assert f.source == "platform" and f.channels == PLATFORM_CHANNELS
        assert_forces(f, i)
    steps = {b.mono_ns - a.mono_ns for a, b in zip(frames, frames[1:])}
    assert steps == {PERIOD_US * 1000}
    assert frames[-1].mono_ns <= clock.mono_ns()
    assert source.health.frames == 40 and source.health.state == "running"


def test_poll_without_data_returns_empty():
    source, _ = loop_source()
    assert source.poll() == []
    assert source.health.state == "running"


def test_garbage_and_bad_crc_are_counted_not_emitted():
    source, loop = loop_source()
    bad = bytearray(frame_bytes(2))
    bad[15] ^= 0x10
    junk = b"\x00\x13\x37noise"
    loop.port.write(frame_bytes(0) + junk + frame_bytes(1) + bytes(bad) + frame_bytes(3))
    frames = source.poll()
    assert [f.seq for f in frames] == [0, 1, 3]
    assert_forces(frames[2], 3)
    extra = source.health.extra
    assert extra["crc_failures"] == 1
    assert extra["bytes_discarded"] == len(junk) + len(bad)
    assert source.health.lost_samples == 1


def test_sequence_gaps_show_as_seq_jumps():
    source, loop = loop_source()
    sent = [0, 1, 2, 6, 7, 10]
    loop.port.write(b"".join(frame_bytes(i) for i in sent))
    frames = source.poll()
    assert [f.seq for f in frames] == sent
    assert source.health.lost_samples == 5 and source.health.extra["seq_gaps"] == 2


def test_sequence_and_device_clock_wrap_keep_time_and_seq_continuous():
    source, loop = loop_source(ManualClock(mono_ns=10**12))
    first_seq, first_us = 2**32 - 4, 2**32 - 3 * PERIOD_US
    loop.port.write(b"".join(encode_frame(first_seq + i, first_us + i * PERIOD_US,
                                          counts_for(true_forces(i))) for i in range(8)))
    frames = source.poll()
    assert [f.seq for f in frames] == list(range(8))
    assert all(b.mono_ns - a.mono_ns == PERIOD_US * 1000 for a, b in zip(frames, frames[1:]))
    assert source.health.lost_samples == 0


def test_device_restart_reanchors_clock_and_estimates_the_gap():
    clock = ManualClock(mono_ns=10**12)
    source, loop = loop_source(clock)
    loop.port.write(b"".join(frame_bytes(i, t0_us=50_000_000) for i in range(10)))
    before = source.poll()
    clock.advance(2.0)  # device resets; 2 s of frames never exist
    loop.port.write(frame_bytes(0, STATUS_BOOT, t0_us=0) + frame_bytes(1, t0_us=0))
    after = source.poll()
    assert after[0].seq - before[-1].seq == round(2.0 * 1e6 / PERIOD_US)
    assert after[1].seq == after[0].seq + 1
    assert before[-1].mono_ns < after[0].mono_ns <= clock.mono_ns()
    assert source.health.extra["seq_restarts"] == 1


def test_timed_out_channel_degrades_and_is_counted():
    source, loop = loop_source()
    loop.port.write(frame_bytes(0, status=1 << (STATUS_TIMEOUT_SHIFT + 2)))
    source.poll()
    assert source.health.state == "degraded"
    assert source.health.extra["channel_timeouts"] == 1
    assert "f_rl" in source.health.last_error
    loop.port.write(frame_bytes(1))
    source.poll()
    assert source.health.state == "running"


def test_invalid_port_url_is_a_clear_error():
    source = LoadCellSource("nosuchscheme://x", CALIBRATION, clock=ManualClock())
    with pytest.raises(SensorError, match="nosuchscheme"):
        source.start()


def test_from_config_loads_the_calibration_from_data_dir(tmp_path):
    save_calibration(CALIBRATION, tmp_path / "loadcell-calibration.json")
    opener = LoopPort()
    section = {"enabled": True, "port": "loop://", "baudrate": 115200, "calibration_file": ""}
    source = LoadCellSource.from_config(section, tmp_path, clock=ManualClock(), open_port=opener)
    source.start()
    opener.port.write(frame_bytes(0))
    (frame,) = source.poll()
    assert_forces(frame, 0)


def test_from_config_without_calibration_says_what_to_run(tmp_path):
    section = {"port": "loop://", "baudrate": 115200, "calibration_file": ""}
    with pytest.raises(SensorError, match="liftguard calibrate loadcells"):
        LoadCellSource.from_config(section, tmp_path)


# --- device clock mapping --------------------------------------------------------------

def test_clock_mapper_tracks_drift_and_ignores_transport_delay():
    """10 min at 80 Hz, device crystal 150 ppm slow, 0-8 ms USB delay, frames in bursts."""
    import random
    rng = random.Random(3)
    mapper = DeviceClockMapper()
    host_t0, errors, pending = 7 * 10**12, [], []
    for i in range(48_000):
        true_ns = host_t0 + i * PERIOD_US * 1000
        device_us = int(i * PERIOD_US * (1 - 150e-6)) % 2**32
        pending.append((true_ns, device_us))
        if rng.random() < 0.5:
            continue  # the host reads two frames at a time on average
        rx_ns = true_ns + int(rng.uniform(0, 8e6) if rng.random() > 0.05 else 0)
        mapped = mapper.map_batch([d for _, d in pending], rx_ns)
        assert all(m <= rx_ns for m in mapped)
        errors += [m - t for (t, _), m in zip(pending, mapped)]
        pending = []
    late = [abs(e) for e in errors[len(errors) // 10:]]
    assert max(late) < 2e6  # ns: within 2 ms of the true sampling time after warm-up


# --- pty pair, symlinked like /dev/serial/by-id ----------------------------------------

def test_pty_stream_decodes_to_newtons(tmp_path, platforms):
    platform = platforms(tmp_path / "usb-liftguard-platform")
    source = LoadCellSource(str(platform.link), CALIBRATION, clock=ManualClock())
    source.start()
    assert source.poll() == []
    platform.write(b"".join(frame_bytes(i) for i in range(25)))
    frames = poll_until(source, 25)
    assert [f.seq for f in frames] == list(range(25))
    for i, f in enumerate(frames):
        assert_forces(f, i)


def test_unplug_and_replug_through_a_repointed_symlink(tmp_path, platforms):
    link = tmp_path / "usb-liftguard-platform"
    clock = ManualClock()
    first = platforms(link)
    source = LoadCellSource(str(link), CALIBRATION, clock=clock)
    source.start()
    first.write(b"".join(frame_bytes(i) for i in range(5)))
    assert len(poll_until(source, 5)) == 5

    first.unplug()
    for _ in range(5):
        assert source.poll() == []
    assert source.health.state == "disconnected"
    assert source.health.extra["disconnects"] == 1
    clock.advance(1.0)
    assert source.poll() == []  # reopen attempted and failed: the link is gone
    assert source.health.retries >= 1 and source.health.state == "disconnected"

    second = platforms(link)
    clock.advance(10.0)
    assert source.poll() == []
    assert source.health.state == "running" and source.health.reconnects == 1
    clock.advance(0.1)
    second.write(b"".join(frame_bytes(i) for i in range(5, 9)))  # device kept counting
    frames = poll_until(source, 4)
    assert [f.seq for f in frames] == [5, 6, 7, 8]
    assert_forces(frames[-1], 8)


def test_missing_port_at_start_is_retried_not_raised(tmp_path, platforms):
    link = tmp_path / "usb-liftguard-platform"
    clock = ManualClock()
    source = LoadCellSource(str(link), CALIBRATION, clock=clock)
    source.start()
    assert source.health.state == "disconnected"
    assert "USB cable" in source.health.last_error
    assert source.poll() == []
    platform = platforms(link)
    clock.advance(1.0)
    assert source.poll() == []
    assert source.health.state == "running" and source.health.reconnects == 0
    platform.write(frame_bytes(0))
    assert len(poll_until(source, 1)) == 1
    assert source.health.state == "running"


# --- probe for `liftguard sensors check` ----------------------------------------------

def test_probe_reports_missing_port():
    ok, message = probe_loadcells({"port": "/dev/ttyACM0-absent", "baudrate": 115200,
                                   "calibration_file": ""}, wait_s=0.05)
    assert not ok
    assert message == ("serial port /dev/ttyACM0-absent not found: "
                       "is the platform's USB cable plugged in?")


def test_probe_reports_permission_denied_with_the_dialout_hint():
    def denied(url, **kwargs):  # what pyserial raises for EACCES (tests run as root here)
        raise serial.SerialException(errno.EACCES, f"could not open port {url}: Permission denied")
    ok, message = probe_loadcells({"port": "/dev/ttyACM0", "baudrate": 115200,
                                   "calibration_file": ""}, wait_s=0.05, open_port=denied)
    assert not ok and "dialout" in message and "/dev/ttyACM0" in message


def test_probe_reports_rate_and_forces(tmp_path, platforms):
    platform = platforms(tmp_path / "usb-liftguard-platform")
    cal_file = tmp_path / "cal.json"
    save_calibration(CALIBRATION, cal_file)
    platform.stream(frame_bytes, period_s=0.005)
    ok, message = probe_loadcells({"port": str(platform.link), "baudrate": 115200,
                                   "calibration_file": str(cal_file)}, wait_s=0.3)
    assert ok, message
    assert "80.0 Hz by the device clock" in message  # device clock says 12.5 ms per frame
    assert "0 CRC failures" in message and "f_fl=" in message and " N" in message


def test_probe_reports_silence(tmp_path, platforms):
    platform = platforms(tmp_path / "usb-liftguard-platform")
    ok, message = probe_loadcells({"port": str(platform.link), "baudrate": 115200,
                                   "calibration_file": ""}, wait_s=0.1)
    assert not ok and "no valid load-cell frame" in message


def test_saved_calibration_file_is_json(tmp_path):
    path = save_calibration(CALIBRATION, tmp_path / "c.json")
    assert json.loads(path.read_text())["tare_counts"]["f_rr"] == CALIBRATION.tare_counts[3]


def test_silent_but_open_port_degrades_after_a_second():
    clock = ManualClock()
    source, loop = loop_source(clock)
    loop.port.write(frame_bytes(0))
    source.poll()
    clock.advance(1.5)
    assert source.poll() == []
    assert source.health.state == "degraded"
    assert "no load-cell frames" in source.health.last_error


def test_hangup_with_the_path_still_present_is_a_disconnect(tmp_path, platforms):
    platform = platforms(tmp_path / "usb-liftguard-platform")
    source = LoadCellSource(str(platform.link), CALIBRATION, clock=ManualClock())
    source.start()
    platform.unplug(remove_link=False)
    assert source.poll() == []
    assert source.health.state == "disconnected"
    assert "lost" in source.health.last_error


def test_spy_url_wrapping_the_device_path_works(tmp_path, platforms):
    platform = platforms(tmp_path / "usb-liftguard-platform")
    trace = tmp_path / "spy.txt"
    source = LoadCellSource(f"spy://{platform.link}?file={trace}", CALIBRATION,
                            clock=ManualClock())
    source.start()
    platform.write(b"".join(frame_bytes(i) for i in range(3)))
    frames = poll_until(source, 3)
    source.stop()
    assert [f.seq for f in frames] == [0, 1, 2]
    assert re.search(r"^\S+ rx +0000 ", trace.read_text(), re.I | re.M)  # spy logged the data


def test_reopen_backoff_doubles_on_the_clock_and_poll_never_sleeps(tmp_path):
    clock = ManualClock()
    source = LoadCellSource(str(tmp_path / "absent-tty"), CALIBRATION, clock=clock)
    source.start()  # first attempt fails at t = 0
    attempts_at = []
    for step in range(1, 1400):  # 14 s in 10 ms steps
        before = clock.mono_ns()
        retries = source.health.retries
        assert source.poll() == []
        assert clock.mono_ns() == before  # a ManualClock only moves if poll slept on it
        if source.health.retries > retries:
            attempts_at.append(round(before / 1e9, 2))
        clock.advance(0.01)
    assert attempts_at == [0.5, 1.5, 3.5, 7.5, 12.5]  # 0.5, 1, 2, 4, then capped at 5 s
    assert source.health.state == "disconnected"
