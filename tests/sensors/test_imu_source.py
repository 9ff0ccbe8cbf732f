"""IMUSource on the fake bus: chip-paced timestamps, FIFO overflow, I2C errors, recovery."""
from __future__ import annotations

import errno
import json
import logging

import numpy as np
import pytest

from sensors.fake_mpu6050 import missing_bus_factory
from sensors.frame import IMU_CHANNELS
from sensors.imu_calibration import CalibrationError, ImuCalibration
from sensors.imu_source import IMUSource, probe_imu
from sensors.mpu6050 import Register
from tests.support.imu_rig import G, Rig

STILL = (0.0, 0.0, G, 0.0, 0.0, 0.0)


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def true_times(rig: Rig, frames) -> np.ndarray:
    """Production time of each frame's sample, from the fake (frames are read in order)."""
    return np.array(rig.chip.delivered_times_ns[:len(frames)])


def test_timestamps_follow_the_chip_not_the_polls(rig):
    src = rig.source(sample_rate_hz=200)
    src.start()
    frames = rig.run(src, 10.0, poll_min_s=0.001, poll_max_s=0.04)
    t = np.array([f.mono_ns for f in frames])
    err_ms = (t - true_times(rig, frames)) / 1e6
    period_ms = rig.chip.sample_period_ns / 1e6
    assert [f.seq for f in frames] == list(range(len(frames)))
    assert np.all(np.abs(err_ms) <= period_ms), "never off by more than one sample period"
    settled = t > t[0] + 3e9
    assert np.max(np.abs(err_ms[settled])) < 0.5
    spacing_ms = np.diff(t[settled]) / 1e6
    assert np.all(np.abs(spacing_ms - period_ms) < 0.01 * period_ms), "even spacing"


@pytest.mark.parametrize("oscillator_error", [0.02, -0.015])
def test_chip_clock_drift_is_tracked_without_accumulating(oscillator_error):
    rig = Rig(oscillator_error=oscillator_error)
    src = rig.source(sample_rate_hz=200)
    src.start()
    frames = rig.run(src, 20.0, seed=3)
    rig.close()
    t = np.array([f.mono_ns for f in frames])
    err_ms = (t - true_times(rig, frames)) / 1e6
    late = t > t[0] + 5e9
    assert np.max(np.abs(err_ms[late])) < 0.5
    assert src.timeline.chip_period_ns == pytest.approx(rig.chip.sample_period_ns, rel=2e-4)
    assert len(frames) == pytest.approx(20.0 / (rig.chip.sample_period_ns / 1e9), abs=10)


def test_fifo_overflow_is_counted_and_becomes_a_seq_gap(rig, caplog):
    src = rig.source(sample_rate_hz=200)
    src.start()
    before = rig.run(src, 1.0)
    rig.clock.advance(1.5)  # the loop stalls: 300 samples > 85 that fit in 1024 bytes
    with caplog.at_level(logging.WARNING, logger="sensors.imu_source"):
        after = rig.run(src, 1.0)
    assert src.health.extra["fifo_overflows"] == 1
    assert "FIFO overflow" in caplog.text
    gap = after[0].seq - before[-1].seq
    assert gap - 1 == src.health.lost_samples
    period_ns = rig.chip.sample_period_ns
    delivered = np.array(rig.chip.delivered_times_ns)
    true_gap = round((delivered[len(before)] - delivered[len(before) - 1]) / period_ns)
    assert abs(gap - true_gap) <= 1
    t_after = after[0].mono_ns
    assert abs(t_after - delivered[len(before)]) <= period_ns
    assert all(f.values == pytest.approx(STILL, abs=0.01) for f in after), "no misaligned data"


def test_misaligned_fifo_is_reset_not_decoded(rig):
    src = rig.source()
    src.start()
    before = rig.run(src, 0.5)
    rig.clock.advance(0.05)
    rig.bus.read_i2c_block_data(0x68, Register.FIFO_R_W, 5)  # another master ate 5 bytes
    after = rig.run(src, 0.5)
    assert src.health.extra["fifo_resets"] == 1
    assert after[0].seq > before[-1].seq + 1
    assert all(f.values == pytest.approx(STILL, abs=0.01) for f in after)


@pytest.mark.parametrize("code", [errno.EREMOTEIO, errno.EIO, errno.EBUSY])
def test_transient_errors_are_counted_retried_and_frames_resume(rig, code):
    src = rig.source()
    src.start()
    before = rig.run(src, 0.5)
    rig.bus.fail_next(3, code)
    assert src.poll() == []
    assert src.health.state == "degraded"
    assert src.health.last_error.startswith(f"errno {code} ")
    transfers = rig.bus.transfers
    assert src.poll() == [], "backing off"
    assert rig.bus.transfers == transfers, "no bus traffic while backing off"
    after = rig.run(src, 0.5)
    assert src.health.errors == 3 and src.health.retries >= 3
    assert src.health.state == "running"
    seqs = [f.seq for f in before + after]
    assert seqs == list(range(len(seqs))), "errors before the data read lose nothing"
    assert src.health.reconnects == 0


def test_error_during_the_fifo_read_resets_the_fifo(rig):
    src = rig.source()
    src.start()
    before = rig.run(src, 0.5)
    rig.clock.advance(0.1)
    original = rig.bus.read_i2c_block_data
    failed = []

    def flaky(addr, reg, length, force=None):  # INT_STATUS and FIFO_COUNT work, the data not
        if reg == Register.FIFO_R_W and not failed:
            failed.append(reg)
            raise OSError(errno.EIO, "Input/output error")
        return original(addr, reg, length)

    rig.bus.read_i2c_block_data = flaky
    after = rig.run(src, 0.5)
    assert failed
    assert src.health.errors == 1 and src.health.extra["fifo_resets"] == 1
    assert after[0].seq > before[-1].seq + 1
    assert all(f.values == pytest.approx(STILL, abs=0.01) for f in after)


