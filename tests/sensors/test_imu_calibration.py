"""IMU calibration: estimation maths, file round trip, and `liftguard calibrate imu` on the fake."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from liftguard import cli
from liftguard.commands import calibrate_imu
from sensors.imu_calibration import (
    CalibrationError,
    ImuCalibration,
    estimate_still_calibration,
    load_calibration,
    save_calibration,
)
from sensors.imu_source import IMUSource
from tests.support.imu_rig import G, Rig, lsb_accel, lsb_gyro

GYRO_BIAS = np.array([0.021, -0.013, 0.034])       # rad/s, ~1-2 deg/s like a real MPU-6050
ACCEL_BIAS = np.array([0.35, -0.22, 0.41])         # m/s^2, ~40 mg


def still_samples(n=2000, gravity=(0.0, 0.0, G), seed=1, gyro_noise=0.005, accel_noise=0.03):
    rng = np.random.default_rng(seed)
    accel = np.array(gravity) + ACCEL_BIAS + rng.normal(0, accel_noise, (n, 3))
    gyro = GYRO_BIAS + rng.normal(0, gyro_noise, (n, 3))
    return np.hstack([accel, gyro])


@pytest.mark.parametrize("gravity, axis", [((0, 0, G), "+az"), ((0, -G, 0), "-ay"),
                                           ((G, 0, 0), "+ax")])
def test_still_bar_biases_are_recovered(gravity, axis):
    n = 2000
    cal = estimate_still_calibration(still_samples(n, gravity))
    stderr_accel, stderr_gyro = 0.03 / math.sqrt(n), 0.005 / math.sqrt(n)
    np.testing.assert_allclose(cal.accel_bias_m_s2, ACCEL_BIAS, atol=5 * stderr_accel)
    np.testing.assert_allclose(cal.gyro_bias_rad_s, GYRO_BIAS, atol=5 * stderr_gyro)
    assert cal.info["gravity_axis"] == axis
    corrected = cal.apply(still_samples(200, gravity, seed=2)).mean(axis=0)
    np.testing.assert_allclose(corrected, list(gravity) + [0, 0, 0], atol=0.01)


def test_moving_bar_is_rejected():
    samples = still_samples()
    t = np.arange(len(samples)) / 200
    samples[:, 3] += 0.5 * np.sin(2 * math.pi * 0.5 * t)  # someone rolls the bar
    samples[:, 1] += 1.0 * np.sin(2 * math.pi * 0.5 * t)
    with pytest.raises(CalibrationError, match=r"the bar moved during calibration \(gx std "):
        estimate_still_calibration(samples)


def test_tilted_bar_is_rejected():
    tilt = math.radians(10)
    reads = G * math.sin(tilt) + ACCEL_BIAS[1]
    with pytest.raises(CalibrationError, match=rf"bar not level: ay reads {reads:.2f} m/s\^2"):
        estimate_still_calibration(still_samples(gravity=(0, G * math.sin(tilt),
                                                          G * math.cos(tilt))))


def test_wrong_range_or_broken_sensor_is_rejected():
    with pytest.raises(CalibrationError, match="no accelerometer axis reads about"):
        estimate_still_calibration(still_samples(gravity=(0, 0, G / 2)))


def test_too_few_samples_is_rejected():
    with pytest.raises(CalibrationError, match="only 10 IMU samples"):
        estimate_still_calibration(still_samples(10))


def test_apply_follows_the_documented_model():
    cal = ImuCalibration((0.1, 0.2, 0.3), (1.0, 2.0, 3.0), (1.1, 0.9, 1.0))
    raw = np.array([[5.0, 6.0, 7.0, 0.5, 0.5, 0.5]])
    expected = [(5 - 1) * 1.1, (6 - 2) * 0.9, (7 - 3) * 1.0, 0.4, 0.3, 0.2]
    np.testing.assert_allclose(cal.apply(raw)[0], expected)
    assert raw[0, 0] == 5.0, "input untouched"


def test_file_round_trip_is_atomic_and_exact(tmp_path):
    cal = estimate_still_calibration(still_samples())
    path = save_calibration(tmp_path / "sub" / "imu.json", cal)
    assert [p.name for p in path.parent.iterdir()] == ["imu.json"], "no temp file left"
    loaded = load_calibration(path)
    assert loaded == cal
    assert loaded.info["gravity_axis"] == "+az"
    assert json.loads(path.read_text())["format"] == "liftguard-imu-calibration"


@pytest.mark.parametrize("content, message", [
    ('{"format": "liftguard-imu-calibration", "version": 1, "accel_bias_m_s2": [0, 0, 0]}',
     "key 'gyro_bias_rad_s' is missing"),
    ('{"format": "liftguard-imu-calibration", "version": 1, "gyro_bias_rad_s": [0, 0],'
     ' "accel_bias_m_s2": [0, 0, 0]}', "key 'gyro_bias_rad_s' must be a list of 3"),
    ('{"format": "liftguard-imu-calibration", "version": 1, "gyro_bias_rad_s": [0, 0, 0],'
     ' "accel_bias_m_s2": [0, 0, 0], "accel_scale": [1, 1, 9]}', "'accel_scale'.*out of range"),
    ('{"format": "something-else"}', "not an IMU calibration file"),
    ('{"format": "liftguard-imu-calibration", "version": 7}', "key 'version' = 7"),
    ('{\n  "format": ', "not valid JSON at line 2"),
])
def test_bad_calibration_files_name_file_and_key(tmp_path, content, message):
    path = tmp_path / "imu.json"
    path.write_text(content)
    with pytest.raises(CalibrationError, match=rf"^{path}: .*{message}"):
        load_calibration(path)


# -- the command, end to end on the fake bus ---------------------------------------------------

def biased_bar(rng: np.random.Generator, moving: bool = False):
    def signal(t: float):
        sway = 2.0 * math.sin(2 * math.pi * 1.0 * t) if moving else 0.0
        accel = np.array([0.0, sway, G]) + ACCEL_BIAS + rng.normal(0, 0.02, 3)
        gyro = GYRO_BIAS + rng.normal(0, 0.003, 3) + (sway / 4, 0, 0)
        return (*accel, *gyro)
    return signal


@pytest.fixture
def cli_rig(tmp_path, monkeypatch):
    def make(moving=False):
        rig = Rig(biased_bar(np.random.default_rng(5), moving))
        monkeypatch.setattr(calibrate_imu, "bus_factory", rig.bus.factory)
        monkeypatch.setattr(calibrate_imu, "clock", rig.clock)
        config = tmp_path / "liftguard.toml"
        config.write_text(f'[device]\ndata_dir = "{tmp_path}"\n'
                          "[imu]\nsample_rate_hz = 100\naccel_range_g = 4\n"
                          "gyro_range_dps = 500\n")
        return rig, config
    return make


def test_calibrate_command_writes_a_calibration_that_removes_the_bias(cli_rig, tmp_path, capsys):
    rig, config = cli_rig()
    code = cli.main(["--config", str(config), "calibrate", "imu", "--seconds", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    written = tmp_path / "imu-calibration.json"  # the default: <data_dir>/imu-calibration.json
    assert f"written: {written}" in out
    cal = load_calibration(written)
    # quantisation (1 LSB) plus noise averaged over ~500 samples
    np.testing.assert_allclose(cal.accel_bias_m_s2, ACCEL_BIAS, atol=lsb_accel(4) + 0.005)
    np.testing.assert_allclose(cal.gyro_bias_rad_s, GYRO_BIAS, atol=lsb_gyro(500) + 0.001)
    assert cal.info["samples"] == pytest.approx(500, abs=3)

    # the daemon's path: from_config picks the file up and the bar reads true
    src = IMUSource.from_config({"sample_rate_hz": 100, "accel_range_g": 4,
                                 "gyro_range_dps": 500, "calibration_file": ""},
                                tmp_path, clock=rig.clock, bus_factory=rig.bus.factory)
    src.start()
    frames = rig.run(src, 2.0)
    src.stop()
    mean = np.mean([f.values for f in frames], axis=0)
    np.testing.assert_allclose(mean, [0, 0, G, 0, 0, 0], atol=0.01)


def test_calibrate_command_refuses_a_moving_bar(cli_rig, tmp_path, capsys):
    rig, config = cli_rig(moving=True)
    out_file = tmp_path / "cal.json"
    code = cli.main(["--config", str(config), "calibrate", "imu", "--seconds", "3",
                     "--out", str(out_file)])
    assert code == 1
    assert "the bar moved during calibration" in capsys.readouterr().err
    assert not out_file.exists()


def test_calibrate_command_without_bus_says_so(tmp_path, monkeypatch, capsys):
    from sensors.fake_mpu6050 import missing_bus_factory
    monkeypatch.setattr(calibrate_imu, "bus_factory", missing_bus_factory)
    config = tmp_path / "liftguard.toml"
    config.write_text(f'[device]\ndata_dir = "{tmp_path}"\n[imu]\nbus = 4\n')
    assert cli.main(["--config", str(config), "calibrate", "imu", "--seconds", "2"]) == 1
    assert "no I2C bus /dev/i2c-4: enable I2C" in capsys.readouterr().err


def test_calibrate_command_rejects_bad_seconds(tmp_path, capsys):
    assert cli.main(["calibrate", "imu", "--seconds", "0"]) == 2
    assert "--seconds must be between 1 and 600" in capsys.readouterr().err
