"""A bounded frame buffer between one reader thread and the real-time loop.

When the loop falls behind, the oldest frames are overwritten (and counted): the loop always
scores the newest data, and the reader never waits.
"""
from __future__ import annotations

import collections
import threading

from sensors.frame import Frame


class FrameRing:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._frames: collections.deque[Frame] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.pushed = 0
        self.overwritten = 0
        self.last_arrival_ns = 0

    def push(self, frames: list[Frame], arrival_ns: int) -> None:
        if not frames:
            return
        with self._lock:
            overflow = len(self._frames) + len(frames) - self.capacity
            if overflow > 0:
                self.overwritten += overflow
            self._frames.extend(frames)
            self.pushed += len(frames)
            self.last_arrival_ns = arrival_ns

    def drain(self) -> tuple[list[Frame], int]:
        """Everything buffered, oldest first, and when its newest frame arrived."""
        with self._lock:
            out = list(self._frames)
            self._frames.clear()
            return out, self.last_arrival_ns

    def __len__(self) -> int:
        return len(self._frames)
