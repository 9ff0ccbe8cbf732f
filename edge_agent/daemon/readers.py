"""One thread per source: polls it, pushes frames into its ring, reports sensor faults.

A source's ``poll()`` never raises for hardware trouble (it counts, retries and sets
``health.state``); the reader turns a change to ``disconnected``/``degraded`` or a new burst of
errors into one ``on_fault`` call, and a return to ``running`` into ``on_recovered``.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from edge_agent.daemon.ring import FrameRing
from sensors.errors import SensorError
from sensors.source import FrameSource

log = logging.getLogger(__name__)

FAULT_STATES = ("disconnected", "degraded")
ERROR_BURST_QUIET_S = 2.0
"""Errors after this long without any count as a new fault."""
OPEN_RETRY_S = (1.0, 30.0)
"""A source that could not be opened is tried again after 1 s, doubling up to 30 s."""


class SourceReader:
    def __init__(self, source: FrameSource, ring: FrameRing, *, poll_interval_s: float,
                 on_frames: Callable[[], None],
                 on_fault: Callable[[str, str], None],
                 on_recovered: Callable[[str], None] = lambda name: None) -> None:
        self.source = source
        self.ring = ring
        self.poll_interval_s = poll_interval_s
        self._on_frames = on_frames
        self._on_fault = on_fault
        self._on_recovered = on_recovered
        self._stop = threading.Event()
        self.finished = threading.Event()
        self.faults = 0
        self._in_fault = False
        self._errors_seen = 0
        self._last_error_t = 0.0
        self._opened = False
        self._open_attempts = 0
        self._open_retry_at = 0.0
        self._thread = threading.Thread(target=self._run, name=f"reader-{source.name}",
                                        daemon=True)

    @property
    def name(self) -> str:
        return self.source.name

    def start(self) -> None:
        """Start the thread, which opens the source. A source that cannot be opened now (a
        missing device, a loose cable at boot) is a fault, retried with backoff, not a reason
        for the daemon to stop: it runs on the sensors that work."""
        self._opened = self._try_open(attempt=1)
        self._thread.start()

    def _try_open(self, attempt: int) -> bool:
        try:
            self.source.start()
        except SensorError as exc:
            h = self.source.health
            h.errors += 1
            h.state, h.last_error = "disconnected", str(exc)
            self._open_attempts = attempt
            delay = min(OPEN_RETRY_S[0] * 2 ** (attempt - 1), OPEN_RETRY_S[1])
            self._open_retry_at = time.monotonic() + delay
            log.log(logging.ERROR if attempt == 1 else logging.DEBUG,
                    "%s: %s; running without it, trying again every %.0f s at most",
                    self.name, exc, OPEN_RETRY_S[1])
            return False
        if attempt > 1:
            log.info("%s: opened after %d attempts", self.name, attempt)
        return True

    @property
    def died(self) -> bool:
        """The thread ran and ended although its source did not finish and no stop came."""
        return (self._thread.ident is not None and not self._thread.is_alive()
                and not self.finished.is_set() and not self._stop.is_set())

    def status(self, rate_hz: float | None) -> dict[str, Any]:
        """This reader's report for ``/status``: its source's health, faults and ring."""
        return {**self.source.health.as_dict(), "faults": self.faults,
                "ring_frames": len(self.ring), "ring_overwritten": self.ring.overwritten,
                "rate_hz": rate_hz}

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self.source.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._step():
                    return
            except Exception as exc:  # e.g. a fault callback; keep reading
                self.source.health.errors += 1
                self.source.health.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s: reader step failed; going on", self.name)
                self._stop.wait(self.poll_interval_s)

    def _step(self) -> bool:
        """One poll; False when the source is exhausted (the thread ends)."""
        if not self._opened:
            if time.monotonic() >= self._open_retry_at:
                self._opened = self._try_open(self._open_attempts + 1)
            self._check_health()
            self._stop.wait(self.poll_interval_s)
            return True
        try:
            frames = self.source.poll()
        except Exception as exc:  # a bug in a source must not end the session
            self.source.health.errors += 1
            self.source.health.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("%s: poll failed; retrying", self.name)
            frames = []
        if frames:
            self.ring.push(frames, time.monotonic_ns())
            self._on_frames()
        self._check_health()
        if self.source.exhausted:
            log.info("%s: source finished (no more frames)", self.name)
            self.finished.set()
            self._on_frames()
            return False
        self._stop.wait(self.poll_interval_s)
        return True

    def _check_health(self) -> None:
        h = self.source.health
        now = time.monotonic()
        new_errors = h.errors > self._errors_seen
        burst = new_errors and now - self._last_error_t > ERROR_BURST_QUIET_S
        if new_errors:
            self._errors_seen = h.errors
            self._last_error_t = now
        faulty = h.state in FAULT_STATES
        if (faulty and not self._in_fault) or (burst and not self._in_fault):
            self._in_fault = True
            self.faults += 1
            self._on_fault(self.name, h.last_error or h.state)
        elif self._in_fault and not faulty and now - self._last_error_t > ERROR_BURST_QUIET_S:
            self._in_fault = False
            self._on_recovered(self.name)
