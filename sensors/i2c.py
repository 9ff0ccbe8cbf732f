"""One shared I2C bus object per bus number, used under a lock.

The Linux i2c-dev interface sets the slave address per file descriptor and several drivers on
one bus must not interleave a register-pointer write with another device's read. smbus2's
advice is therefore one ``SMBus`` per bus, shared, with transactions serialised: that is what
``SharedBus`` does. The backend is injectable (``factory``, default ``smbus2.SMBus``) so tests
and tooling can use ``sensors.fake_mpu6050.FakeI2CBus`` the way gpiozero uses pin factories.

Errno handling: ``TRANSIENT_ERRNOS`` are the errors a marginal bus produces (EIO = 5, a NACK
mid-transfer; EREMOTEIO = 121, no ACK to the address; EBUSY = 16, bus held by another master or
driver; ETIMEDOUT, EAGAIN). Callers count and retry those; ``describe_oserror`` turns any of
them into one line an operator understands.
"""
from __future__ import annotations

import errno
import logging
import threading
from typing import Any, Callable, Protocol, Sequence

from sensors.errors import SensorError

log = logging.getLogger(__name__)

TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EREMOTEIO, errno.EBUSY, errno.ETIMEDOUT,
                              errno.EAGAIN})

SMBUS_BLOCK_MAX = 32
"""Most bytes one SMBus block transfer (``read_i2c_block_data``) may carry."""

_ERRNO_MEANING = {
    errno.EIO: "I/O error, the transfer was not acknowledged",
    errno.EREMOTEIO: "no ACK from the device",
    errno.EBUSY: "bus busy",
    errno.ETIMEDOUT: "bus timeout",
    errno.EAGAIN: "bus arbitration lost",
}


class SMBusLike(Protocol):
    """The part of ``smbus2.SMBus`` the drivers use."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def close(self) -> None: ...


BusFactory = Callable[[int], SMBusLike]


def default_bus_factory(bus_number: int) -> SMBusLike:
    """``smbus2.SMBus(bus_number)``; imported lazily so the fake needs no smbus2."""
    from smbus2 import SMBus
    return SMBus(bus_number)


def bus_path(bus_number: int) -> str:
    return f"/dev/i2c-{bus_number}"


def describe_oserror(exc: OSError) -> str:
    """``"errno 121 (no ACK from the device)"`` style text for logs and health."""
    if exc.errno is None:
        return str(exc) or type(exc).__name__
    meaning = _ERRNO_MEANING.get(exc.errno) or exc.strerror or errno.errorcode.get(exc.errno, "")
    return f"errno {exc.errno} ({meaning})"


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


class SharedBus:
    """A reference-counted, lock-protected bus; ``SharedBus.open(1)`` twice gives one object.

    Every method holds the lock for one transaction; ``with bus.lock:`` groups several (the
    lock is re-entrant). ``close()`` releases one reference and closes the backend with the last.
    """

    _registry: dict[tuple[int, Any], "SharedBus"] = {}
    _registry_lock = threading.Lock()

    def __init__(self, bus_number: int, backend: SMBusLike, key: tuple[int, Any]) -> None:
        self.bus_number = bus_number
        self.path = bus_path(bus_number)
        self.lock = threading.RLock()
        self._backend = backend
        self._key = key
        self._refs = 0

    @classmethod
    def open(cls, bus_number: int, factory: BusFactory | None = None) -> "SharedBus":
        """The shared bus for ``bus_number`` and ``factory``, opened on first use.

        Raises ``SensorError`` with what to do when ``/dev/i2c-N`` is missing or not permitted.
        """
        factory = factory or default_bus_factory
        key = (bus_number, factory)
        with cls._registry_lock:
            shared = cls._registry.get(key)
            if shared is None:
                shared = cls(bus_number, _open_backend(bus_number, factory), key)
                cls._registry[key] = shared
            shared._refs += 1
            return shared

    def close(self) -> None:
        with self._registry_lock:
            if self._refs == 0:
                return
            self._refs -= 1
            if self._refs:
                return
            self._registry.pop(self._key, None)
        with self.lock:
            try:
                self._backend.close()
            except OSError as exc:
                log.debug("closing %s: %s", self.path, describe_oserror(exc))

    def read_byte_data(self, address: int, register: int) -> int:
        with self.lock:
            return self._backend.read_byte_data(address, register)

    def write_byte_data(self, address: int, register: int, value: int) -> None:
        with self.lock:
            self._backend.write_byte_data(address, register, value)

    def read_block(self, address: int, register: int, length: int) -> bytes:
        """``length`` bytes from ``register`` in transfers of at most 32 bytes.

        For an auto-incrementing register block, ``length`` must be <= 32; for a FIFO port
        (same register read repeatedly) any length works.
        """
        out = bytearray()
        with self.lock:
            while len(out) < length:
                chunk = min(SMBUS_BLOCK_MAX, length - len(out))
                out += bytes(self._backend.read_i2c_block_data(address, register, chunk))
        return bytes(out)

    def write_registers(self, address: int, writes: Sequence[tuple[int, int]]) -> None:
        """Several single-register writes as one uninterrupted sequence on the bus."""
        with self.lock:
            for register, value in writes:
                self._backend.write_byte_data(address, register, value)


def _open_backend(bus_number: int, factory: BusFactory) -> SMBusLike:
    path = bus_path(bus_number)
    try:
        return factory(bus_number)
    except FileNotFoundError:
        raise SensorError(f"no I2C bus {path}: enable I2C with raspi-config "
                          "(Interface Options > I2C), or set [imu] bus") from None
    except PermissionError:
        raise SensorError(f"no permission to open {path}: add the service user to the "
                          "'i2c' group (sudo usermod -aG i2c USER)") from None
    except OSError as exc:
        raise SensorError(f"cannot open I2C bus {path}: {describe_oserror(exc)}") from None
