"""Does the live rep path report what the offline analysis finds? (tests, eval-rep-accuracy)

:func:`live_reps` plays frames through :class:`RealtimeLoop` and a real
:class:`FeedbackDispatcher` in lockstep, with a one-session stand-in for the session manager
(no store, no per-rep analysis: they do not decide which reps are reported). :func:`agreement`
compares that with :func:`models.analysis.analyze_frames` on the same frames.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Sequence

from edge_agent.daemon.realtime import Alert, LiveRep, RealtimeLoop
from edge_agent.daemon.scoring import Scorer
from edge_agent.feedback import FeedbackDispatcher
from edge_agent.feedback.config import FeedbackConfig
from edge_agent.feedback.console import ConsoleSink
from sensors.frame import Frame

SESSION_ID = "live-agreement"
FEED_FRAMES = 20
REP_MATCH_S = 0.5
"""A live rep matches the offline rep of the same number when both ends are this close."""


class _OneSession:
    """The part of SessionManager the real-time loop uses, for one session of ``lift``."""

    def __init__(self, lift: str, dispatcher: FeedbackDispatcher) -> None:
        self.active_id: str | None = SESSION_ID
        self.active_lift = lift
        self.store = self
        self.dispatcher = dispatcher
        self.lines: list[str] = []

    def submit_frames(self, session_id: str, frames: Sequence[Frame]) -> bool:
        return True

    def frames_recorded(self, session_id: str | None, frames: Sequence[Frame]) -> None:
        pass

    def rep_detected(self, session_id: str | None, number: int, frames: list[Frame],
                     end_ns: int) -> None:
        self.lines.append(self.dispatcher.rep_finished(number))

    def try_start(self, lift: str, reason: str) -> None:
        raise AssertionError("auto sessions are off here")

    try_end = try_start


@dataclass
class LiveResult:
    reps: list[LiveRep]
    alerts: list[Alert]
    lines: list[str]
    first_frame_ns: int


def live_reps(frames: Sequence[Frame], lift: str, scorer: Scorer,
              feedback: FeedbackConfig | None = None) -> LiveResult:
    cfg = feedback or FeedbackConfig.from_section({})
    frames = sorted(frames, key=lambda f: f.mono_ns)
    dispatcher = FeedbackDispatcher(cfg, None, console=ConsoleSink(False, io.StringIO()))
    sessions = _OneSession(lift, dispatcher)
    scorer.reset()
    loop = RealtimeLoop(dispatcher=dispatcher, scorer=scorer, sessions=sessions)  # type: ignore[arg-type]
    try:
        for i in range(0, len(frames), FEED_FRAMES):
            chunk = list(frames[i:i + FEED_FRAMES])
            loop.handle(chunk, chunk[-1].mono_ns)
        loop.finish()
    finally:
        dispatcher.close()
    return LiveResult(list(loop.reps), list(loop.alerts), sessions.lines, frames[0].mono_ns)


@dataclass
class Agreement:
    """One set: live vs offline reps and alert attribution."""

    offline: int
    live: int
    same_reps: bool               # same count, order and numbers, each pair within REP_MATCH_S
    lines_in_order: bool          # one feedback line per rep, in rep order
    alerts: int
    alerts_attributed_right: int  # attributed to the offline rep they fall in (or to none)
    end_errors_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "end_errors_s"}


def agreement(frames: Sequence[Frame], lift: str, scorer: Scorer) -> Agreement:
    from models.analysis import analyze_frames

    frames = list(frames)
    offline = analyze_frames(frames, lift).reps
    live = live_reps(frames, lift, scorer)
    t0 = live.first_frame_ns
    t_offline0 = min(f.mono_ns for f in frames)
    span = [((t_offline0 - t0) / 1e9 + r.start_s, (t_offline0 - t0) / 1e9 + r.end_s)
            for r in offline]
    ends = [((r.end_ns - t0) / 1e9, (r.start_ns - t0) / 1e9) for r in live.reps]
    errors = [abs(e - s[1]) for (e, _), s in zip(ends, span)]
    same = ([r.number for r in live.reps] == [r.number for r in offline]
            and all(abs(st - s[0]) <= REP_MATCH_S and abs(e - s[1]) <= REP_MATCH_S
                    for (e, st), s in zip(ends, span)))
    right = 0
    for alert in live.alerts:
        t = (alert.at_ns - t0) / 1e9
        inside = [k + 1 for k, (a, b) in enumerate(span) if a <= t <= b]
        if inside:
            right += alert.rep == inside[0]
        elif alert.rep is None:
            right += 1
        else:
            a, b = span[alert.rep - 1] if alert.rep <= len(span) else (0.0, -1.0)
            right += a <= t <= b + 1.0   # decided on a window that still covered the rep
    lines = [int(line.split(":")[0].split()[1]) for line in live.lines]
    return Agreement(len(offline), len(live.reps), same, lines == [r.number for r in live.reps],
                     len(live.alerts), right, errors)
