"""The daemon's long-lived threads: which are alive, and a wrapper that keeps one going.

Each worker catches what it did not expect around its own unit of work (a store tick, a
session job, a real-time step) and goes on. ``ThreadWatch`` is the last line: ``/status``
lists every watched thread, and ``liftguard run`` exits non-zero as soon as one has died, so
that systemd (``Restart=on-failure``) restarts the daemon instead of it running on without,
say, its store writer.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 60.0)
"""A supervised target that raised is started again after 1 s, doubling up to 60 s."""


class ThreadWatch:
    def __init__(self) -> None:
        self._alive: dict[str, Callable[[], bool]] = {}

    def watch(self, name: str, is_alive: Callable[[], bool]) -> None:
        """``is_alive()`` is False only when the thread died (a finished source is alive)."""
        self._alive[name] = is_alive

    def status(self) -> dict[str, bool]:
        return {name: bool(alive()) for name, alive in self._alive.items()}

    def dead(self) -> list[str]:
        return [name for name, alive in self.status().items() if not alive]


class Supervised:
    """Run ``target(stop)`` until ``stop`` is set, starting it again (with backoff) whenever
    it raises; ``restarts`` and ``last_error`` say how often and why."""

    def __init__(self, name: str, target: Callable[[threading.Event], None],
                 stop: threading.Event) -> None:
        self.name = name
        self._target = target
        self._stop = stop
        self.restarts = 0
        self.last_error: str | None = None

    def __call__(self) -> None:
        delay = RESTART_BACKOFF_S[0]
        while not self._stop.is_set():
            try:
                self._target(self._stop)
                return
            except Exception as exc:  # the thread outlives its target
                self.restarts += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("%s stopped on an unexpected error; starting it again in %.0f s "
                              "(%d restarts so far)", self.name, delay, self.restarts)
            self._stop.wait(delay)
            delay = min(delay * 2, RESTART_BACKOFF_S[1])
