"""A fake I2C bus with a modelled MPU-6050, for tests and for tooling without hardware.

``FakeI2CBus`` has the ``smbus2.SMBus`` methods the driver uses; ``FakeMPU6050`` models the
register map from the datasheet, independently of the driver's tables: WHO_AM_I, the
PWR_MGMT_1 sleep/reset behaviour, SMPLRT_DIV/CONFIG setting the sample rate, GYRO_CONFIG and
ACCEL_CONFIG setting the scaling, USER_CTRL FIFO_EN/FIFO_RESET, FIFO_EN, FIFO_COUNT, FIFO_R_W,
INT_STATUS (overflow, cleared by reading), and a FIFO filled from ``signal(t) -> (ax, ay, az,
gx, gy, gz)`` in SI units as the shared clock (usually a ``ManualClock``) advances. A full FIFO
keeps taking samples and drops its oldest bytes, as the chip does, so it ends misaligned.

Faults: ``bus.fail_next(n, errno)`` makes the next n transfers fail; ``chip.present = False``
makes the chip vanish (errno 121); ``chip.power_cycle()`` puts it back in its reset state;
``chip.oscillator_error`` runs its sample clock fast or slow against the host clock.

Use it like gpiozero's MockFactory: ``IMUSource(..., bus_factory=bus.factory)``.
"""
from __future__ import annotations

import errno as errno_mod
import math
import os
from collections import deque
from typing import Callable, Sequence

from sensors.clock import Clock
from sensors.frame import STANDARD_GRAVITY
from sensors.mpu6050 import Register as R

Signal = Callable[[float], Sequence[float]]

_DEVICE_RESET, _SLEEP = 0x80, 0x40
_USER_FIFO_EN, _USER_FIFO_RESET = 0x40, 0x04
_INT_FIFO_OFLOW, _INT_DATA_RDY = 0x10, 0x01
_FIFO_EN_TEMP, _FIFO_EN_XG, _FIFO_EN_YG, _FIFO_EN_ZG, _FIFO_EN_ACCEL = 0x80, 0x40, 0x20, 0x10, 0x08
_READ_ONLY = {R.WHO_AM_I, R.INT_STATUS, R.FIFO_COUNTH, R.FIFO_COUNTL}


