"""MPU-6050 family register map and chip driver (accelerometer + gyroscope through the FIFO).

Register addresses and bit fields are declared once here, as in InvenSense's "MPU-6000 and
MPU-6050 Register Map and Descriptions" (RM-MPU-6000A-00 rev 4.2); section numbers refer to it.
The MPU-6500, MPU-9250 and MPU-9255 keep the same addresses for everything used here (their
FIFO is 512 bytes, and their accelerometer low-pass filter lives in ACCEL_CONFIG2).

``MPU6050`` performs single operations on the chip through a ``SharedBus``; it does no
retrying and keeps no time. Retry, backoff, re-initialisation and timestamps are the job of
``sensors.imu_source.IMUSource``. Bus errors come out as ``OSError`` (errno 5/16/121) and
problems that retrying will not fix as ``SensorError``.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from sensors.errors import SensorError
from sensors.frame import STANDARD_GRAVITY
from sensors.i2c import SharedBus, describe_oserror


class Register(enum.IntEnum):
    SMPLRT_DIV = 0x19      # 4.2  sample rate = gyro output rate / (1 + SMPLRT_DIV)
    CONFIG = 0x1A          # 4.3  EXT_SYNC_SET[5:3] DLPF_CFG[2:0]
    GYRO_CONFIG = 0x1B     # 4.4  FS_SEL[4:3]
    ACCEL_CONFIG = 0x1C    # 4.5  AFS_SEL[4:3]
    ACCEL_CONFIG2 = 0x1D   # MPU-6500 family only: A_DLPF_CFG[2:0]
    FIFO_EN = 0x23         # 4.6  which measurements go into the FIFO
    INT_ENABLE = 0x38      # 4.14
    INT_STATUS = 0x3A      # 4.16 cleared by reading
    ACCEL_XOUT_H = 0x3B    # 4.17 ACCEL, TEMP, GYRO output registers follow, big-endian int16
    TEMP_OUT_H = 0x41
    GYRO_XOUT_H = 0x43
    USER_CTRL = 0x6A       # 4.28
    PWR_MGMT_1 = 0x6B      # 4.29 reset value 0x40 (SLEEP)
    PWR_MGMT_2 = 0x6C
    FIFO_COUNTH = 0x72     # 4.30 FIFO_COUNTH, FIFO_COUNTL: bytes in the FIFO, big-endian
    FIFO_COUNTL = 0x73
    FIFO_R_W = 0x74        # 4.31 FIFO read port (no address auto-increment)
    WHO_AM_I = 0x75        # 4.32


class FifoEnable(enum.IntFlag):
    TEMP = 0x80
    XG = 0x40
    YG = 0x20
    ZG = 0x10
    ACCEL = 0x08


class IntBit(enum.IntFlag):
    """INT_ENABLE / INT_STATUS bits."""

    FIFO_OFLOW = 0x10
    DATA_RDY = 0x01


class UserCtrl(enum.IntFlag):
    FIFO_EN = 0x40
    FIFO_RESET = 0x04      # resets the FIFO when written while FIFO_EN is 0; self-clearing
    SIG_COND_RESET = 0x01


class PowerMgmt1(enum.IntFlag):
    DEVICE_RESET = 0x80    # resets every register to its default; self-clearing
    SLEEP = 0x40
    CLKSEL_PLL_XGYRO = 0x01  # datasheet recommends a gyro PLL over the internal 8 MHz oscillator


FS_SEL_SHIFT = 3  # GYRO_CONFIG FS_SEL and ACCEL_CONFIG AFS_SEL both live in bits 4:3

DLPF_CFG_BY_HZ = {260: 0, 184: 1, 94: 2, 44: 3, 21: 4, 10: 5, 5: 6}
"""CONFIG DLPF_CFG by accelerometer bandwidth in Hz (4.3, table of DLPF_CFG)."""

ACCEL_RANGES_G = (2, 4, 8, 16)        # AFS_SEL 0..3
GYRO_RANGES_DPS = (250, 500, 1000, 2000)  # FS_SEL 0..3
ACCEL_LSB_PER_G_AT_2G = 16384.0       # 4.17: 16384 / 8192 / 4096 / 2048 LSB/g
GYRO_LSB_PER_DPS_AT_250DPS = 131.0    # 4.19: 131 / 65.5 / 32.8 / 16.4 LSB/(deg/s)

SAMPLE_BYTES = 12
"""One FIFO sample with ACCEL + XG + YG + ZG enabled: ax ay az gx gy gz, int16 big-endian."""

FIFO_ENABLED = FifoEnable.ACCEL | FifoEnable.XG | FifoEnable.YG | FifoEnable.ZG
FIFO_COUNT_MASK = 0x1FFF
RESET_SETTLE_S = 0.1
"""Time the chip needs after DEVICE_RESET before it takes writes (MPU-6050 product spec: 100 ms)."""


@dataclass(frozen=True)
class ChipModel:
    name: str
    fifo_bytes: int
    has_accel_config2: bool


CHIPS_BY_WHO_AM_I: dict[int, ChipModel] = {
    0x68: ChipModel("MPU-6050", 1024, False),
    0x70: ChipModel("MPU-6500", 512, True),
    0x71: ChipModel("MPU-9250", 512, True),
    0x73: ChipModel("MPU-9255", 512, True),
}


def gyro_output_rate_hz(dlpf_cfg: int) -> int:
    """8 kHz with the low-pass filter off (DLPF_CFG 0 or 7), else 1 kHz (4.2)."""
    return 8000 if dlpf_cfg in (0, 7) else 1000


@dataclass(frozen=True)
class MPU6050Settings:
    """What the user configures; ``registers()`` is what the chip gets."""

    sample_rate_hz: float = 200.0
    dlpf_hz: int = 44
    accel_range_g: int = 8
    gyro_range_dps: int = 1000

    def __post_init__(self) -> None:
        if self.dlpf_hz not in DLPF_CFG_BY_HZ:
            raise ValueError(f"dlpf_hz={self.dlpf_hz} is not one of {sorted(DLPF_CFG_BY_HZ)}")
        if self.accel_range_g not in ACCEL_RANGES_G:
            raise ValueError(f"accel_range_g={self.accel_range_g} is not one of {ACCEL_RANGES_G}")
        if self.gyro_range_dps not in GYRO_RANGES_DPS:
            raise ValueError(f"gyro_range_dps={self.gyro_range_dps} is not one of "
                             f"{GYRO_RANGES_DPS}")
        base = gyro_output_rate_hz(self.dlpf_cfg)
        if not base / 256 <= self.sample_rate_hz <= base:
            raise ValueError(f"sample_rate_hz={self.sample_rate_hz} is outside "
                             f"{base / 256:g}..{base} Hz, what the chip can do with "
                             f"dlpf_hz={self.dlpf_hz} ({base} Hz gyro output rate)")

    @property
    def dlpf_cfg(self) -> int:
        return DLPF_CFG_BY_HZ[self.dlpf_hz]

    @property
    def smplrt_div(self) -> int:
        base = gyro_output_rate_hz(self.dlpf_cfg)
        return min(255, max(0, round(base / self.sample_rate_hz) - 1))

    @property
    def actual_rate_hz(self) -> float:
        """The nearest rate the divider can make (e.g. 1000/(1+4) = 200 Hz)."""
        return gyro_output_rate_hz(self.dlpf_cfg) / (1 + self.smplrt_div)

    @property
    def sample_period_ns(self) -> int:
        """Exact in ns: the base rates are 1 kHz and 8 kHz."""
        return (1 + self.smplrt_div) * 1_000_000_000 // gyro_output_rate_hz(self.dlpf_cfg)

    @property
    def afs_sel(self) -> int:
        return ACCEL_RANGES_G.index(self.accel_range_g)

    @property
    def fs_sel(self) -> int:
        return GYRO_RANGES_DPS.index(self.gyro_range_dps)

    @property
    def si_per_lsb(self) -> np.ndarray:
        """Multipliers turning raw (ax ay az gx gy gz) counts into m/s^2 and rad/s."""
        accel = STANDARD_GRAVITY / (ACCEL_LSB_PER_G_AT_2G / 2 ** self.afs_sel)
        gyro = math.radians(1.0) / (GYRO_LSB_PER_DPS_AT_250DPS / 2 ** self.fs_sel)
        return np.array([accel] * 3 + [gyro] * 3)

    def registers(self, chip: ChipModel) -> list[tuple[Register, int]]:
        """Configuration writes in order, after a reset has woken the chip."""
        writes = [
            (Register.SMPLRT_DIV, self.smplrt_div),
            (Register.CONFIG, self.dlpf_cfg),
            (Register.GYRO_CONFIG, self.fs_sel << FS_SEL_SHIFT),
            (Register.ACCEL_CONFIG, self.afs_sel << FS_SEL_SHIFT),
        ]
        if chip.has_accel_config2:
            writes.append((Register.ACCEL_CONFIG2, self.dlpf_cfg))
        return writes


def decode_fifo(raw: bytes, si_per_lsb: np.ndarray) -> np.ndarray:
    """FIFO bytes (a whole number of 12-byte samples) -> (n, 6) array in SI units."""
    counts = np.frombuffer(raw, dtype=">i2").reshape(-1, 6)
    return counts * si_per_lsb


class MPU6050:
    """One chip on a shared bus: identify, reset, configure, and read the FIFO."""

    def __init__(self, bus: SharedBus, address: int, settings: MPU6050Settings) -> None:
        self.bus = bus
        self.address = address
        self.settings = settings
        self.chip: ChipModel | None = None
        self._si_per_lsb = settings.si_per_lsb

    @property
    def where(self) -> str:
        return f"0x{self.address:02x} on {self.bus.path}"

    def identify(self) -> ChipModel:
        """Read WHO_AM_I; a missing or foreign chip is a ``SensorError`` saying what to check."""
        try:
            who = self.bus.read_byte_data(self.address, Register.WHO_AM_I)
        except OSError as exc:
            raise SensorError(f"no MPU-6050 answered at {self.where} ({describe_oserror(exc)}): "
                              "check wiring, power and the AD0 pin ([imu] address 0x68 "
                              "with AD0 low, 0x69 with AD0 high)") from None
        chip = CHIPS_BY_WHO_AM_I.get(who)
        if chip is None:
            known = ", ".join(f"0x{k:02x} {c.name}" for k, c in CHIPS_BY_WHO_AM_I.items())
            raise SensorError(f"the device at {self.where} is not an MPU-6050-family IMU: "
                              f"WHO_AM_I reads 0x{who:02x} (expected {known})")
        self.chip = chip
        return chip

    def reset(self) -> None:
        """DEVICE_RESET; the caller waits ``RESET_SETTLE_S`` before ``configure()``."""
        self.bus.write_byte_data(self.address, Register.PWR_MGMT_1, PowerMgmt1.DEVICE_RESET)

    def configure(self) -> None:
        """Wake, apply the settings, verify them, and start the FIFO empty."""
        chip = self.chip or self.identify()
        writes = [(Register.PWR_MGMT_1, int(PowerMgmt1.CLKSEL_PLL_XGYRO)),
                  *self.settings.registers(chip),
                  (Register.INT_ENABLE, int(IntBit.FIFO_OFLOW))]
        self.bus.write_registers(self.address, writes)
        for register, value in writes:
            got = self.bus.read_byte_data(self.address, register)
            if got != value:
                raise SensorError(f"{chip.name} at {self.where} did not keep its configuration: "
                                  f"{register.name} reads 0x{got:02x}, wrote 0x{value:02x}")
        self.bus.write_byte_data(self.address, Register.FIFO_EN, FIFO_ENABLED)
        self.reset_fifo()

    def reset_fifo(self) -> None:
        """Empty the FIFO and restart it; data in it is discarded (4.28)."""
        self.bus.write_registers(self.address, [
            (Register.USER_CTRL, int(UserCtrl.FIFO_RESET)),
            (Register.USER_CTRL, int(UserCtrl.FIFO_EN)),
        ])
        self.bus.read_byte_data(self.address, Register.INT_STATUS)  # clear a stale overflow

    def read_int_status(self) -> IntBit:
        return IntBit(self.bus.read_byte_data(self.address, Register.INT_STATUS)
                      & (IntBit.FIFO_OFLOW | IntBit.DATA_RDY))

    def fifo_count(self) -> int:
        high, low = self.bus.read_block(self.address, Register.FIFO_COUNTH, 2)
        return ((high << 8) | low) & FIFO_COUNT_MASK

    def read_samples(self, n_samples: int) -> np.ndarray:
        """Read ``n_samples`` whole samples from the FIFO -> (n, 6) in m/s^2 and rad/s."""
        raw = self.bus.read_block(self.address, Register.FIFO_R_W, n_samples * SAMPLE_BYTES)
        return decode_fifo(raw, self._si_per_lsb)

    @property
    def fifo_bytes(self) -> int:
        return (self.chip or CHIPS_BY_WHO_AM_I[0x68]).fifo_bytes


__all__ = ["CHIPS_BY_WHO_AM_I", "DLPF_CFG_BY_HZ", "FIFO_ENABLED", "MPU6050", "MPU6050Settings",
           "RESET_SETTLE_S", "SAMPLE_BYTES", "ChipModel", "FifoEnable",
           "IntBit", "PowerMgmt1", "Register", "UserCtrl", "decode_fifo", "gyro_output_rate_hz"]
