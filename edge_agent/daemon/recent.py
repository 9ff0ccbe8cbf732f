"""The latest seconds of one source as numpy arrays, converted once when the frames arrive.

Windows overlap (1 s windows every 0.1 s), so converting frames to rows per window would
convert each frame ten times; here each frame is converted once and a window is two binary
searches and a slice.
"""
from __future__ import annotations

import numpy as np

from sensors.frame import Frame

INITIAL_ROWS = 4096


def rows(frames: list[Frame], channels: tuple[str, ...]) -> np.ndarray:
    """Frame values as an (n, len(channels)) array; a missing channel is NaN."""
    if not frames:
        return np.zeros((0, len(channels)))
    if frames[0].channels == channels and frames[-1].channels == channels:
        try:
            return np.asarray([f.values for f in frames], dtype=float).reshape(-1, len(channels))
        except ValueError:
            pass   # frames with other channel sets in between
    return np.asarray([[f.as_dict().get(c, np.nan) for c in channels] for f in frames],
                      dtype=float).reshape(-1, len(channels))


class RecentRows:
    """Rows of one source, oldest first, kept for at least ``keep_ns`` of sensor time."""

    def __init__(self, channels: tuple[str, ...], keep_ns: int) -> None:
        self.channels = channels
        self.keep_ns = keep_ns
        self._t = np.empty(INITIAL_ROWS, np.int64)
        self._x = np.empty((INITIAL_ROWS, len(channels)))
        self._n = 0

    def extend(self, frames: list[Frame]) -> None:
        """Append frames of this source (in time order)."""
        k = len(frames)
        if not k:
            return
        if self._n + k > self._t.size:
            self._make_room(k, frames[-1].mono_ns)
        self._t[self._n:self._n + k] = [f.mono_ns for f in frames]
        self._x[self._n:self._n + k] = rows(frames, self.channels)
        self._n += k

    def _make_room(self, k: int, newest_ns: int) -> None:
        first = int(np.searchsorted(self._t[:self._n], newest_ns - self.keep_ns, "left"))
        kept = self._n - first
        if kept + k > self._t.size:   # faster source than the buffer was sized for: grow
            size = 2 * (kept + k)
            t, x = np.empty(size, np.int64), np.empty((size, self._x.shape[1]))
        else:
            t, x = self._t, self._x
        t[:kept], x[:kept] = self._t[first:self._n], self._x[first:self._n]
        self._t, self._x, self._n = t, x, kept

    def window(self, start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows with ``start_ns < t <= end_ns`` and their times (views: do not keep them)."""
        t = self._t[:self._n]
        i0 = int(np.searchsorted(t, start_ns, "right"))
        i1 = int(np.searchsorted(t, end_ns, "right"))
        return self._x[i0:i1], t[i0:i1]
