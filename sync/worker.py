"""The sync worker: drains a box's outbox into a sink in batches.

An entry leaves the outbox only after the sink says its row is committed in PostgreSQL (or
kept in ``dead_letters``); a crash anywhere before that only means the row is sent again, and
the upserts absorb the repeat. Failures back off exponentially with full jitter, so a fleet of
boxes coming back after a database outage does not reconnect in lock-step.

The worker's last success and last error are kept in a small JSON state file, so
``liftguard sync status`` (another process) can show them.
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from sync.direct import TransientDbError
from sync.outbox import Outbox, OutboxEntry
from sync.sync_state import SyncState

log = logging.getLogger(__name__)


class Sink(Protocol):
    def send(self, entries: Sequence[OutboxEntry]) -> tuple[list[int], list[int]]:
        """Store entries; returns (outbox ids done, outbox ids deferred)."""


class Backoff:
    """Exponential backoff with full jitter: the n-th delay is uniform in
    [0, min(max_s, base_s * 2**n)]."""

    def __init__(self, base_s: float = 1.0, max_s: float = 300.0,
                 rng: Callable[[], float] = random.random) -> None:
        if not 0 < base_s <= max_s:
            raise ValueError(f"backoff needs 0 < base_s <= max_s, got {base_s}, {max_s}")
        self.base_s, self.max_s, self._rng = base_s, max_s, rng
        self.failures = 0

    def next_delay(self) -> float:
        cap = min(self.max_s, self.base_s * 2 ** min(self.failures, 32))
        self.failures += 1
        return cap * self._rng()

    def reset(self) -> None:
        self.failures = 0


@dataclass
class DrainReport:
    sent: int = 0
    deferred: int = 0
    batches: int = 0
    error: str | None = None
    deferred_ids: set[int] = field(default_factory=set)


class SyncWorker:
    """Drains ``outbox`` into ``sink`` (``DirectSink``), ``batch_size`` entries per
    transaction."""

    def __init__(self, outbox: Outbox, sink: Sink, *, batch_size: int = 200,
                 state_path: str | os.PathLike[str] | None = None,
                 backoff: Backoff | None = None, clock: Callable[[], float] = time.time) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.outbox, self.sink, self.batch_size = outbox, sink, batch_size
        self.state_path = None if state_path is None else Path(state_path)
        self.state = SyncState.load(self.state_path)
        self.backoff = backoff or Backoff()
        self._clock = clock

    def drain_once(self) -> DrainReport:
        """Send batches until the outbox holds only deferred entries (or nothing), or a
        transient error stops the pass (``report.error``)."""
        report = DrainReport()
        sent_since_deferral = 0
        while True:
            entries = [e for e in self.outbox.pending(self.batch_size + len(report.deferred_ids))
                       if e.id not in report.deferred_ids]
            if not entries:
                if report.deferred_ids and sent_since_deferral:
                    # Rows stored since may be the ones the deferred links were waiting for.
                    report.deferred_ids.clear()
                    sent_since_deferral = 0
                    continue
                break
            gone = [e.id for e in entries if e.payload is None]
            live = [e for e in entries if e.payload is not None]
            try:
                done, deferred = self.sink.send(live) if live else ([], [])
            except TransientDbError as exc:
                report.error = str(exc)
                self.outbox.mark_failed([e.id for e in live], str(exc))
                self._failed(str(exc))
                break
            self.outbox.ack(done + gone)
            report.sent += len(done)
            report.batches += 1
            sent_since_deferral = 0 if deferred else sent_since_deferral + len(done)
            report.deferred_ids |= set(deferred)
            report.deferred = len(report.deferred_ids)
            self.state.rows_synced += len(done)
        if report.error is None:
            self.state.last_success = self._clock()
            self.state.consecutive_failures = 0
            self.backoff.reset()
            self.state.save(self.state_path)
            if report.sent:
                log.info("sync: %d rows stored in PostgreSQL in %d batches%s", report.sent,
                         report.batches, f", {report.deferred} waiting for a related row"
                         if report.deferred else "")
        return report

    def _failed(self, error: str) -> None:
        self.state.last_error = error
        self.state.last_error_at = self._clock()
        self.state.consecutive_failures += 1
        self.state.save(self.state_path)

    def run(self, stop: threading.Event, idle_s: float = 5.0) -> None:
        """Drain repeatedly until ``stop`` is set: every ``idle_s`` when healthy, after a
        jittered backoff when PostgreSQL is unreachable."""
        while not stop.is_set():
            report = self.drain_once()
            if report.error is not None:
                delay = self.backoff.next_delay()
                log.warning("sync: %s; %d outbox entries wait, next try in %.1f s",
                            report.error, sum(self.outbox.backlog().values()), delay)
            else:
                delay = idle_s
            stop.wait(delay)

    def status(self) -> dict[str, Any]:
        return {"backlog": self.outbox.backlog(), **self.state.__dict__}
