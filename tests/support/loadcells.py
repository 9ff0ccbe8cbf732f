"""A load-cell platform that is not there: true scale and tare, corner forces, a pty serial port."""
from __future__ import annotations

import os
import threading
import time
import tty
from pathlib import Path
from typing import Callable

import numpy as np

from sensors.frame import PLATFORM_CHANNELS
from sensors.geometry import DEFAULT_PLATFORM

TRUE_TARE = np.array([8123.0, -2210.0, 410.0, 15002.0])


TRUE_SCALE = np.array([104.2, 98.7, -101.3, 99.9])  # counts per newton; rl wired swapped


def corner_forces(weight_n: float, x: float, y: float, twist_n: float = 0.0) -> np.ndarray:
    """A statically valid split of a point load over the four corners: bilinear shares (which
    satisfy force and moment balance) plus a self-equilibrated twist, the part equilibrium
    cannot see (it depends on the floor and the platform's stiffness)."""
    hx, hy = DEFAULT_PLATFORM.width_m / 2, DEFAULT_PLATFORM.depth_m / 2
    shares = []
    for channel in PLATFORM_CHANNELS:
        cx, cy = DEFAULT_PLATFORM.corner_xy()[channel]
        shares.append((0.5 + x * cx / (2 * hx * hx)) * (0.5 + y * cy / (2 * hy * hy)))
    twist = twist_n * np.array([1.0, -1.0, -1.0, 1.0])
    return weight_n * np.array(shares) + twist


PERIOD_US = 12_500  # 80 Hz


class PtyPlatform:
    """The microcontroller end of a pty pair, reached through a symlink like /dev/serial/by-id/."""

    def __init__(self, link: Path) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.link = link
        link.symlink_to(os.ttyname(self._slave))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def stream(self, make_frame: Callable[[int], bytes], period_s: float = 0.005) -> None:
        """Keep writing frames in the background (for code that records in real time)."""
        def run() -> None:
            seq = 0
            while not self._stop.is_set():
                self.write(make_frame(seq))
                seq += 1
                time.sleep(period_s)
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def unplug(self, remove_link: bool = True) -> None:
        """Pull the cable: the device end goes away and, by default, so does the by-id link."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for fd in (self.master, self._slave):
            if fd >= 0:
                os.close(fd)
        self.master = self._slave = -1
        if remove_link:
            self.link.unlink(missing_ok=True)
