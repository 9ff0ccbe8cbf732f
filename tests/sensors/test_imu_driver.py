"""MPU-6050 driver on the fake bus: identity, configuration registers, SI conversion, bus."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from sensors.errors import SensorError
from sensors.fake_mpu6050 import FakeI2CBus, missing_bus_factory
from sensors.i2c import SharedBus
from sensors.imu_source import IMUSource
from sensors.mpu6050 import MPU6050Settings, Register, decode_fifo
from tests.support.imu_rig import G, Rig, lsb_accel, lsb_gyro

# Datasheet (RM-MPU-6000A 4.3): DLPF_CFG for each accelerometer bandwidth, and the gyro output
# rate is 8 kHz when DLPF_CFG is 0 (filter off), 1 kHz otherwise.
DATASHEET_DLPF_CFG = {260: 0, 184: 1, 94: 2, 44: 3, 21: 4, 10: 5, 5: 6}


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


@pytest.mark.parametrize("who_am_i, name", [(0x68, "MPU-6050"), (0x70, "MPU-6500"),
                                             (0x71, "MPU-9250"), (0x73, "MPU-9255")])
def test_accepts_mpu6050_family(who_am_i, name):
    rig = Rig(who_am_i=who_am_i)
    src = rig.source()
    src.start()
    assert src.health.extra["chip"] == name
    assert src.health.state == "running"
    rig.close()


def test_refuses_a_chip_that_is_not_an_mpu6050():
    rig = Rig(who_am_i=0x12)
    with pytest.raises(SensorError, match=r"0x68 on /dev/i2c-1 is not an MPU-6050.*0x12"):
        rig.source().start()


def test_missing_chip_names_address_bus_and_errno():
    rig = Rig(address=0x69)  # the chip answers at 0x69, the config says 0x68
    with pytest.raises(SensorError) as info:
        rig.source(address=0x68).start()
    assert str(info.value).startswith("no MPU-6050 answered at 0x68 on /dev/i2c-1 (errno 121")
    assert "AD0" in str(info.value)
    assert rig.bus.closed, "the bus is released when start() fails"


def test_missing_bus_says_how_to_enable_i2c():
    src = IMUSource(bus=3, bus_factory=missing_bus_factory)
    with pytest.raises(SensorError, match=r"^no I2C bus /dev/i2c-3: enable I2C with raspi-config "
                                          r"\(Interface Options > I2C\)"):
        src.start()


def test_reset_is_written_before_configuration(rig):
    rig.source().start()
    registers = [reg for addr, reg, val in rig.bus.writes]
    reset_at = rig.bus.writes.index((0x68, Register.PWR_MGMT_1, 0x80))
    assert registers.index(Register.SMPLRT_DIV) > reset_at
    assert rig.chip.resets == 1


@pytest.mark.parametrize("rate_hz, dlpf_hz, accel_g, gyro_dps", [
    (200, 44, 8, 1000), (1000, 184, 2, 250), (100, 5, 4, 500), (500, 260, 16, 2000),
    (50, 94, 16, 250), (4, 21, 2, 2000)])
def test_configuration_registers_follow_the_datasheet(rig, rate_hz, dlpf_hz, accel_g, gyro_dps):
    rig.source(sample_rate_hz=rate_hz, dlpf_hz=dlpf_hz, accel_range_g=accel_g,
               gyro_range_dps=gyro_dps).start()
    regs = rig.chip.regs
    gyro_output_hz = 8000 if dlpf_hz == 260 else 1000
    assert regs[Register.SMPLRT_DIV] == gyro_output_hz // rate_hz - 1
    assert regs[Register.CONFIG] & 0x07 == DATASHEET_DLPF_CFG[dlpf_hz]
    assert (regs[Register.GYRO_CONFIG] >> 3) & 3 == int(math.log2(gyro_dps / 250))
    assert (regs[Register.ACCEL_CONFIG] >> 3) & 3 == int(math.log2(accel_g / 2))
    assert regs[Register.PWR_MGMT_1] & 0x40 == 0, "awake"
    assert regs[Register.FIFO_EN] == 0x78, "accel + gyro x/y/z into the FIFO, no temperature"
    assert regs[Register.USER_CTRL] & 0x40, "FIFO enabled"
    produced = rig.chip.samples_produced
    rig.clock.advance(2.0)
    rig.chip.fifo_level  # let the fake catch up
    assert rig.chip.samples_produced - produced == pytest.approx(2.0 * rate_hz, abs=1)


def test_mpu6500_gets_its_accelerometer_filter():
    rig = Rig(who_am_i=0x70, fifo_bytes=512)
    rig.source(dlpf_hz=21).start()
    assert rig.chip.regs[Register.ACCEL_CONFIG2] == DATASHEET_DLPF_CFG[21]
    rig.close()


def test_sample_rate_impossible_for_the_filter_setting_is_refused():
    with pytest.raises(ValueError, match="sample_rate_hz=10 is outside 31.25..8000 Hz"):
        MPU6050Settings(sample_rate_hz=10, dlpf_hz=260)


def test_fifo_words_are_big_endian_signed():
    raw = struct.pack(">6h", 16384, -16384, 1, -1, 131, -32768)
    per_lsb = MPU6050Settings(accel_range_g=2, gyro_range_dps=250).si_per_lsb
    got = decode_fifo(raw, per_lsb)
    expected = [G, -G, G / 16384, -math.radians(1 / 131), math.radians(1.0),
                -math.radians(32768 / 131)]
    np.testing.assert_allclose(got[0], expected, rtol=1e-12)


@pytest.mark.parametrize("accel_g, gyro_dps", [(2, 250), (4, 500), (8, 1000), (16, 2000)])
def test_readings_are_si_units_in_every_range(accel_g, gyro_dps):
    truth = (-0.5 * G, 0.25 * G, 1.0 * G, math.radians(90), math.radians(-45), 0.0)
    rig = Rig(lambda t: truth)
    src = rig.source(accel_range_g=accel_g, gyro_range_dps=gyro_dps)
    src.start()
    frames = rig.run(src, 0.5)
    rig.close()
    assert len(frames) >= 90
    values = np.array([f.values for f in frames])
    tol = np.array([lsb_accel(accel_g)] * 3 + [lsb_gyro(gyro_dps)] * 3)
    assert np.all(np.abs(values - truth) <= tol), (values[0], truth)


def test_readings_saturate_at_full_scale():
    rig = Rig(lambda t: (0.0, 0.0, 3 * G, math.radians(400), 0.0, 0.0))
    src = rig.source(accel_range_g=2, gyro_range_dps=250)
    src.start()
    frame = rig.run(src, 0.1)[-1]
    rig.close()
    assert frame.value("az") == pytest.approx(2 * G, rel=1e-3)
    assert math.degrees(frame.value("gx")) == pytest.approx(250, rel=2e-3)


def test_one_shared_bus_per_bus_number():
    fake = FakeI2CBus()
    a = SharedBus.open(1, fake.factory)
    b = SharedBus.open(1, fake.factory)
    assert a is b and fake.opened == [1]
    a.close()
    assert not fake.closed, "still used by the second holder"
    b.close()
    assert fake.closed
    c = SharedBus.open(1, fake.factory)
    assert c is not a and fake.opened == [1, 1]
    c.close()
