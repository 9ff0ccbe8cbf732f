"""Hold the outbox back while the wall clock is not NTP-synchronised.

A Pi has no real-time clock: until NTP answers, wall-clock times are guesses. ``ClockWatch``
corrects the stored times of such sessions once synchronisation arrives; holding the outbox
until then means they leave the box already corrected. A box whose clock never synchronises
must still deliver its data, so after ``max_hold_s`` the rows go anyway (with a warning); a
later correction re-queues the corrected session rows.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable, Protocol

log = logging.getLogger(__name__)


class _SyncState(Protocol):
    synced: bool | None


class ClockGatedOutbox:
    """An outbox (``pending/ack/mark_failed/backlog``) that yields nothing while the clock is
    known to be unsynchronised, for at most ``max_hold_s`` at a time."""

    def __init__(self, outbox: Any, clock: _SyncState, max_hold_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._outbox = outbox
        self._clock = clock
        self._max_hold_s = max_hold_s
        self._monotonic = monotonic
        self._held_since: float | None = None
        self._released = False

    @property
    def holding(self) -> bool:
        if self._clock.synced is not False:
            self._held_since, self._released = None, False
            return False
        now = self._monotonic()
        if self._held_since is None:
            self._held_since = now
            log.info("sync waits for NTP so that sessions leave the box with corrected "
                     "times (at most %.0f s)", self._max_hold_s)
        if now - self._held_since < self._max_hold_s:
            return True
        if not self._released:
            self._released = True
            log.warning("wall clock still not NTP-synchronised after %.0f s: syncing anyway; "
                        "times are corrected and re-sent when NTP answers", self._max_hold_s)
        return False

    def hold_state(self) -> dict[str, Any]:
        """For ``/status``: whether sync is waiting for NTP now, and for how much longer."""
        holding = self.holding
        remaining = (None if not holding or self._held_since is None
                     else max(0.0, self._max_hold_s - (self._monotonic() - self._held_since)))
        return {"waiting_for_ntp": holding, "hold_unsynced_clock_s": self._max_hold_s,
                "remaining_s": None if remaining is None else round(remaining, 1),
                "gave_up_waiting": self._released}

    def pending(self, limit: int = 100) -> list[Any]:
        return [] if self.holding else self._outbox.pending(limit)

    def ack(self, ids: Iterable[int]) -> int:
        return self._outbox.ack(ids)

    def mark_failed(self, ids: Iterable[int], error: str) -> None:
        self._outbox.mark_failed(ids, error)

    def backlog(self) -> dict[str, int]:
        return self._outbox.backlog()
