"""Session lifecycle: one active session per box, started and ended by the API, the button or
automatically; the analysis of finished reps and ended sessions on a worker thread.

Ending a session (or finding one a crash left open) queues its end-of-session analysis:
``models.analyze_frames`` (as ``analyze_sources``) over the frames the store holds for it, then
the summary ``performance_metrics`` row, the summary ``feedback`` text and one ``rep_metrics``
row per rep. Live per-rep feedback lines are stored as ``feedback`` rows as each rep finishes,
and each rep as a ``live_reps`` row (velocity, velocity loss so far, the problem told), which
syncs while the session records so the web app can follow it.

Velocity-loss cue: a session carries a limit (its start command's, else the box's
``[feedback] velocity_loss_limit_pct``; none = off). The first rep whose velocity loss against
the best rep so far reaches it gets the stop-the-set pattern and says so in its line; the
summary, the rep rows and the summary text say at which rep it fired. Bar load: the
end-of-session analysis weighs the bar on the platform (``models.bar_load``); every rep row
stores ``bar_load_kg`` with its source, an entered load winning over the measured one.

With a model bundle attached (``attach_scorer``), every finished rep also gets the model's
per-rep decision; a rep the model flags passes its attribution to ``rep_feedback``, so the
text can say what the deviation points to (e.g. a weight shift). When the session's athlete
has a calibrated overlay (``liftguard calibrate athlete``), it is loaded when the session
starts (never on the real-time path) and used by both the per-window and per-rep decisions.

Technique-drift cue (with a model): after each rep the set's rep decisions so far are combined
(``models.set_drift``); the first rep at which the set crosses the bundle's calibrated threshold
plays the technique-drift pattern, once per set, and its line names what drifted (the set's
summed attribution in words). The live rep row carries that text (``drift_cue``); the summary
(``drift_cue`` key) and the rep rows (``drift_cue`` true on that rep) say where it fired.
"""
from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from edge_agent.daemon.errors import SessionError
from edge_agent.feedback import FeedbackDispatcher
from edge_agent.store import LocalStore, StoreError
from models import rep_feedback, set_feedback
from models.analysis import analyze_reps_in_set, analyze_sources, set_bar_load
from models.bar_load import rep_load_fields
from models.display_series import RepSpan, SeriesBuilder, SeriesFeeder, series_from_frames
from models.feedback_text import attribution_hint, bar_load_text, drift_cue_text, velocity_cue_text
from models.metrics import velocity_loss_pct
from models.segmentation import SegmentationMemo
from models.set_drift import SetDriftEvidence
from models.signals import FrameColumns, SourceSamples, split_by_source
from models.velocity_cue import cue_rep, cue_velocities, reaches_limit, running_velocity_loss
from sensors.frame import Frame
from sync.lifts import LIFT_TYPES

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 10.0
REP_MATCH_NS = 1_000_000_000
SET_CONTEXT_S = 180.0
SERIES_EVERY_S = 20.0
"""Between reps, the display series is brought up to date this often (a long rest stays
drawn, and a crash loses at most this much of it)."""
_STOP = object()


