"""`liftguard sensors check` reports each configured sensor, or why it is not there."""
from __future__ import annotations

import math

from liftguard.cli import main
from liftguard.commands import sensors_check
from sensors.clock import SYSTEM_CLOCK
from sensors.fake_mpu6050 import FakeI2CBus, FakeMPU6050


def config(tmp_path, text):
    p = tmp_path / "config.toml"
    p.write_text(f"[device]\ndata_dir = '{tmp_path}'\n" + text)
    return str(p)


def test_missing_hardware_is_named_and_exit_is_1(tmp_path, capsys):
    cfg = config(tmp_path, "[imu]\nbus = 29\n[loadcells]\nport = '/dev/ttyNOPE0'\n")
    assert main(["--config", cfg, "sensors", "check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL IMU" in out and "/dev/i2c-29" in out
    assert "FAIL load cells" in out and "/dev/ttyNOPE0" in out


def test_fake_imu_is_found_and_disabled_platform_is_reported(tmp_path, capsys, monkeypatch):
    chip = FakeMPU6050(SYSTEM_CLOCK, lambda t: (0.0, 0.0, 9.80665, 0.0, 0.0, math.radians(3)))
    monkeypatch.setattr(sensors_check, "imu_bus_factory", FakeI2CBus({0x68: chip}).factory)
    cfg = config(tmp_path, "[loadcells]\nenabled = false\n")
    assert main(["--config", cfg, "sensors", "check"]) == 0
    out = capsys.readouterr().out
    assert "OK   IMU" in out and "MPU-6050" in out
    assert "OK   load cells: disabled in config" in out
