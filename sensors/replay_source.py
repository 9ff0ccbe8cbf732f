"""``ReplaySource``: a recording CSV played back as a ``FrameSource``.

``FramePlayer`` (the pacing shared with the simulator) hands out a finished list of frames
either as fast as asked or in step with a clock.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from sensors.clock import SYSTEM_CLOCK, Clock
from sensors.frame import Frame
from sensors.recording import Recording, read_recording
from sensors.source import FrameSource

log = logging.getLogger(__name__)

FAST_CHUNK_NS = 100_000_000
"""Unpaced mode: each poll returns the next 100 ms (stream time) of frames."""


class FramePlayer:
    """Plays sorted frames: ``realtime`` paces them on ``clock`` from ``begin()``; otherwise each
    ``take()`` returns the next 100 ms of frames at once. ``restamp`` re-times frames onto the
    clock (first frame = the clock at ``begin()``) instead of keeping their own timestamps."""

    def __init__(self, frames: Sequence[Frame], *, realtime: bool, restamp: bool,
                 clock: Clock) -> None:
        self.frames, self.realtime, self.restamp, self.clock = frames, realtime, restamp, clock
        self.next = 0
        self.offset_ns = 0
        self.wall_offset_s = 0.0

    def begin(self) -> None:
        self.next = 0
        if self.frames:
            self.offset_ns = self.clock.mono_ns() - self.frames[0].mono_ns
            self.wall_offset_s = self.clock.wall_s() - self.frames[0].wall_s

    def take(self) -> list[Frame]:
        frames = self.frames
        if self.next >= len(frames):
            return []
        if self.realtime:
            until = self.clock.mono_ns() - self.offset_ns
        else:
            until = frames[self.next].mono_ns + FAST_CHUNK_NS - 1
        end = self.next
        while end < len(frames) and frames[end].mono_ns <= until:
            end += 1
        out = list(frames[self.next:end])
        self.next = end
        if self.restamp and (self.offset_ns or self.wall_offset_s):
            out = [f._replace(mono_ns=f.mono_ns + self.offset_ns,
                              wall_s=f.wall_s + self.wall_offset_s) for f in out]
        return out

    @property
    def done(self) -> bool:
        return self.next >= len(self.frames)


class PlayedSource(FrameSource):
    """A source whose frames exist in full before playback (a recording, a simulated set)."""

    def __init__(self, *, realtime: bool, clock: Clock | None) -> None:
        super().__init__()
        self.realtime = realtime
        self.clock = clock or SYSTEM_CLOCK
        self._player: FramePlayer | None = None

    def _play(self, frames: Sequence[Frame], *, restamp: bool) -> None:
        self._player = FramePlayer(frames, realtime=self.realtime, restamp=restamp,
                                   clock=self.clock)
        self._player.begin()
        self.health.state = "running"

    def poll(self) -> list[Frame]:
        if self._player is None:
            return []
        out = self._player.take()
        self.health.frames += len(out)
        if self._player.done:
            self.health.state = "finished"
        return out

    @property
    def exhausted(self) -> bool:
        return self._player is not None and self._player.done


class ReplaySource(PlayedSource):
    """Plays a recording's frames (all its sources) in order, paced or unpaced.

    With ``restamp=True`` frames get fresh timestamps on the clock, as a live source's would;
    by default they keep the recording's own ``mono_ns``/``wall_s``. ``start()`` raises
    ``RecordingError`` for a bad file: a bad input, not a sensor fault to retry.
    """

    name = "replay"

    def __init__(self, path: str | os.PathLike[str], *, realtime: bool = False,
                 restamp: bool = False, clock: Clock | None = None) -> None:
        super().__init__(realtime=realtime, clock=clock)
        self.path = Path(path)
        self.restamp = restamp
        self.recording: Recording | None = None
        self.channels: tuple[str, ...] = ()

    def start(self) -> None:
        self.recording = read_recording(self.path)
        self.channels = self.recording.channels
        self._play(self.recording.frames, restamp=self.restamp)
        log.info("replay: %s, %d frames of %s over %.1f s, %s", self.path,
                 len(self.recording.frames), "+".join(self.recording.sources),
                 self.recording.duration_s, "paced in real time" if self.realtime else "unpaced")