@dataclass
class _SetPlan:
    """What a session was started with beyond its row, and what its live reps did."""

    velocity_loss_limit_pct: float | None = None
    bar_load_kg: float | None = None               # entered with the start
    cue: tuple[int, float] | None = None           # (rep, velocity loss %) when the box cued
    drift: SetDriftEvidence = field(default_factory=SetDriftEvidence)
    drift_cue: tuple[int, str] | None = None       # (rep, what drifted) when the box cued
    reps: list[Any] = field(default_factory=list)  # live-analysed reps, in order
    frames: collections.deque[Frame] = field(default_factory=collections.deque)
    lock: threading.Lock = field(default_factory=threading.Lock)  # loop appends, worker reads
    columns: FrameColumns = field(default_factory=FrameColumns)  # the same frames as arrays
    segmentation: SegmentationMemo = field(default_factory=SegmentationMemo)  # worker only
    series: SeriesFeeder | None = None             # the display series so far (worker only)
    series_fed_ns: int | None = None               # frames from here on are not in it yet
    series_due_ns: int | None = None               # the loop queues an update after this

    def so_far(self, recent: list[Frame],
               until: tuple[int, int] | None = None) -> dict[str, SourceSamples]:
        """The set's frames so far (at most the last ``SET_CONTEXT_S``), else ``recent``, as
        ``split_by_source`` gives them; with ``until`` (``columns.mark()`` when the rep was
        handed over) those kept at that moment, so a rep's analysis does not depend on how
        far the worker lags behind the loop (an unpaced replay gives the same rep lines
        however loaded the machine is).

        A rep is analysed within the whole set so far, not only the loop's last seconds: a
        window starting mid-set gives other velocities (up to 13 % off on the simulator) and
        misses reps, while the set so far gives exactly the end-of-session analysis's values,
        which the velocity-loss cue compares rep to rep. The frames are kept as arrays,
        converted once as they come (converting the whole set again at every rep made the
        rep analysis quadratic in the set's length), and only the new rep's metrics are
        computed (``models.analysis.analyze_reps_in_set``)."""
        sources = self.columns.samples(until)
        return sources if sources else split_by_source(recent)

    def since(self, mono_ns: int | None) -> list[Frame]:
        """The kept frames from ``mono_ns`` on (all when None), read from the newest end."""
        with self.lock:
            if mono_ns is None:
                return list(self.frames)
            # sources interleave slightly out of time order: look a second further back
            newer = list(itertools.takewhile(lambda f: f.mono_ns >= mono_ns - 1_000_000_000,
                                             reversed(self.frames)))
        newer.reverse()
        return [f for f in newer if f.mono_ns >= mono_ns]

    def keep(self, frames: Sequence[Frame]) -> None:
        """Append the loop's frames and drop those older than ``SET_CONTEXT_S`` (memory stays
        bounded in a session without reps): as frames for the display series, and as arrays
        for the rep analysis (``FrameColumns`` trims the same way)."""
        with self.lock:
            self.frames.extend(frames)
            horizon = self.frames[-1].mono_ns - int(SET_CONTEXT_S * 1e9) if self.frames else 0
            while self.frames and self.frames[0].mono_ns < horizon:
                self.frames.popleft()
        self.columns.extend(frames)
        if len(self.columns):
            horizon = self.columns.last_mono_ns() - int(SET_CONTEXT_S * 1e9)
            self.columns.drop_leading_before(horizon)


def _flagged(decision: Any) -> Any:
    """The attribution of a rep the model flagged, else None (models.anomaly is imported only
    when there is a decision: a box without a model never loads scikit-learn)."""
    if decision is None:
        return None
    from models.anomaly.segments import flagged_attribution

    return flagged_attribution(decision)


