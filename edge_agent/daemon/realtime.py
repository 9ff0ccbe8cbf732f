"""The real-time loop: frames in, a decision every hop, feedback at once.

``handle(frames, arrival_ns)`` is the single entry point, used alike by the live driver (reader
threads wake it) and the lockstep driver (replay as fast as possible, benchmarks). Frames are
processed in monotonic-time order; each time they cross a hop boundary (``hop_s`` after the
previous one) one decision is made on the window ending there, so decisions follow sensor
time and a replay gives the same decisions at any speed.

Per hop: queue the new frames of the active session to the store (memory only), feed the bar
IMU to the incremental rep segmenter, score the latest ``window_s``, hand the score to the
feedback dispatcher (non-blocking). A finished rep is handed to the session worker, which
analyses it off the real-time path. Nothing here waits on disk, network or a sensor.
"""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from edge_agent.daemon.recent import RecentRows, rows
from edge_agent.daemon.scoring import Score, Scorer, Window
from edge_agent.feedback import FeedbackDispatcher, Verdict
from models import RepSegmenter
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame

if TYPE_CHECKING:
    from edge_agent.daemon.sessions import SessionManager

log = logging.getLogger(__name__)

IMU, PLATFORM = "imu", "platform"
REP_CONTEXT_S = 8.0
"""Frames kept for the analysis of a finished rep (the rep plus the rest before it)."""
REP_TAIL_S = 0.6
"""A finished rep goes to its analysis once this much data after its end has come in: the
offline segmenter that re-finds it in its context needs the rest after lockout, which the live
segmenter confirms after 0.15 s (with 0.3 s it missed one rep in three; the velocity-loss cue
needs every rep's velocity)."""
MOTION_ACCEL_STD_MPS2 = 0.5
MOTION_GYRO_RADPS = 0.3
LATENCY_SAMPLES = 4096
SEGMENTER_RATE_HZ = 100.0
SEGMENTER_BLOCK_S = 0.3
"""The segmenter is fed in blocks of this much bar-IMU data (its cost is per call, and a rep is
only confirmed 0.15 s after the bar rests anyway): rep feedback comes at most this much later."""


@dataclass
class AutoSession:
    """Automatic start (load on the platform plus bar motion) and idle end; 0 disables."""

    start: bool = False
    lift: str = "squat"
    load_n: float = 300.0
    idle_end_s: float = 0.0


@dataclass
class Alert:
    at_ns: int               # sensor time of the decision
    reason: str | None
    session_id: str | None
    rep: int | None = None   # the rep it happened in, set once that rep is segmented


@dataclass(frozen=True)
class LiveRep:
    """A rep as the live segmenter found it (sensor times)."""

    session_id: str
    number: int
    start_ns: int
    end_ns: int