def still_level_bar(t: float) -> tuple[float, ...]:
    """A bar resting level: specific force +1 g on z, no rotation."""
    return (0.0, 0.0, STANDARD_GRAVITY, 0.0, 0.0, 0.0)


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class FakeMPU6050:
    """The chip. All times are the shared clock's ``mono_ns``."""

    def __init__(self, clock: Clock, signal: Signal = still_level_bar, *, who_am_i: int = 0x68,
                 fifo_bytes: int = 1024, oscillator_error: float = 0.0,
                 reset_busy_s: float = 0.05, temperature_c: float = 25.0) -> None:
        self.clock = clock
        self.signal = signal
        self.who_am_i = who_am_i
        self.fifo_capacity = fifo_bytes
        self.oscillator_error = oscillator_error
        """Relative error of the chip's sample clock: +0.01 means samples come 1 % late."""
        self.reset_busy_s = reset_busy_s
        """After DEVICE_RESET the chip does not acknowledge for this long."""
        self.temperature_c = temperature_c
        self.present = True
        self.resets = 0
        self.samples_produced = 0
        self.samples_overwritten = 0
        self.delivered_times_ns: list[int] = []
        """Production time of every sample read out whole through FIFO_R_W, in order."""
        self._power_on(busy_s=0.0)

    def _power_on(self, busy_s: float) -> None:
        self.regs = bytearray(128)
        self.regs[R.PWR_MGMT_1] = _SLEEP
        self.regs[R.WHO_AM_I] = self.who_am_i
        self._fifo = bytearray()
        self._fifo_packets: deque[list[int]] = deque()  # [production ns, bytes left] per packet
        self._latest_regs: tuple[int, ...] = (0,) * 7
        self._next_sample_ns: int | None = None
        self._busy_until_ns = self.clock.mono_ns() + int(busy_s * 1e9)

    def power_cycle(self) -> None:
        """Brown-out or re-plug: every register back to its reset value, FIFO empty, asleep."""
        self._power_on(busy_s=self.reset_busy_s)

    # -- what the datasheet says the configuration means ------------------------------------
    @property
    def sleeping(self) -> bool:
        return bool(self.regs[R.PWR_MGMT_1] & _SLEEP)

    @property
    def sample_period_ns(self) -> float:
        """(1 + SMPLRT_DIV) / gyro output rate; 8 kHz with DLPF_CFG 0 or 7, else 1 kHz."""
        dlpf_cfg = self.regs[R.CONFIG] & 0x07
        gyro_rate = 8000 if dlpf_cfg in (0, 7) else 1000
        return (1 + self.regs[R.SMPLRT_DIV]) / gyro_rate * 1e9 * (1 + self.oscillator_error)

    @property
    def accel_lsb_per_g(self) -> float:
        return 16384 / 2 ** ((self.regs[R.ACCEL_CONFIG] >> 3) & 3)

    @property
    def gyro_lsb_per_dps(self) -> float:
        return 131 / 2 ** ((self.regs[R.GYRO_CONFIG] >> 3) & 3)

    @property
    def fifo_level(self) -> int:
        self._catch_up()
        return len(self._fifo)

    # -- sampling ---------------------------------------------------------------------------
    def _catch_up(self) -> None:
        now = self.clock.mono_ns()
        if self.sleeping:
            self._next_sample_ns = None
            return
        period = self.sample_period_ns
        if self._next_sample_ns is None:
            self._next_sample_ns = now + round(period)
            return
        due = int((now - self._next_sample_ns) // period) + 1 if now >= self._next_sample_ns else 0
        keep = self.fifo_capacity // max(1, self._packet_bytes()) + 2
        if due > keep:  # only the last ones can still be in the FIFO: skip the rest quickly
            skipped = due - keep
            self.samples_produced += skipped
            self._overflow(skipped * self._packet_bytes())
            self._next_sample_ns += round(skipped * period)
            due = keep
        for _ in range(due):
            self._produce(self._next_sample_ns)
            self._next_sample_ns += round(period)

    def _packet_bytes(self) -> int:
        en = self.regs[R.FIFO_EN]
        return (6 * bool(en & _FIFO_EN_ACCEL) + 2 * bool(en & _FIFO_EN_TEMP)
                + 2 * sum(bool(en & b) for b in (_FIFO_EN_XG, _FIFO_EN_YG, _FIFO_EN_ZG)))

    def _produce(self, t_ns: int) -> None:
        ax, ay, az, gx, gy, gz = self.signal(t_ns / 1e9)
        a = [self._quantise(v / STANDARD_GRAVITY * self.accel_lsb_per_g) for v in (ax, ay, az)]
        g = [self._quantise(math.degrees(v) * self.gyro_lsb_per_dps) for v in (gx, gy, gz)]
        temp = self._quantise((self.temperature_c - 36.53) * 340)
        self._latest_regs = (*a, temp, *g)
        self.samples_produced += 1
        self.regs[R.INT_STATUS] |= _INT_DATA_RDY
        if not self.regs[R.USER_CTRL] & _USER_FIFO_EN:
            return
        en = self.regs[R.FIFO_EN]
        words = ((a if en & _FIFO_EN_ACCEL else []) + ([temp] if en & _FIFO_EN_TEMP else [])
                 + [w for w, bit in zip(g, (_FIFO_EN_XG, _FIFO_EN_YG, _FIFO_EN_ZG)) if en & bit])
        packet = b"".join(w.to_bytes(2, "big", signed=True) for w in words)
        if not packet:
            return
        room = self.fifo_capacity - len(self._fifo)
        if len(packet) > room:
            self._overflow(len(packet) - room)
        self._fifo += packet
        self._fifo_packets.append([t_ns, len(packet)])

    @staticmethod
    def _quantise(counts: float) -> int:
        return max(-32768, min(32767, round(counts)))

    def _overflow(self, n_bytes: int) -> None:
        """The chip keeps writing when full: the oldest bytes go, and FIFO_OFLOW_INT is set."""
        if not self.regs[R.USER_CTRL] & _USER_FIFO_EN or n_bytes <= 0:
            return
        self.regs[R.INT_STATUS] |= _INT_FIFO_OFLOW
        self._pop(min(n_bytes, len(self._fifo)), delivered=False)
        self.samples_overwritten += math.ceil(n_bytes / max(1, self._packet_bytes()))

    def _pop(self, n: int, delivered: bool = True) -> bytes:
        out = bytes(self._fifo[:n])
        del self._fifo[:n]
        left = n
        while left and self._fifo_packets:
            head = self._fifo_packets[0]
            take = min(left, head[1])
            head[1] -= take
            left -= take
            if head[1] == 0:
                self._fifo_packets.popleft()
                if delivered:
                    self.delivered_times_ns.append(head[0])
        return out

    # -- register access --------------------------------------------------------------------
    def _check_reachable(self) -> None:
        if not self.present or self.clock.mono_ns() < self._busy_until_ns:
            raise _oserror(errno_mod.EREMOTEIO)

    def read(self, register: int) -> int:
        self._catch_up()
        if register == R.INT_STATUS:
            value = self.regs[R.INT_STATUS]
            self.regs[R.INT_STATUS] = 0
            return value
        if register == R.FIFO_COUNTH:
            return (len(self._fifo) >> 8) & 0xFF
        if register == R.FIFO_COUNTL:
            return len(self._fifo) & 0xFF
        if register == R.FIFO_R_W:
            return self._pop(1)[0] if self._fifo else 0xFF
        if R.ACCEL_XOUT_H <= register < R.ACCEL_XOUT_H + 14 :
            word = self._latest_regs[(register - R.ACCEL_XOUT_H) // 2]
            return word.to_bytes(2, "big", signed=True)[(register - R.ACCEL_XOUT_H) % 2]
        return self.regs[register]

    def write(self, register: int, value: int) -> None:
        self._catch_up()
        if register in _READ_ONLY:
            return
        if register == R.PWR_MGMT_1 and value & _DEVICE_RESET:
            self.resets += 1
            self._power_on(busy_s=self.reset_busy_s)
            return
        if register == R.USER_CTRL:
            if value & _USER_FIFO_RESET and not value & _USER_FIFO_EN:
                self._pop(len(self._fifo), delivered=False)
            value &= ~(_USER_FIFO_RESET | 0x03) & 0xFF  # reset bits clear themselves
        was_sleeping = self.sleeping
        self.regs[register] = value & 0xFF
        if was_sleeping and not self.sleeping:
            self._next_sample_ns = None
            self._catch_up()


class FakeI2CBus:
    """The ``smbus2.SMBus`` surface used by the driver, with devices keyed by address."""

    def __init__(self, devices: dict[int, FakeMPU6050] | None = None) -> None:
        self.devices = dict(devices or {})
        self.closed = False
        self.opened: list[int] = []
        self.transfers = 0
        self.writes: list[tuple[int, int, int]] = []
        """Every (address, register, value) write that reached a device, in order."""
        self._failures: deque[int] = deque()

    def factory(self, bus_number: int) -> "FakeI2CBus":
        """Pass ``bus.factory`` where a bus factory (``smbus2.SMBus``) is expected."""
        self.opened.append(bus_number)
        self.closed = False
        return self

    def fail_next(self, count: int, errno: int = errno_mod.EREMOTEIO) -> None:
        """The next ``count`` transfers raise ``OSError(errno)`` (5 EIO, 16 EBUSY, 121...)."""
        self._failures.extend([errno] * count)

    def _device(self, address: int) -> FakeMPU6050:
        if self.closed:
            raise ValueError("I/O operation on a closed bus")
        self.transfers += 1
        if self._failures:
            raise _oserror(self._failures.popleft())
        device = self.devices.get(address)
        if device is None:
            raise _oserror(errno_mod.EREMOTEIO)
        device._check_reachable()
        return device

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        return self._device(i2c_addr).read(register)

    def write_byte_data(self, i2c_addr: int, register: int, value: int,
                        force: bool | None = None) -> None:
        self._device(i2c_addr).write(register, value)
        self.writes.append((i2c_addr, register, value))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int,
                            force: bool | None = None) -> list[int]:
        if length > 32:
            raise ValueError("Desired block length over 32 bytes")  # as smbus2
        device = self._device(i2c_addr)
        if register == R.FIFO_R_W:  # the FIFO port does not auto-increment
            return [device.read(register) for _ in range(length)]
        return [device.read(register + i) for i in range(length)]

    def close(self) -> None:
        self.closed = True


def missing_bus_factory(bus_number: int) -> FakeI2CBus:
    """What ``smbus2.SMBus`` does when /dev/i2c-N does not exist."""
    raise FileNotFoundError(errno_mod.ENOENT, "No such file or directory", f"/dev/i2c-{bus_number}")