class SessionManager:
    def __init__(self, store: LocalStore, dispatcher: FeedbackDispatcher, *,
                 say: Callable[[str], None] = lambda text: None,
                 wall_clock_synced: Callable[[], bool] = lambda: False,
                 velocity_loss_limit_pct: float | None = None,
                 bench_on_platform: bool = True) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.velocity_loss_limit_pct = velocity_loss_limit_pct
        self.bench_on_platform = bench_on_platform
        self._plans: dict[str, _SetPlan] = {}
        self._say = say
        self._wall_synced = wall_clock_synced
        self._lock = threading.Lock()
        self._lift: str | None = None
        self._model: Any = None
        self._overlay_root: Path | None = None
        self._profile: Any = None
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
              velocity_loss_limit_pct: float | None = None,
              bar_load_kg: float | None = None) -> str:
        """Start a session; ``velocity_loss_limit_pct`` None takes the box's default, and
        ``bar_load_kg`` is the load entered for it (None: the platform weighs it)."""
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
            limit = (velocity_loss_limit_pct if velocity_loss_limit_pct is not None
                     else self.velocity_loss_limit_pct)
            self._plans[session_id] = _SetPlan(limit, bar_load_kg, drift=self._drift_evidence())
        log.info("session %s started (%s, %s, by %s; velocity-loss cue %s)", session_id,
                 lift_type, athlete or "no athlete given", reason,
                 f"at {limit:g} %" if limit is not None else "off")
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
            own = "set_drift" in (getattr(self._model, "manifest", {}).get("calibration") or {})
            log.info("technique-drift cue threshold %.3g on the set's combined p (%s)", self._drift_evidence().alpha,
                     "the bundle's own calibration" if own else "the default: the bundle has none")

    def _drift_evidence(self) -> SetDriftEvidence:
        """A new set's drift evidence at the attached bundle's threshold for this session's rep
        decision: with the athlete's profile, the profile decision's own (``profile_rep.set_drift``),
        else the manifest's ``calibration.set_drift``, else ``DEFAULT_SET_ALPHA``."""
        drift_alpha = getattr(self._model, "drift_alpha", None)
        return SetDriftEvidence(drift_alpha(self._profile)) if drift_alpha else SetDriftEvidence()

    def _load_overlay(self, athlete: str | None, lift: str) -> Any:
        if self._model is None or not athlete or self._overlay_root is None:
            return None
        from models.anomaly.errors import OverlayError
        from models.anomaly.overlay import load_overlay, overlay_dir

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

    def _model_decisions(self, sources: dict[str, SourceSamples], reps: Sequence[Any]) -> list[Any]:
        """Per rep: the model's decision (None without a model or when the rep is not scored);
        ``sources``: the set's frames as ``split_by_source`` gives them."""
        if self._model is None:
            return [None] * len(reps)
        from models.anomaly.segments import source_rep_decisions

        return source_rep_decisions(self._model, sources, reps, self._profile)

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

    def frames_recorded(self, session_id: str | None, frames: list[Frame]) -> None:
        """The real-time loop's frames of the active session, each hop (appends only)."""
        plan = self._plans.get(session_id) if session_id is not None else None
        if plan is not None and frames:
            plan.keep(frames)
            last = frames[-1].mono_ns
            if plan.series_due_ns is None:
                plan.series_due_ns = last + int(SERIES_EVERY_S * 1e9)
            elif last >= plan.series_due_ns:
                plan.series_due_ns = last + int(SERIES_EVERY_S * 1e9)
                self._queue(("series", session_id))

    def rep_detected(self, session_id: str | None, number: int, frames: list[Frame],
                     end_ns: int) -> None:
        """A rep ended near ``end_ns`` (sensor time); ``frames`` are the recent frames. The
        rep is analysed within the set as kept now (real-time loop thread)."""
        if session_id is not None:
            plan = self._plans.get(session_id)
            until = plan.columns.mark() if plan is not None else None
            self._queue(("rep", session_id, self._lift or "squat", number, frames, end_ns,
                         until))

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
                elif job[0] == "series":
                    self._update_series(job[1])
                else:
                    self._analyse_session(*job[1:])
            except Exception as exc:  # one bad job must not stop the worker
                self.jobs_failed += 1
                self.last_job_error = f"{job[0]} job: {type(exc).__name__}: {exc}"[:300]
                log.exception("session worker: a %s job failed%s; dropped it and going on with "
                              "the next (%d failed so far)", job[0],
                              f" (session {job[1]})" if job[0] != "say" else "",
                              self.jobs_failed)
            finally:
                self._done()

    def _analyse_rep(self, session_id: str, lift: str, number: int, frames: list[Frame],
                     end_ns: int, until: tuple[int, int] | None = None) -> None:
        # A rep job arriving after its session was analysed gets no cue (the summary is out).
        plan = self._plans.get(session_id) or _SetPlan()
        sources = plan.so_far(frames, until)
        t0_ns = min((int(s.mono_ns[0]) for s in sources.values()), default=0)
        near = analyze_reps_in_set({name: s.copy() for name, s in sources.items()}, lift,
                                   lambda end_s: abs(t0_ns + end_s * 1e9 - end_ns) < REP_MATCH_NS,
                                   memo=plan.segmentation)
        self.reps_analysed += 1
        if not near:
            log.debug("rep %d: not found again in its context window", number)
            self.store.submit_feedback(session_id, self.dispatcher.rep_finished(number))
            self.store.submit_live_rep(session_id, number, None, None, None)
            return
        rep = min(near, key=lambda r: abs(t0_ns + r.end_s * 1e9 - end_ns))
        rep.number = number
        self._update_series(session_id, RepSpan(number, t0_ns + int(rep.start_s * 1e9),
                                                t0_ns + int(rep.end_s * 1e9)))
        earlier = plan.reps
        decision = self._model_decisions(sources, [rep])[0]
        text = rep_feedback(rep, _flagged(decision), earlier=earlier)
        earlier.append(rep)
        problem = text.split(": ", 1)[1] if text else None
        stop = None
        loss = running_velocity_loss(cue_velocities(earlier))[-1]
        if plan.cue is None and reaches_limit(loss, plan.velocity_loss_limit_pct):
            plan.cue = (number, float(loss))  # type: ignore[arg-type]
            stop = (f"velocity loss {loss:.0f} % reached the {plan.velocity_loss_limit_pct:g} % "
                    f"limit")
            log.info("session %s: rep %d velocity loss %.1f %% reached the %g %% limit; "
                     "stop-the-set cue given", session_id, number, loss,
                     plan.velocity_loss_limit_pct)
        drift = self._drift(session_id, plan, number, decision)
        line = self.dispatcher.rep_finished(number, problem, stop_set=stop, drift=drift)
        self.store.submit_feedback(session_id, line)
        mcv = rep.mean_concentric_velocity_mps
        mcv_loss = None if mcv is None else velocity_loss_pct(
            [r.mean_concentric_velocity_mps for r in earlier])
        self.store.submit_live_rep(session_id, number, mcv, mcv_loss,
                                   "; ".join(t for t in (problem, stop) if t) or None,
                                   drift_cue=drift)

    @staticmethod
    def _drift(session_id: str, plan: _SetPlan, number: int, decision: Any) -> str | None:
        """Add a rep's decision to the set's evidence; what drifted, in words, on the one rep
        where the set first crosses the drift threshold."""
        if decision is None or not decision.scored:
            return None
        cue = plan.drift.add(number, decision.score, decision.attribution)
        if cue is None:
            return None
        what = attribution_hint(cue.attribution) or "the movement, away from your clean reps"
        plan.drift_cue = (number, what)
        log.info("session %s: rep %d technique drift over the set (combined p %.2g at most "
                 "%.2g): %s; technique-drift cue given", session_id, number, cue.p,
                 plan.drift.alpha, what)
        return what

    @staticmethod
    def _drift_summary(plan: _SetPlan, reps: Sequence[Any], decisions: Sequence[Any]) -> dict[str, Any]:
        """Where the technique-drift cue fired: the box's live cue, else (a recovered session)
        where the analysed reps' decisions cross the threshold, marked ``"given": False``."""
        out: dict[str, Any] = {"rep": None, "drifted": None, "given": False,
                               "alpha": plan.drift.alpha}
        if plan.drift_cue is not None:
            out.update(rep=plan.drift_cue[0], drifted=plan.drift_cue[1], given=True)
            return out
        evidence = SetDriftEvidence(plan.drift.alpha)
        for rep, decision in zip(reps, decisions):
            if decision is not None and decision.scored and (
                    cue := evidence.add(rep.number, decision.score, decision.attribution)):
                out.update(rep=cue.rep, drifted=attribution_hint(cue.attribution))
                break
        return out

    def _update_series(self, session_id: str, rep: RepSpan | None = None) -> None:
        """Add the frames since the last update (and ``rep``) to the session's display series
        and store it; the end-of-session analysis replaces it with the whole session's."""
        plan = self._plans.get(session_id)
        if plan is None:
            return
        frames = plan.since(plan.series_fed_ns)
        if plan.series is None:
            if not frames:
                return
            plan.series = SeriesFeeder(SeriesBuilder(min(f.mono_ns for f in frames)), [])
        if rep is not None:
            plan.series.add_rep(rep)
        for source, samples in split_by_source(frames).items():
            plan.series.push(source, samples)
        if frames:
            plan.series_fed_ns = max(f.mono_ns for f in frames) + 1
        self.store.submit_series(session_id, plan.series.catch_up().as_json())

    @staticmethod
    def _cue_summary(plan: _SetPlan, reps: Sequence[Any]) -> dict[str, Any]:
        """At which rep the cue fired: the box's own live cue when it gave one, else (a session
        recovered after a crash, or reps the live path did not see) where the analysed reps
        reach the limit, marked ``"given": False``."""
        out: dict[str, Any] = {"limit_pct": plan.velocity_loss_limit_pct, "rep": None,
                               "velocity_loss_pct": None, "given": False}
        if plan.cue is not None:
            out.update(rep=plan.cue[0], velocity_loss_pct=plan.cue[1], given=True)
            return out
        found = cue_rep([r.number for r in reps], cue_velocities(reps), plan.velocity_loss_limit_pct)
        if found is not None:
            out.update(rep=found[0], velocity_loss_pct=found[1])
        return out

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
        sources = split_by_source(frames)
        analysis = analyze_sources({name: s.copy() for name, s in sources.items()}, lift,
                                   bench_on_platform=self.bench_on_platform)
        s = analysis.summary
        decisions = self._model_decisions(sources, analysis.reps)
        attributions = [_flagged(d) for d in decisions]
        plan = self._plans.pop(session_id, None) or _SetPlan(self.velocity_loss_limit_pct,
                                                             drift=self._drift_evidence())
        s["velocity_loss_cue"] = self._cue_summary(plan, analysis.reps)
        if self._model is not None:
            s["drift_cue"] = self._drift_summary(plan, analysis.reps, decisions)
        drift_at = (s.get("drift_cue") or {}).get("rep")
        load = rep_load_fields(set_bar_load(analysis), plan.bar_load_kg)
        cue_at = s["velocity_loss_cue"]["rep"]
        for k, (rep, attribution) in enumerate(zip(analysis.reps, attributions)):
            t0_ns = frames[0].mono_ns
            values = {**rep.as_dict(), **load, "velocity_loss_cue": rep.number == cue_at,
                      "velocity_loss_limit_pct": plan.velocity_loss_limit_pct}
            if self._model is not None:
                values["drift_cue"] = rep.number == drift_at
            self.store.submit_rep(
                session_id, rep.number, t0_ns + int(rep.start_s * 1e9),
                t0_ns + int(rep.end_s * 1e9), values,
                balance_score=rep.balance_score, stability_score=rep.stability_score,
                injury_risk=rep.injury_risk,
                feedback_text=rep_feedback(rep, attribution, earlier=analysis.reps[:k]))
        series = series_from_frames(frames, [
            RepSpan(rep.number, frames[0].mono_ns + int(rep.start_s * 1e9),
                    frames[0].mono_ns + int(rep.end_s * 1e9)) for rep in analysis.reps])
        if series is not None:
            self.store.submit_series(session_id, series, final=True)
        self.store.submit_metrics(session_id, s.get("balance_score"), s.get("stability_score"),
                                  s.get("injury_risk"), s)
        flags = {rep.number: attribution_hint(a) for rep, a in zip(analysis.reps, attributions) if a is not None}
        text = " ".join(filter(None, (set_feedback(analysis.reps, s, flags),
                                      velocity_cue_text(s["velocity_loss_cue"]),
                                      drift_cue_text(s.get("drift_cue")),
                                      bar_load_text(load))))
        self.store.submit_feedback(session_id, text, summary=True)
        self.store.flush(FLUSH_TIMEOUT_S)
        self.analyses_done += 1
        self.last_summary = {"session_id": session_id, "rep_count": len(analysis.reps),
                             "balance_score": s.get("balance_score"),
                             "stability_score": s.get("stability_score"),
                             "injury_risk": s.get("injury_risk"),
                             "velocity_loss_cue": s["velocity_loss_cue"],
                             "drift_cue": s.get("drift_cue"),
                             "bar_load_kg": load["bar_load_kg"],
                             "bar_load_source": load["bar_load_source"], "feedback": text}
        log.info("session %s analysed in %.2f s: %d reps", session_id, time.monotonic() - t0,
                 len(analysis.reps))
        self._say(f"session summary: {text}")
