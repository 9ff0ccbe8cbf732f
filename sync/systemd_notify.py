"""systemd notifications (``Type=notify``): READY=1, WATCHDOG=1, STATUS=, STOPPING=1.

A few datagrams on the ``$NOTIFY_SOCKET`` AF_UNIX socket, as ``sd_notify(3)`` sends them; no
dependency. Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.

The watchdog is enabled the way ``sd_watchdog_enabled(3)`` decides: ``WATCHDOG_USEC`` set and
``WATCHDOG_PID`` unset or this process. ``watchdog_tick()`` is meant to be called from the
real-time loop on every iteration; it sends WATCHDOG=1 at most every half ``WATCHDOG_USEC``,
so a loop that hangs stops the pings and systemd restarts the service, even though the
process (its other threads) is still alive.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)

STATUS_MAX_CHARS = 200
"""``systemctl status`` shows one line; longer texts are cut."""


def _address(raw: str) -> str:
    return "\0" + raw[1:] if raw.startswith("@") else raw


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification; False when not under systemd or the send failed."""
    raw = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not raw:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(raw))
            sock.sendall(message.encode())
    except OSError as exc:
        log.debug("sd_notify %r failed: %s", message, exc)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None,
                        pid: int | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of ``WATCHDOG_USEC``), None when disabled."""
    env = os.environ if environ is None else environ
    usec, for_pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or not env.get("NOTIFY_SOCKET"):
        return None
    try:
        usec_value = int(usec)
        if for_pid and int(for_pid) != (os.getpid() if pid is None else pid):
            return None
    except ValueError:
        log.warning("ignoring malformed WATCHDOG_USEC=%r / WATCHDOG_PID=%r", usec, for_pid)
        return None
    return usec_value / 2e6 if usec_value > 0 else None


class SystemdNotifier:
    """The daemon's link to systemd; reads the environment once, at construction."""

    def __init__(self, environ: Mapping[str, str] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._env = dict(os.environ if environ is None else environ)
        self._monotonic = monotonic
        self.watchdog_interval_s = watchdog_interval_s(self._env)
        self._next_ping = 0.0
        self.watchdog_pings = 0
        self.last_status: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._env.get("NOTIFY_SOCKET"))

    def send(self, message: str) -> bool:
        return notify(message, self._env)

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def stopping(self) -> None:
        self.send("STOPPING=1\nSTATUS=stopping: ending the active session")

    def status(self, text: str) -> None:
        """A status line for ``systemctl status`` (sent only when it changed)."""
        line = _one_line(text)
        if line != self.last_status and self.send(f"STATUS={line}"):
            self.last_status = line

    def watchdog_tick(self) -> bool:
        """Ping the watchdog if half its interval has passed since the last ping; cheap
        enough for every loop iteration (no syscall when not due). True when it pinged."""
        if self.watchdog_interval_s is None:
            return False
        now = self._monotonic()
        if now < self._next_ping:
            return False
        self._next_ping = now + self.watchdog_interval_s
        if self.send("WATCHDOG=1"):
            self.watchdog_pings += 1
            return True
        return False


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= STATUS_MAX_CHARS else line[:STATUS_MAX_CHARS - 3] + "..."


def operator_status(status: Mapping[str, Any]) -> str:
    """``/status`` condensed for ``systemctl status``, e.g. "session active squat, 4 reps;
    imu 200 Hz, platform 80 Hz; sync backlog 12"."""
    sess = status.get("session")
    if sess:
        reps = (status.get("realtime") or {}).get("reps")
        parts = [f"session active {sess.get('lift_type')}"
                 + (f", {reps} reps" if isinstance(reps, int) else "")]
    else:
        parts = ["no session"]
    rates = []
    for name, src in (status.get("sources") or {}).items():
        rate = src.get("rate_hz")
        rates.append(f"{name} {rate:.0f} Hz" if isinstance(rate, (int, float))
                     else f"{name} {src.get('state', '?')}")
    if rates:
        parts.append(", ".join(rates))
    backlog = status.get("sync_backlog") or {}
    parts.append(f"sync {status.get('sync', 'off')} backlog {sum(backlog.values())}")
    if not status.get("model"):
        parts.append("model: none (rules)")
    if (status.get("disk") or {}).get("raw_capture_paused"):
        parts.append("RAW CAPTURE PAUSED (disk cap)")
    return "; ".join(parts)
