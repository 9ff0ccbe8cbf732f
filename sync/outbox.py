"""What the sync code needs from a box's outbox, as a Protocol (``sync`` never imports
``edge_agent``; ``edge_agent.store.LocalStore`` satisfies it), plus an in-memory outbox for
simulated boxes in benchmarks.

Contract: ``pending(limit)`` returns the oldest entries first, each with the row's current
content (``payload`` None when the row is gone: ack it, nothing to send); ``ack(ids)`` deletes
exactly those entries and is called only once PostgreSQL holds their rows.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterable, Protocol


class OutboxEntry(Protocol):
    """Shape of one pending entry (``edge_agent.store.OutboxItem`` has these attributes)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def row_id(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def payload(self) -> dict[str, Any] | None: ...


class Outbox(Protocol):
    def pending(self, limit: int = 100) -> list[OutboxEntry]: ...
    def ack(self, ids: Iterable[int]) -> int: ...
    def mark_failed(self, ids: Iterable[int], error: str) -> None: ...
    def backlog(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class MemoryEntry:
    id: int
    kind: str
    row_id: str
    payload: dict[str, Any] | None
    attempts: int = 0
    last_error: str | None = None


class MemoryOutbox:
    """A thread-safe in-memory ``Outbox`` (simulated boxes; not durable)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, MemoryEntry] = {}
        self._next_id = 1

    def add(self, kind: str, row: dict[str, Any]) -> int:
        with self._lock:
            entry_id = self._next_id
            self._next_id += 1
            self._entries[entry_id] = MemoryEntry(entry_id, kind, str(row["id"]), row)
            return entry_id

    def pending(self, limit: int = 100) -> list[MemoryEntry]:
        with self._lock:
            return [self._entries[i] for i in sorted(self._entries)[:limit]]

    def ack(self, ids: Iterable[int]) -> int:
        with self._lock:
            return sum(self._entries.pop(i, None) is not None for i in ids)

    def mark_failed(self, ids: Iterable[int], error: str) -> None:
        with self._lock:
            for i in ids:
                e = self._entries.get(i)
                if e is not None:
                    self._entries[i] = MemoryEntry(e.id, e.kind, e.row_id, e.payload,
                                                   e.attempts + 1, error)

    def backlog(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for e in self._entries.values():
                counts[e.kind] = counts.get(e.kind, 0) + 1
            return dict(sorted(counts.items()))
