"""Which pin library drives the buzzer, LEDs and session button, or plainly why none can.

On Raspberry Pi OS Bookworm gpiozero 2 drives the pins through lgpio, which opens
``/dev/gpiochip*``: the only GPIO devices the agent's systemd unit lets it open. Left to
itself, gpiozero would fall back from a missing lgpio to RPi.GPIO, pigpio and finally its
native driver (``/dev/gpiomem``), each of which fails on the box for another reason, and the
reason that matters (lgpio is not installed) ends up buried in a warning. So liftguard asks
for lgpio by name and reports what stopped it. ``GPIOZERO_PIN_FACTORY`` (``mock`` for trying
the box out on a PC) still chooses another library explicitly.
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from gpiozero import Device
from gpiozero.pins import Factory

PREFERRED = "lgpio"
ENV_VAR = "GPIOZERO_PIN_FACTORY"


@dataclass(frozen=True)
class PinLibrary:
    """The pin library chosen (``factory`` set), or the one wanted and why it cannot be used."""

    name: str
    factory: Factory | None
    detail: str

    @property
    def usable(self) -> bool:
        return self.factory is not None

    def describe(self) -> str:
        if self.usable:
            return f"{self.name} ({self.detail})"
        return f"{self.name} unavailable: {self.detail}"


def open_pin_library(work_dir: Path | None = None) -> PinLibrary:
    """lgpio on the box; the library ``GPIOZERO_PIN_FACTORY`` names when it is set; the one
    this process already gave gpiozero (``Device.pin_factory``) before either.

    ``work_dir`` (the data directory) is where lgpio makes its notification pipes when
    ``LG_WD`` is not set: its C library does that, and chdir()s there, as soon as it is
    imported, and the import fails where it cannot write (an operator's home directory, or
    ``/``, seen from the ``liftguard`` user).
    """
    if Device.pin_factory is not None:
        name = type(Device.pin_factory).__name__.removesuffix("Factory").lower()
        return PinLibrary(name, Device.pin_factory, "already in use in this process")
    requested = os.environ.get(ENV_VAR, "").strip()
    if requested:
        return _requested(requested)
    if "LG_WD" not in os.environ and work_dir is not None and Path(work_dir).is_dir():
        os.environ["LG_WD"] = str(Path(work_dir).resolve())
    cwd = os.getcwd()
    try:
        importlib.import_module(PREFERRED)
    except ImportError as exc:
        return PinLibrary(PREFERRED, None, (
            f"the Python module lgpio is not installed in {sys.prefix} ({exc}); it is a "
            f"liftguard dependency on 64-bit Raspberry Pi OS: rerun scripts/install-pi, or "
            f"{sys.prefix}/bin/pip install lgpio"))
    except OSError as exc:
        return PinLibrary(PREFERRED, None, (
            f"lgpio could not make its notification pipe in "
            f"{os.environ.get('LG_WD', os.getcwd())} ({exc}): set LG_WD to a directory this "
            f"user can write (the unit uses /var/lib/liftguard)"))
    finally:
        os.chdir(cwd)   # relative paths in the config keep meaning what they meant
    from gpiozero.pins.lgpio import LGPIOFactory
    chip = header_chip()
    try:
        factory = LGPIOFactory(chip=chip)
    except Exception as exc:  # lgpio.error, OSError: no such chip, or no permission
        return PinLibrary(PREFERRED, None, (
            f"lgpio could not open /dev/gpiochip{chip}: {exc}; is this a Raspberry Pi, and "
            f"is the user in group gpio?"))
    return PinLibrary(PREFERRED, factory, f"/dev/gpiochip{chip}")


def header_chip(dev: str = "/dev") -> int:
    """The GPIO chip of the 40-pin header: gpiochip4 on a Pi 5 with a kernel before 6.6.45
    (newer kernels keep a gpiochip4 link to gpiochip0), gpiochip0 on every other Pi.

    gpiozero decides the same from the board revision, which it reads from /proc; deciding
    from /dev keeps the choice free of it.
    """
    return 4 if os.path.exists(os.path.join(dev, "gpiochip4")) else 0


def _requested(name: str) -> PinLibrary:
    """The factory registered under gpiozero's entry-point group, as gpiozero resolves it."""
    found = [ep for ep in entry_points(group="gpiozero_pin_factories")
             if ep.name in (name, name.lower())]
    if not found:
        return PinLibrary(name, None, f"{ENV_VAR}={name} names no gpiozero pin library")
    try:
        factory = found[0].load()()
    except Exception as exc:
        return PinLibrary(name, None, f"{ENV_VAR}={name}: {exc}")
    return PinLibrary(found[0].name, factory, f"chosen by {ENV_VAR}")