def test_vanished_chip_is_reinitialised_and_configuration_restored(rig):
    src = rig.source(sample_rate_hz=500, dlpf_hz=94, accel_range_g=16, gyro_range_dps=2000)
    src.start()
    configured = {r: rig.chip.regs[r] for r in (Register.SMPLRT_DIV, Register.CONFIG,
                                                Register.GYRO_CONFIG, Register.ACCEL_CONFIG,
                                                Register.FIFO_EN, Register.PWR_MGMT_1)}
    before = rig.run(src, 1.0)
    rig.chip.present = False
    transfers = rig.bus.transfers
    outage = rig.run(src, 3.0)
    assert outage == []
    assert src.health.state == "disconnected"
    failing_transfers = rig.bus.transfers - transfers
    rig.chip.power_cycle()  # it comes back in its reset state: asleep, default registers
    rig.chip.present = True
    writes_before = len(rig.bus.writes)
    after = rig.run(src, 4.0)
    assert (0x68, Register.PWR_MGMT_1, 0x80) in rig.bus.writes[writes_before:], "reset written"
    assert {r: rig.chip.regs[r] for r in configured} == configured
    assert src.health.reconnects == 1 and src.health.state == "running"
    assert src.health.errors >= src.retry.failures_before_reinit
    assert failing_transfers < 20, "exponential backoff, not ~200 attempts (one per poll)"
    assert after and all(f.values == pytest.approx(STILL, abs=0.02) for f in after)
    delivered = np.array(rig.chip.delivered_times_ns)
    true_gap = round((delivered[len(before)] - delivered[len(before) - 1])
                     / rig.chip.sample_period_ns)
    assert abs((after[0].seq - before[-1].seq) - true_gap) <= 2


def test_chip_that_reset_itself_is_noticed_and_reconfigured(rig):
    src = rig.source()
    src.start()
    rig.run(src, 0.5)
    rig.chip.power_cycle()  # brown-out: answers on the bus, but asleep with an empty FIFO
    after = rig.run(src, 3.0)
    assert src.health.reconnects == 1
    assert "no IMU samples" in (src.health.last_error or "")
    assert len(after) > 300


def test_poll_never_raises_while_the_chip_is_gone(rig):
    src = rig.source()
    src.start()
    rig.chip.present = False
    assert rig.run(src, 20.0) == []
    assert src.health.state == "disconnected" and src.health.errors > 5


def test_calibration_is_applied_to_frames(rig):
    cal = ImuCalibration(gyro_bias_rad_s=(0.1, -0.2, 0.0), accel_bias_m_s2=(0.3, 0.0, -0.2),
                         accel_scale=(1.0, 1.0, 1.01))
    src = rig.source(calibration=cal, accel_range_g=2, gyro_range_dps=250)
    src.start()
    f = rig.run(src, 0.2)[-1]
    expected = [-0.3, 0.0, (G + 0.2) * 1.01, -0.1, 0.2, 0.0]
    assert list(f.values) == pytest.approx(expected, abs=2e-3)
    assert f.channels == IMU_CHANNELS and f.source == "imu"


def section(**over):
    base = {"enabled": True, "bus": 1, "address": 0x68, "sample_rate_hz": 200, "dlpf_hz": 44,
            "accel_range_g": 8, "gyro_range_dps": 1000, "calibration_file": ""}
    return {**base, **over}


def test_from_config_loads_the_calibration_from_data_dir(rig, tmp_path):
    (tmp_path / "imu-calibration.json").write_text(json.dumps({
        "format": "liftguard-imu-calibration", "version": 1,
        "gyro_bias_rad_s": [0.0, 0.0, 0.05], "accel_bias_m_s2": [0.0, 0.0, 0.0]}))
    src = IMUSource.from_config(section(sample_rate_hz=100), tmp_path, clock=rig.clock,
                                bus_factory=rig.bus.factory)
    rig.sources.append(src)
    src.start()
    frames = rig.run(src, 0.5)
    assert src.settings.sample_rate_hz == 100
    assert frames[-1].value("gz") == pytest.approx(-0.05, abs=1e-3)


def test_from_config_without_calibration_file_warns(rig, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        src = IMUSource.from_config(section(), tmp_path, clock=rig.clock,
                                    bus_factory=rig.bus.factory)
    assert src.calibration.is_identity
    assert "run 'liftguard calibrate imu'" in caplog.text


def test_from_config_with_broken_calibration_file_names_it(rig, tmp_path):
    bad = tmp_path / "cal.json"
    bad.write_text("{not json")
    with pytest.raises(CalibrationError, match=rf"{bad}: not valid JSON at line 1"):
        IMUSource.from_config(section(calibration_file=str(bad)), tmp_path)


def test_probe_reports_chip_settings_and_readings(rig):
    ok, message = probe_imu(section(), bus_factory=rig.bus.factory, clock=rig.clock)
    assert ok, message
    assert message.startswith("MPU-6050 at 0x68 on /dev/i2c-1: 200 Hz")
    assert "az=+9.81" in message and "gx=+0.00" in message
    assert rig.chip.regs[Register.PWR_MGMT_1] & 0x40, "left asleep after the probe"


def test_probe_explains_a_missing_bus():
    ok, message = probe_imu(section(bus=7), bus_factory=missing_bus_factory)
    assert not ok and message.startswith("no I2C bus /dev/i2c-7")


def test_probe_of_a_disabled_imu():
    ok, message = probe_imu(section(enabled=False))
    assert ok and "disabled" in message
