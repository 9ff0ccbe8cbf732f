"""Sensor imperfections of the real parts: MPU-6050 IMU and HX711 load-cell amplifiers.

MPU-6050 datasheet (PS-MPU-6000A rev 3.4): accelerometer noise density 400 ug/sqrt(Hz), zero-g
offset +-50 mg (X/Y, uncalibrated), gyro rate noise 0.005 deg/s/sqrt(Hz), zero-rate offset
+-20 deg/s uncalibrated (we model +-1 deg/s left after the box's gyro calibration). Noise is
white over the digital low-pass filter's bandwidth (or Nyquist if lower). Outputs are
16-bit signed at the configured full-scale range: they saturate and are quantised.
HX711 + load cell after scaling: about 1 N RMS white noise per corner.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sensors.frame import STANDARD_GRAVITY

DEG = np.pi / 180.0


@dataclass(frozen=True)
class NoiseModel:
    accel_density_g_rthz: float = 400e-6
    gyro_density_dps_rthz: float = 0.005
    accel_bias_g: float = 0.05            # constant per-set bias, uniform in +-this, per axis
    gyro_bias_dps: float = 1.0
    dlpf_hz: float = 44.0
    accel_range_g: float = 8.0
    gyro_range_dps: float = 1000.0
    quantise: bool = True
    loadcell_noise_n: float = 1.0         # RMS per corner
    body_sway_force_n: float = 0.0        # RMS of the total force from breathing and postural
    #                                       adjustments while "still" (0.2-1.5 Hz); 0 = none

    @classmethod
    def none(cls) -> "NoiseModel":
        """No noise, bias or quantisation: the sensors read the true signals."""
        return cls(0.0, 0.0, 0.0, 0.0, quantise=False, loadcell_noise_n=0.0)

    def _bandwidth(self, rate_hz: float) -> float:
        return min(self.dlpf_hz, rate_hz / 2.0)

    def imu(self, accel: np.ndarray, gyro: np.ndarray, rate_hz: float,
            rng: np.random.Generator, bias_rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Add bias and white noise to (n, 3) accel (m/s^2) and gyro (rad/s), then saturate/quantise.

        ``bias_rng``: the biases come from it instead (a sensor kept across sets); the white
        noise is the same either way."""
        bw = np.sqrt(self._bandwidth(rate_hz))
        g = STANDARD_GRAVITY
        a_bias = rng.uniform(-1, 1, 3) * self.accel_bias_g * g
        w_bias = rng.uniform(-1, 1, 3) * self.gyro_bias_dps * DEG
        if bias_rng is not None:
            a_bias = bias_rng.uniform(-1, 1, 3) * self.accel_bias_g * g
            w_bias = bias_rng.uniform(-1, 1, 3) * self.gyro_bias_dps * DEG
        accel = accel + a_bias + rng.standard_normal(accel.shape) * self.accel_density_g_rthz * g * bw
        gyro = gyro + w_bias + rng.standard_normal(gyro.shape) * self.gyro_density_dps_rthz * DEG * bw
        if self.quantise:
            accel = _adc16(accel, self.accel_range_g * g)
            gyro = _adc16(gyro, self.gyro_range_dps * DEG)
        return accel, gyro

    def loadcells(self, forces: np.ndarray, rng: np.random.Generator,
                  rate_hz: float | None = None) -> np.ndarray:
        """White noise per corner and, with ``body_sway_force_n``, a slow fluctuation of the
        total (three sinusoids, random phases) shared equally by the corners."""
        out = forces + rng.standard_normal(forces.shape) * self.loadcell_noise_n
        if self.body_sway_force_n > 0 and rate_hz:
            t = np.arange(forces.shape[0]) / rate_hz
            amp = self.body_sway_force_n * np.sqrt(2.0 / 3.0)
            sway = sum(amp * np.sin(2 * np.pi * rng.uniform(0.2, 1.5) * t + rng.uniform(0, 2 * np.pi))
                       for _ in range(3))
            out = out + (sway / 4.0)[:, None]
        return out


def _adc16(x: np.ndarray, full_scale: float) -> np.ndarray:
    """What a 16-bit signed converter at +-full_scale reports, back in the same units."""
    lsb = full_scale / 32768.0
    return np.clip(np.round(x / lsb), -32768, 32767) * lsb
