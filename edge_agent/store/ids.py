"""Time-ordered UUIDs made on the box (RFC 9562 version 7).

Python 3.11 has no ``uuid.uuid7``. Layout: 48-bit Unix time in ms, version 7, a 12-bit
counter in ``rand_a`` (RFC 9562 §6.2 method 1) so that ids made in the same millisecond still
sort in creation order, the variant bits, then 62 random bits. Ids sort as text in creation
order within one process, which is what paging by ``after_id`` relies on.
"""
from __future__ import annotations

import os
import threading
import time
import uuid

_COUNTER_MAX = 0xFFF
_lock = threading.Lock()
_last_ms = -1
_counter = 0


def _next_timestamp_and_counter(now_ms: int) -> tuple[int, int]:
    global _last_ms, _counter
    with _lock:
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Random start in the lower half leaves room for >2048 ids in one millisecond.
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:
                # Counter exhausted, or the wall clock stepped back: borrow the next ms.
                _last_ms += 1
                _counter = 0
        return _last_ms, _counter


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A new version-7 UUID; ``now_ms`` (Unix ms) only for tests."""
    ms, counter = _next_timestamp_and_counter(time.time_ns() // 1_000_000 if now_ms is None
                                               else now_ms)
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def new_id() -> str:
    """A new UUIDv7 as the canonical lowercase text stored in every id column."""
    return str(uuid7())


def uuid7_unix_ms(value: uuid.UUID | str) -> int:
    """The Unix time in ms embedded in a version-7 UUID."""
    u = value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    if u.version != 7:
        raise ValueError(f"{u} is not a version-7 UUID (version {u.version})")
    return u.int >> 80