class RealtimeLoop:
    def __init__(self, *, dispatcher: FeedbackDispatcher, scorer: Scorer,
                 sessions: "SessionManager", hop_s: float = 0.1, window_s: float = 1.0,
                 auto: AutoSession | None = None,
                 on_alert: Callable[[Alert], None] = lambda alert: None) -> None:
        self.dispatcher = dispatcher
        self.scorer = scorer
        self.sessions = sessions
        self.hop_ns = int(round(hop_s * 1e9))
        self.window_ns = int(round(window_s * 1e9))
        self.auto = auto or AutoSession()
        self._on_alert = on_alert
        keep_ns = max(self.window_ns, int(REP_CONTEXT_S * 1e9))
        self._keep_ns = keep_ns
        self._recent: collections.deque[Frame] = collections.deque()
        self._rows = {IMU: RecentRows(IMU_CHANNELS, self.window_ns),
                      PLATFORM: RecentRows(PLATFORM_CHANNELS, self.window_ns)}
        self._next_hop_ns: int | None = None
        self._session_id: str | None = None
        self._segmenter: RepSegmenter | None = None
        self._segment_t0_ns: int | None = None
        self._decimation = 1
        self._carry: np.ndarray | None = None
        self._pending: list[Frame] = []
        self._finished_reps: list[tuple[str | None, int, int]] = []  # waiting for their tail
        self._imu_rate_hz: float | None = None
        self._last_motion_ns: int | None = None
        self.first_frame_ns: int | None = None
        self.last_frame_ns: int | None = None
        self.frames_in = 0
        self.decisions = 0
        self.unscored = 0
        self.store_drops = 0
        self.latencies_ns: collections.deque[int] = collections.deque(maxlen=LATENCY_SAMPLES)
        self.alerts: collections.deque[Alert] = collections.deque(maxlen=1000)
        self.reps: collections.deque[LiveRep] = collections.deque(maxlen=1000)
        self.last_score: Score | None = None

    # ---- entry point ------------------------------------------------------------------

    def handle(self, frames: list[Frame], arrival_ns: int) -> None:
        """Process frames (any sources, any order) that arrived by ``arrival_ns``."""
        if not frames:
            return
        frames.sort(key=lambda f: f.mono_ns)
        if self._next_hop_ns is None:
            self.first_frame_ns = frames[0].mono_ns
            self._next_hop_ns = frames[0].mono_ns + self.hop_ns
        start = 0
        while start < len(frames):
            end = start
            while end < len(frames) and frames[end].mono_ns <= self._next_hop_ns:
                end += 1
            self._ingest(frames[start:end])
            if end == len(frames):
                break
            self._decide(self._next_hop_ns, arrival_ns)
            self._next_hop_ns += self.hop_ns * max(1, (frames[end].mono_ns - self._next_hop_ns)
                                                   // self.hop_ns)
            start = end
        if frames[-1].mono_ns >= self._next_hop_ns:
            self._decide(self._next_hop_ns, arrival_ns)
            self._next_hop_ns += self.hop_ns

    # ---- per hop ----------------------------------------------------------------------

    def _ingest(self, frames: list[Frame]) -> None:
        """Memory only: the recent-frames deque and what the next hop hands on."""
        if not frames:
            return
        self.frames_in += len(frames)
        self.last_frame_ns = frames[-1].mono_ns
        self._recent.extend(frames)
        self._pending.extend(frames)
        for source, buffer in self._rows.items():
            buffer.extend([f for f in frames if f.source == source])
        horizon = frames[-1].mono_ns - self._keep_ns
        while self._recent and self._recent[0].mono_ns < horizon:
            self._recent.popleft()

    def _hand_on(self, session_id: str | None) -> None:
        """Once per hop: the hop's frames to the store for ``session_id`` (the session active
        while they came in; memory queue) and the bar IMU to the rep segmenter, decimated to
        about ``SEGMENTER_RATE_HZ``."""
        frames, self._pending = self._pending, []
        if session_id is None or not frames:
            return
        if not self.sessions.store.submit_frames(session_id, frames):
            self.store_drops += len(frames)
        self.sessions.frames_recorded(session_id, frames)
        imu = [f for f in frames if f.source == IMU]
        if session_id != self._session_id or not imu or not self._ensure_segmenter():
            return
        if self._segment_t0_ns is None:
            self._segment_t0_ns = imu[0].mono_ns
        block = rows(imu, IMU_CHANNELS)
        if self._carry is not None:
            block = np.vstack([self._carry, block])
        k = self._decimation
        if block.shape[0] < k * SEGMENTER_BLOCK_S * SEGMENTER_RATE_HZ:
            self._carry = block
            return
        n = block.shape[0] // k * k
        self._carry = block[n:] if n < block.shape[0] else None
        block = block[:n].reshape(-1, k, block.shape[1]).mean(axis=1)
        for rep in self._segmenter.feed(block[:, :3], block[:, 3:6]):
            self._rep_finished(rep)
        self._release_reps()

    def _release_reps(self, all_of_them: bool = False) -> None:
        """Hand finished reps to the session worker once their tail has come in."""
        tail_ns = int(REP_TAIL_S * 1e9)
        ready = [r for r in self._finished_reps
                 if all_of_them or r[0] != self._session_id
                 or (self.last_frame_ns or 0) >= r[2] + tail_ns]
        if not ready:
            return
        self._finished_reps = [r for r in self._finished_reps if r not in ready]
        recent = list(self._recent)
        for session_id, number, end_ns in ready:
            self.sessions.rep_detected(session_id, number, recent, end_ns)

    def _decide(self, end_ns: int, arrival_ns: int) -> None:
        """Feedback first; storage and rep segmentation of the hop's frames after it."""
        previous = self._session_id
        self._follow_session()
        window = self._window(end_ns)
        if self.auto.start or self.auto.idle_end_s > 0:
            moving = self._bar_moving(window)
            if moving:
                self._last_motion_ns = end_ns
            self._auto_session(window, moving, end_ns)
        score = self.scorer.score(window)
        self.last_score = score
        self.decisions += 1
        if score.probability != score.probability:  # NaN
            self.unscored += 1
        if self._session_id is not None:
            verdict = self.dispatcher.on_decision(score.probability, end_ns)
            self.latencies_ns.append(time.monotonic_ns() - arrival_ns)
            if verdict is Verdict.ALERT:
                self._alert(Alert(end_ns, score.reason, self._session_id))
        else:
            self.latencies_ns.append(time.monotonic_ns() - arrival_ns)
        self._hand_on(previous if previous is not None else self._session_id)

    def discard_pending(self) -> int:
        """After a failed step: drop the frames not yet handed on and restart rep segmentation
        (its state may be what failed), so that one bad frame is not met again every hop.
        Returns how many frames were dropped."""
        dropped, self._pending = len(self._pending), []
        self._segmenter, self._carry = None, None
        return dropped

    def finish(self) -> None:
        """Hand on the frames that came after the last hop boundary (before ending a session
        or stopping)."""
        previous = self._session_id
        self._follow_session()
        self._hand_on(previous if previous is not None else self._session_id)
        self._release_reps(all_of_them=True)

    def _window(self, end_ns: int) -> Window:
        start = end_ns - self.window_ns
        imu, imu_t = self._rows[IMU].window(start, end_ns)
        plat, plat_t = self._rows[PLATFORM].window(start, end_ns)
        frames: list[Frame] = []
        if self.scorer.needs_frames:
            frames = [f for f in self._recent if start < f.mono_ns <= end_ns]
        return Window(end_ns, imu, imu_t, plat, plat_t, frames)

    # ---- sessions ---------------------------------------------------------------------

    def _follow_session(self) -> None:
        """Pick up a session started or ended elsewhere (API, button, auto)."""
        active = self.sessions.active_id
        if active == self._session_id:
            return
        self._session_id = active
        self._segmenter = None
        self.scorer.reset()
        self._last_motion_ns = self.last_frame_ns

    def _ensure_segmenter(self) -> bool:
        if self._segmenter is not None:
            return True
        if self._imu_rate_hz is None:
            t = [f.mono_ns for f in self._recent if f.source == IMU][-50:]
            if len(t) < 10:
                return False
            self._imu_rate_hz = 1e9 / float(np.median(np.diff(t)))
        lift = self.sessions.active_lift or "squat"
        self._decimation = max(1, int(round(self._imu_rate_hz / SEGMENTER_RATE_HZ)))
        self._segmenter = RepSegmenter(lift, self._imu_rate_hz / self._decimation)
        self._segment_t0_ns = None
        self._carry = None
        return True

    def _rep_finished(self, rep: Any) -> None:
        rate = (self._imu_rate_hz or 1.0) / self._decimation
        t0 = self._segment_t0_ns or 0
        start_ns, end_ns = t0 + int(rep.start * 1e9 / rate), t0 + int(rep.end * 1e9 / rate)
        if self._session_id is not None:
            self.reps.append(LiveRep(self._session_id, rep.number, start_ns, end_ns))
            self._attribute_alerts(rep.number, start_ns, end_ns)
        self._finished_reps.append((self._session_id, rep.number, end_ns))

    def _attribute_alerts(self, number: int, start_ns: int, end_ns: int) -> None:
        """Alerts of this session not yet attributed, decided from the rep's start until one
        window after its end (a decision scores the window before it), belong to it."""
        for alert in self.alerts:
            if (alert.session_id == self._session_id and alert.rep is None
                    and start_ns <= alert.at_ns <= end_ns + self.window_ns):
                alert.rep = number

    def _bar_moving(self, window: Window) -> bool:
        imu = window.imu[window.imu_t_ns > window.end_ns - 250_000_000]
        if imu.shape[0] < 3:
            return False
        return (float(np.std(np.linalg.norm(imu[:, :3], axis=1))) > MOTION_ACCEL_STD_MPS2
                or float(np.max(np.linalg.norm(imu[:, 3:], axis=1))) > MOTION_GYRO_RADPS)

    def _auto_session(self, window: Window, moving: bool, now_ns: int) -> None:
        if self._session_id is None and self.auto.start and moving and window.platform.size:
            load = float(window.platform[-8:].sum(axis=1).mean())
            if load >= self.auto.load_n:
                log.info("load on the platform (%.0f N) and the bar moving: starting a session",
                         load)
                self.sessions.try_start(self.auto.lift, reason="auto")
                self._follow_session()
        elif (self._session_id is not None and self.auto.idle_end_s > 0
              and self._last_motion_ns is not None
              and now_ns - self._last_motion_ns > self.auto.idle_end_s * 1e9):
            log.info("no bar motion for %.0f s: ending the session", self.auto.idle_end_s)
            self.sessions.try_end(self._session_id, "idle_timeout")
            self._follow_session()

    def _alert(self, alert: Alert) -> None:
        self.alerts.append(alert)
        self._on_alert(alert)

    # ---- status -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ns, dtype=float) / 1e6
        return {
            "frames_in": self.frames_in,
            "decisions": self.decisions,
            "unscored_decisions": self.unscored,
            "alerts": len(self.alerts),
            "store_frames_dropped": self.store_drops,
            "decision_latency_ms": None if lat.size == 0 else {
                "p50": round(float(np.percentile(lat, 50)), 3),
                "p99": round(float(np.percentile(lat, 99)), 3),
                "max": round(float(lat.max()), 3)},
            "last_score": None if self.last_score is None else {
                "value": None if self.last_score.probability != self.last_score.probability
                else round(self.last_score.probability, 3),
                "reason": self.last_score.reason},
        }
