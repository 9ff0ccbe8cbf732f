"""Session lifecycle: one active session per box, started and ended by the API, the button or
automatically; the analysis of finished reps and ended sessions on a worker thread.

Ending a session (or finding one a crash left open) queues its end-of-session analysis:
``models.analyze_frames`` over the frames the store holds for it, then the summary
``performance_metrics`` row, the summary ``feedback`` text and one ``rep_metrics`` row per rep.
Live per-rep feedback lines are stored as ``feedback`` rows as each rep finishes, and each rep
as a ``live_reps`` row (velocity, velocity loss so far, the problem told), which syncs while
the session records so the web app can follow it.

With a model bundle attached (``attach_scorer``), every finished rep also gets the model's
per-rep decision; a rep the model flags passes its attribution to ``rep_feedback``, so the
text can say what the deviation points to (e.g. a weight shift). When the session's athlete
has a calibrated overlay (``liftguard calibrate athlete``), it is loaded when the session
starts (never on the real-time path) and used by both the per-window and per-rep decisions.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from models import analyze_frames, rep_feedback, set_feedback
from models.feedback_text import attribution_hint
from models.metrics import velocity_loss_pct
from sensors.frame import Frame

from edge_agent.config import LIFT_TYPES
from edge_agent.feedback import FeedbackDispatcher
from edge_agent.store import LocalStore, StoreError

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 10.0
REP_MATCH_NS = 1_000_000_000
_STOP = object()


class SessionError(Exception):
    """A session request that cannot be honoured; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SessionManager:
    def __init__(self, store: LocalStore, dispatcher: FeedbackDispatcher, *,
                 say: Callable[[str], None] = lambda text: None,
                 wall_clock_synced: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self._say = say
        self._wall_synced = wall_clock_synced
        self._lock = threading.Lock()
        self._lift: str | None = None
        self._model: Any = None
        self._overlay_root: Path | None = None
        self._profile: Any = None
        self._earlier_reps: dict[str, list[Any]] = {}
        self._bar_loads: dict[str, float] = {}
        """Bar load (kg) a session was started with (a web app command), recorded per rep."""
        self._jobs: queue.Queue[Any] = queue.Queue(maxsize=256)
        self.analyses_done = 0
        self.reps_analysed = 0
        self.jobs_failed = 0
        self.jobs_dropped = 0
        self.last_job_error: str | None = None
        self.last_summary: dict[str, Any] | None = None
        self.idle = threading.Event()
        self.idle.set()
        self._pending = 0
        self._worker = threading.Thread(target=self._run, name="session-worker", daemon=True)
        self._worker.start()

    # ---- lifecycle ----------------------------------------------------------------------

    @property
    def active_id(self) -> str | None:
        return self.store.active_session_id

    @property
    def active_lift(self) -> str | None:
        return self._lift if self.store.active_session_id else None

    def start(self, lift_type: str, athlete: str | None = None, trainer: str | None = None,
              *, reason: str = "api", session_id: str | None = None,
              bar_load_kg: float | None = None) -> str:
        if lift_type not in LIFT_TYPES:
            raise SessionError(422, f"lift_type {lift_type!r} is not one of "
                                    f"{', '.join(LIFT_TYPES)}")
        with self._lock:
            active = self.store.active_session_id
            if active is not None:
                raise SessionError(409, f"session {active} is still active; end it first "
                                        f"(one active session per box)")
            self._profile = self._load_overlay(athlete, lift_type)
            session_id = self.store.start_session(lift_type, athlete, trainer,
                                                  wall_clock_synced=self._wall_synced(),
                                                  session_id=session_id)
            self._lift = lift_type
            if bar_load_kg is not None:
                self._bar_loads[session_id] = float(bar_load_kg)
        log.info("session %s started (%s, %s, by %s%s)", session_id, lift_type,
                 athlete or "no athlete given", reason,
                 "" if bar_load_kg is None else f", bar {bar_load_kg:g} kg")
        self.dispatcher.session_started()
        return session_id

    # ---- model and athlete overlays -------------------------------------------------------

    def attach_scorer(self, scorer: Any, data_dir: Path) -> None:
        """Use the scorer's model (if it has one) for per-rep decisions, and hand it the active
        session's athlete overlay (from ``<data_dir>/athletes``) at each session change."""
        self._model = getattr(scorer, "model", None)
        if self._model is not None:
            self._overlay_root = Path(data_dir) / "athletes"
            scorer.profile_for = lambda: self._profile

    def _load_overlay(self, athlete: str | None, lift: str) -> Any:
        if self._model is None or not athlete or self._overlay_root is None:
            return None
        from models.anomaly.overlay import OverlayError, load_overlay, overlay_dir

        directory = overlay_dir(self._overlay_root, athlete, lift)
        if not directory.exists():
            return None
        try:
            profile = load_overlay(directory, self._model)
        except OverlayError as exc:
            log.warning("athlete overlay not used, scoring against the population norm: %s", exc)
            return None
        log.info("using %s's calibrated %s overlay (%s)", athlete, lift, directory)
        return profile

    def _model_attributions(self, frames: Sequence[Frame], reps: Sequence[Any]) -> list[Any]:
        """Per rep: the model's attribution when it flags the rep, else None."""
        if self._model is None:
            return [None] * len(reps)
        from models.anomaly.segments import flagged_attribution, rep_decisions

        return [flagged_attribution(d) for d in rep_decisions(self._model, frames, reps, self._profile)]

    def end(self, session_id: str | None = None, reason: str = "api") -> str:
        with self._lock:
            active = self.store.active_session_id
            if active is None or (session_id is not None and session_id != active):
                raise SessionError(409, f"session {session_id or ''} is not active".replace("  ", " "))
            lift = self._lift or "squat"
            self.store.end_session(active, reason)
        log.info("session %s ended (%s); analysing it", active, reason)
        self.dispatcher.session_ended()
        self._queue(("analyse", active, lift))
        return active

    def try_start(self, lift_type: str, reason: str) -> str | None:
        try:
            return self.start(lift_type, reason=reason)
        except SessionError as exc:
            log.warning("could not start a session (%s): %s", reason, exc)
            return None

    def try_end(self, session_id: str | None, reason: str) -> str | None:
        try:
            return self.end(session_id, reason)
        except SessionError as exc:
            log.warning("could not end the session (%s): %s", reason, exc)
            return None

    def toggle(self) -> None:
        """The GPIO button: start a session when none runs, else end the running one."""
        if self.active_id is None:
            self.try_start(self._lift or "squat", reason="button")
        else:
            self.try_end(None, "button")

    def analyse_recovered(self) -> None:
        """Queue the analysis of sessions a crash left open (now ended by the store)."""
        for sid in self.store.recovered_session_ids:
            row = self.store.get_session(sid) or {}
            self._queue(("analyse", sid, row.get("lift_type") or "squat"))

    def note(self, text: str) -> None:
        """A line stored with the active session (sensor faults, alerts); memory only."""
        sid = self.store.active_session_id
        if sid is not None:
            try:
                self.store.submit_feedback(sid, text)
            except (StoreError, RuntimeError):
                log.debug("could not note %r", text, exc_info=True)

    def announce(self, text: str) -> None:
        """Say ``text`` on the console/log from the worker (never from the real-time loop)."""
        self._queue(("say", text))

    # ---- reps (called from the real-time loop) ------------------------------------------

    def rep_detected(self, session_id: str | None, number: int, frames: list[Frame],
                     end_ns: int) -> None:
        """A rep ended near ``end_ns`` (sensor time); ``frames`` are the recent frames."""
        if session_id is not None:
            self._queue(("rep", session_id, self._lift or "squat", number, frames, end_ns))

    # ---- worker -----------------------------------------------------------------------

    def _queue(self, job: Any) -> None:
        with self._lock:
            self._pending += 1
            self.idle.clear()
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self.jobs_dropped += 1
            log.error("session worker is behind; dropped a %s job", job[0])
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending == 0:
                self.idle.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.idle.wait(timeout)

    @property
    def worker_alive(self) -> bool:
        return self._worker.is_alive()

    def worker_status(self) -> dict[str, Any]:
        return {"alive": self.worker_alive, "jobs_failed": self.jobs_failed,
                "jobs_dropped": self.jobs_dropped, "last_error": self.last_job_error}

    def close(self) -> None:
        self._jobs.put(_STOP)
        self._worker.join(timeout=60)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            try:
                if job[0] == "say":
                    self._say(job[1])
                elif job[0] == "rep":
                    self._analyse_rep(*job[1:])
                else:
                    self._analyse_session(*job[1:])
            except Exception as exc:  # noqa: BLE001 - one bad job must not stop the worker
                self.jobs_failed += 1
                self.last_job_error = f"{job[0]} job: {type(exc).__name__}: {exc}"[:300]
                log.exception("session worker: a %s job failed%s; dropped it and going on with "
                              "the next (%d failed so far)", job[0],
                              f" (session {job[1]})" if job[0] != "say" else "",
                              self.jobs_failed)
            finally:
                self._done()

    def _analyse_rep(self, session_id: str, lift: str, number: int, frames: list[Frame],
                     end_ns: int) -> None:
        analysis = analyze_frames(frames, lift)
        self.reps_analysed += 1
        t0_ns = min(f.mono_ns for f in frames)
        near = [r for r in analysis.reps if abs(t0_ns + r.end_s * 1e9 - end_ns) < REP_MATCH_NS]
        if not near:
            log.debug("rep %d: not found again in its context window", number)
            self.store.submit_feedback(session_id, self.dispatcher.rep_finished(number))
            self.store.submit_live_rep(session_id, number, None, None, None)
            return
        rep = min(near, key=lambda r: abs(t0_ns + r.end_s * 1e9 - end_ns))
        rep.number = number
        earlier = self._earlier_reps.setdefault(session_id, [])
        text = rep_feedback(rep, self._model_attributions(frames, [rep])[0], earlier=earlier)
        earlier.append(rep)
        problem = text.split(": ", 1)[1] if text else None
        line = self.dispatcher.rep_finished(number, problem)
        self.store.submit_feedback(session_id, line)
        mcv = rep.mean_concentric_velocity_mps
        loss = None if mcv is None else velocity_loss_pct(
            [r.mean_concentric_velocity_mps for r in earlier])
        self.store.submit_live_rep(session_id, number, mcv, loss, problem)

    def _analyse_session(self, session_id: str, lift: str) -> None:
        t0 = time.monotonic()
        if not self.store.flush(FLUSH_TIMEOUT_S):
            log.warning("session %s: the store did not commit within %.0f s; analysing what "
                        "is stored", session_id, FLUSH_TIMEOUT_S)
        frames = self.store.session_frames(session_id)
        if not frames:
            text = "No sensor data was stored for this session; nothing to analyse."
            self.store.submit_metrics(session_id, None, None, None, {"rep_count": 0})
            self.store.submit_feedback(session_id, text, summary=True)
            self.last_summary = {"session_id": session_id, "rep_count": 0, "feedback": text}
            self._say(text)
            return
        analysis = analyze_frames(frames, lift)
        s = analysis.summary
        attributions = self._model_attributions(frames, analysis.reps)
        self._earlier_reps.pop(session_id, None)
        load = self._bar_loads.pop(session_id, None)
        extra = {} if load is None else {"bar_load_kg": load}
        for k, (rep, attribution) in enumerate(zip(analysis.reps, attributions)):
            t0_ns = frames[0].mono_ns
            self.store.submit_rep(
                session_id, rep.number, t0_ns + int(rep.start_s * 1e9),
                t0_ns + int(rep.end_s * 1e9), {**rep.as_dict(), **extra},
                balance_score=rep.balance_score, stability_score=rep.stability_score,
                injury_risk=rep.injury_risk,
                feedback_text=rep_feedback(rep, attribution, earlier=analysis.reps[:k]))
        self.store.submit_metrics(session_id, s.get("balance_score"), s.get("stability_score"),
                                  s.get("injury_risk"), s)
        flags = {rep.number: attribution_hint(a) for rep, a in zip(analysis.reps, attributions) if a is not None}
        text = set_feedback(analysis.reps, s, flags)
        self.store.submit_feedback(session_id, text, summary=True)
        self.store.flush(FLUSH_TIMEOUT_S)
        self.analyses_done += 1
        self.last_summary = {"session_id": session_id, "rep_count": len(analysis.reps),
                             "balance_score": s.get("balance_score"),
                             "stability_score": s.get("stability_score"),
                             "injury_risk": s.get("injury_risk"), "feedback": text}
        log.info("session %s analysed in %.2f s: %d reps", session_id, time.monotonic() - t0,
                 len(analysis.reps))
        self._say(f"session summary: {text}")
