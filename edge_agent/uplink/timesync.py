"""Is the wall clock NTP-synchronised? And, once it is, correct what was recorded before.

A Raspberry Pi has no real-time clock. Samples are ordered by the monotonic clock; the wall
clock is metadata whose quality each session records at its start (``wall_clock_synced``,
``mono_to_wall_offset_s``). ``ClockWatch.check()`` (called every few seconds off the
real-time path) notices when synchronisation arrives and has the store recompute the wall
times of the sessions recorded before it (``LocalStore.correct_wall_clock``).

How synchronisation is probed, first answer wins:

1. ``adjtimex(2)`` with ``modes = 0`` (read-only) through ``ctypes``: synchronised when the
   kernel's ``STA_UNSYNC`` status bit is clear. Under the hardened unit ``ProtectClock=yes``
   filters this call (EPERM), so:
2. ``timedatectl show -p NTPSynchronized --value`` (systemd-timedated over D-Bus);
3. the flag file ``/run/systemd/timesync/synchronized`` that systemd-timesyncd touches.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Protocol

log = logging.getLogger(__name__)

STA_UNSYNC = 0x0040
TIME_ERROR = 5
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
TIMEDATECTL_TIMEOUT_S = 2.0


class _Timex(ctypes.Structure):
    # struct timex (linux/timex.h): 4 ints/longs, then fields we do not read, padded.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("rest", ctypes.c_byte * 256)]


def adjtimex_synchronized() -> bool | None:
    """The kernel's view (None when the call is unavailable or filtered)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


def timedatectl_synchronized() -> bool | None:
    exe = shutil.which("timedatectl")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "show", "-p", "NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=TIMEDATECTL_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value) if out.returncode == 0 else None


def flag_file_synchronized(path: Path = TIMESYNCD_FLAG) -> bool:
    return path.exists()


PROBES: tuple[Callable[[], bool | None], ...] = (adjtimex_synchronized,
                                                 timedatectl_synchronized,
                                                 flag_file_synchronized)


def wall_clock_synchronized(probes: tuple[Callable[[], bool | None], ...] = PROBES) -> bool:
    """Whether the wall clock is NTP-synchronised, by the first probe that can tell."""
    for probe in probes:
        answer = probe()
        if answer is not None:
            return answer
    return False


class _CorrectableStore(Protocol):
    def correct_wall_clock(self, new_offset_s: float) -> list: ...


class ClockWatch:
    """Tracks synchronisation; while synchronised, corrects any session recorded before it."""

    def __init__(self, store: _CorrectableStore,
                 synchronized: Callable[[], bool] = wall_clock_synchronized,
                 offset_s: Callable[[], float] = lambda: time.time() - time.monotonic_ns() / 1e9
                 ) -> None:
        self._store = store
        self._synchronized = synchronized
        self._offset_s = offset_s
        self.synced: bool | None = None
        self.corrected_sessions = 0

    def check(self) -> bool:
        """Probe once; correct stored sessions when synchronised. Returns the sync state."""
        synced = bool(self._synchronized())
        if synced != self.synced:
            if synced:
                log.info("wall clock is NTP-synchronised%s", "" if self.synced is None else
                         " now; correcting sessions recorded before")
            else:
                log.warning("wall clock is NOT NTP-synchronised (no RTC on this box): sessions "
                            "are stamped by the monotonic clock and corrected once NTP answers")
            self.synced = synced
        if synced:
            self.corrected_sessions += len(self._store.correct_wall_clock(self._offset_s()))
        return synced
