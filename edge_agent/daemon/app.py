"""``Daemon``: runs the sources, store, feedback, scorer, loop, sessions and API that
``edge_agent.daemon.wiring.build_daemon`` built from the configuration and secrets the command
line resolved (``edge_agent.settings``), live (reader threads) or in lockstep (a finite source
as fast as possible: ``liftguard replay`` without ``--realtime``, benchmarks).

Threads: one reader per source, ``realtime`` (the loop), ``store-writer``,
``liftguard-feedback``, ``session-worker``, ``local-api`` (+ one per request, bounded),
gpiozero's own, and ``housekeeping`` (systemd STATUS= lines, wall-clock correction, model
bundle reload). Each survives a bad value in its own unit of work; ``threads`` watches them
all, and ``dead_threads()`` tells ``liftguard run`` to exit non-zero if one died anyway.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edge_agent.bundles.choice import choose_bundle
from edge_agent.daemon.api import LocalApi
from edge_agent.daemon.collector import freeze_start_up, unfreeze
from edge_agent.daemon.profiles import ProfileRefresher
from edge_agent.daemon.readers import SourceReader
from edge_agent.daemon.realtime import Alert, RealtimeLoop
from edge_agent.daemon.scoring import make_scorer
from edge_agent.daemon.session_commands import BoxCommands
from edge_agent.daemon.sessions import SessionManager
from edge_agent.daemon.status import StatusReports, build_status, health_line
from edge_agent.daemon.threads import Supervised, ThreadWatch
from edge_agent.feedback import FeedbackDispatcher, SessionButton
from edge_agent.settings import SecretLookup, Settings
from edge_agent.store import LocalStore
from edge_agent.store.reader import committed_seq
from edge_agent.uplink.session_command_runner import SessionCommandRunner
from edge_agent.uplink.timesync import ClockWatch
from sync.systemd_notify import SystemdNotifier, operator_status

log = logging.getLogger(__name__)


LOCKSTEP_FLUSH_FRAMES = 4000
RATE_MIN_SPAN_S = 0.5
"""Source rates in /status are frames counted between two status reads this far apart."""
SWITCH_INTERVAL_S = 0.001
"""Python's GIL hand-over interval (default 5 ms): the loop must not wait behind the analysis
worker for that long."""
HOUSEKEEPING_INTERVAL_S = 5.0
"""How often the housekeeping thread updates STATUS=, probes NTP sync and looks for a new
model bundle."""


class Wakeup:
    """The readers' nudge to the real-time loop: new frames are in a ring."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._woken = False

    def notify(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify()

    def wait(self, timeout: float) -> None:
        with self._cond:
            if not self._woken:
                self._cond.wait(timeout)
            self._woken = False


@dataclass
class DaemonParts:
    """What ``edge_agent.daemon.wiring.build_daemon`` builds from the config; the daemon runs
    them. The model fields are the bundle decision at start (``reload_model_if_changed``
    replaces them between sessions)."""

    store: LocalStore
    dispatcher: FeedbackDispatcher
    sessions: SessionManager
    clock_watch: ClockWatch
    loop: RealtimeLoop
    readers: list[SourceReader]
    wake: Wakeup
    scorer: Any
    model_info: dict[str, Any] | None
    model_reason: str | None
    bundle_key: bytes | None
    bundle_target: Path | None
    alert_on: Any
    gpio_state: str
    button: SessionButton | None = None
    api: LocalApi | None = None


def resolved_bundle(path: Path) -> Path | None:
    """Where a bundle path (usually the ``models/default`` symlink) points, if anywhere."""
    return path.resolve() if path.exists() else None


class Daemon:
    """Runs the parts ``build_daemon`` wired: reader threads and the real-time loop (live) or
    lockstep, sync, housekeeping, the API; stops them in order."""

    def __init__(self, cfg: Settings, secrets: SecretLookup, parts: DaemonParts) -> None:
        self.started_monotonic = time.monotonic()
        self.cfg, self.secrets = cfg, secrets
        self.device_id = cfg.get("device.id")
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._wake = parts.wake
        self.rates: dict[str, float | None] = {}
        self._rate_marks: dict[str, tuple[float, int]] = {}
        self.store, self.dispatcher, self.sessions = parts.store, parts.dispatcher, parts.sessions
        self.clock_watch, self.loop, self.readers = parts.clock_watch, parts.loop, parts.readers
        self.scorer, self.model_info, self.model_reason = (parts.scorer, parts.model_info,
                                                           parts.model_reason)
        self._bundle_key, self._bundle_target = parts.bundle_key, parts.bundle_target
        self._alert_on, self.gpio_state = parts.alert_on, parts.gpio_state
        self.button, self.api = parts.button, parts.api
        self.notifier = SystemdNotifier()
        self._loop_thread: threading.Thread | None = None
        self._sync_thread: threading.Thread | None = None
        self.command_runner: SessionCommandRunner | None = None
        self._housekeeping_thread: threading.Thread | None = None
        self.sync_state = "off"
        self.sync_outbox: Any = None
        self.sync_supervisor: Supervised | None = None
        self.loop_failures = 0
        self.loop_frames_dropped = 0
        self._status_interval = cfg.get("daemon.status_log_interval_s")
        self.threads = self._watch_threads()

    def _watch_threads(self) -> ThreadWatch:
        """Every long-lived thread, alive unless it died (not started yet, or stopping, is
        not dead)."""
        def started_alive(get: Callable[[], threading.Thread | None]) -> Callable[[], bool]:
            return lambda: (self._stop.is_set() or (t := get()) is None or t.ident is None
                            or t.is_alive())

        watch = ThreadWatch()
        watch.watch("store-writer", lambda: self._stop.is_set() or self.store.writer_alive)
        watch.watch("session-worker", lambda: self._stop.is_set() or self.sessions.worker_alive)
        watch.watch("realtime", started_alive(lambda: self._loop_thread))
        watch.watch("sync", started_alive(lambda: self._sync_thread))
        watch.watch("housekeeping", started_alive(lambda: self._housekeeping_thread))
        watch.watch("local-api", started_alive(
            lambda: None if self.api is None else self.api.thread))
        for r in self.readers:
            watch.watch(f"reader-{r.name}", lambda r=r: not r.died)
        return watch

    def dead_threads(self) -> list[str]:
        return self.threads.dead()

    # ---- running ------------------------------------------------------------------------

    def start(self, *, live: bool = True) -> None:
        """Recover crashed sessions, start the readers (live) and the API; then ready."""
        freeze_start_up()
        self.sessions.analyse_recovered()
        if live:
            for r in self.readers:
                r.start()
            self._loop_thread = threading.Thread(target=self._run_live, name="realtime",
                                                 daemon=True)
            self._loop_thread.start()
            self._start_sync()
            self._housekeeping_thread = threading.Thread(target=self._run_housekeeping,
                                                         name="housekeeping", daemon=True)
            self._housekeeping_thread.start()
        if self.api is not None:
            self.api.start()
        self.ready.set()
        self.notifier.ready(operator_status(self.status()))
        log.info("liftguard ready%s (model: %s)",
                 f"; API on {self.api.url}" if self.api else "",
                 "bundle" if self.model_info else "none, metric rules only")

    def _start_sync(self) -> None:
        """Drain the outbox on a thread of its own (never on the real-time path):
        directly to PostgreSQL or through the MQTT broker, as [sync] mode says."""
        from edge_agent.uplink import sync_runner
        from edge_agent.uplink.clock_gate import ClockGatedOutbox

        mode = self.cfg.get("sync.mode")
        outbox = ClockGatedOutbox(self.store, self.clock_watch,
                                  self.cfg.get("sync.hold_unsynced_clock_s"))
        try:
            if mode == "direct" and self.cfg.get("database.dsn"):
                worker = sync_runner.direct_worker(self.cfg, self.secrets, outbox)
                target = lambda stop: worker.run(stop, idle_s=self.cfg.get("sync.interval_s"))
            elif mode == "mqtt" and self.cfg.get("mqtt.host"):
                pub = sync_runner.publisher(self.cfg, self.secrets, outbox)
                pub.start()
                target = lambda stop: sync_runner.publish_until_stopped(pub, stop)
            else:
                self.sync_state = ("off" if mode == "off" else
                                   f"off: [sync] mode = '{mode}' but no "
                                   f"{'[database] dsn' if mode == 'direct' else '[mqtt] host'} set")
                log.info("sync %s; data stays on the box until it is configured", self.sync_state)
                return
        except ValueError as exc:
            self.sync_state = f"off: {exc}"
            log.warning("sync not started: %s", exc)
            return
        self.sync_state = mode
        self.sync_outbox = outbox
        self.sync_supervisor = Supervised(f"sync ({mode})", target, self._stop)
        self._sync_thread = threading.Thread(target=self.sync_supervisor, name=f"sync-{mode}",
                                             daemon=True)
        self._sync_thread.start()
        self.command_runner = self._start_session_commands()

    def _start_session_commands(self) -> SessionCommandRunner | None:
        """Session commands and coach labels over whatever sync is configured, or None."""
        if self.cfg.get("sync.mode") == "off":
            return None
        runner = SessionCommandRunner(
            self.cfg, self.secrets, BoxCommands(self.sessions, self.device_id, self.cfg.data_dir),
            ProfileRefresher(self.store, lambda: getattr(self.scorer, "model", None),
                             self.cfg.data_dir))
        runner.start(self._stop)
        return runner

    def _run_live(self) -> None:
        hop_s = self.loop.hop_ns / 1e9
        next_health = time.monotonic() + (self._status_interval or float("inf"))
        while not self._stop.is_set():
            self.notifier.watchdog_tick()
            self._wake.wait(hop_s)
            frames: list = []
            arrival = 0
            for r in self.readers:
                got, at = r.ring.drain()
                frames += got
                arrival = max(arrival, at)
            try:
                self.loop.handle(frames, arrival)
            except Exception:  # one bad frame must not stop live feedback
                self._loop_step_failed(len(frames))
            if time.monotonic() >= next_health:
                next_health = time.monotonic() + self._status_interval
                log.info("%s", health_line(self.status()))

    def _loop_step_failed(self, frames: int) -> None:
        dropped = self.loop.discard_pending()
        self.loop_failures += 1
        self.loop_frames_dropped += dropped
        if self.loop_failures <= 10 or self.loop_failures % 1000 == 0:
            log.exception("real-time loop failed on a step of %d frames; dropped %d frames not "
                          "yet stored, going on with the next (%d failed steps so far)",
                          frames, dropped, self.loop_failures)

    def _run_housekeeping(self) -> None:
        """Off the real-time path: what may wait on a subprocess, the disk or a model load."""
        while not self._stop.wait(HOUSEKEEPING_INTERVAL_S):
            for job in (self.clock_watch.check, self.reload_model_if_changed,
                        lambda: self.notifier.status(operator_status(self.status()))):
                try:
                    job()
                except Exception:
                    log.exception("housekeeping step failed; trying again in %.0f s",
                                  HOUSEKEEPING_INTERVAL_S)

    def reload_model_if_changed(self) -> bool:
        """Between sessions, switch to the bundle ``models/default`` now points at
        (``liftguard model install`` / ``rollback``); True when the scorer changed."""
        link, shipped_reason = choose_bundle(self.cfg)
        target = resolved_bundle(link)
        if target == self._bundle_target or self.sessions.active_id is not None:
            return False
        scorer, info, reason = make_scorer(target or link, self._alert_on, self._bundle_key)
        reason = reason or shipped_reason
        if self.sessions.active_id is not None:
            log.info("a session started while the new model loaded; switching after it")
            return False
        self.loop.scorer = self.scorer = scorer
        self.sessions.attach_scorer(scorer, self.cfg.data_dir)
        self.model_info, self.model_reason, self._bundle_target = info, reason, target
        log.info("model bundle changed on disk: now %s", target or "none (metric rules)")
        return True

    def run_lockstep(self, until_sensor_s: float | None = None) -> None:
        """Drive a finite source (replay, unpaced simulator) through the same loop as fast as
        possible: poll, push into the ring, hand to the loop, in one thread. Stops early at
        :meth:`request_stop` or once ``until_sensor_s`` of sensor time has been handled."""
        for r in self.readers:
            r.source.start()
        active = list(self.readers)
        since_flush = 0
        limit_ns = None if until_sensor_s is None else int(until_sensor_s * 1e9)
        while active and not self._stop.is_set():
            loop = self.loop
            if (limit_ns is not None and loop.first_frame_ns is not None
                    and (loop.last_frame_ns or 0) - loop.first_frame_ns >= limit_ns):
                break
            for r in list(active):
                frames = r.source.poll()
                if frames:
                    r.ring.push(frames, time.monotonic_ns())
                got, at = r.ring.drain()
                self.loop.handle(got, at)
                since_flush += len(got)
                if r.source.exhausted:
                    active.remove(r)
            if since_flush >= LOCKSTEP_FLUSH_FRAMES:
                # unpaced input outruns the 1 s commit tick: wait for the writer, never drop
                self.store.flush()
                since_flush = 0

    def sources_finished(self) -> bool:
        return all(r.finished.is_set() for r in self.readers)

    def wait(self, timeout: float | None = None) -> bool:
        return self._stop.wait(timeout)

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, reason: str = "shutdown") -> None:
        """End the active session (with its analysis), then stop everything."""
        self._stop.set()
        self.notifier.stopping()
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=5)
        if self._housekeeping_thread is not None:
            self._housekeeping_thread.join(timeout=30)
        if self._sync_thread is not None:
            self._sync_thread.join(timeout=10)
        if self.command_runner is not None:
            self.command_runner.stop()
        for r in self.readers:
            r.stop()
        self.loop.finish()
        if self.sessions.active_id is not None:
            self.sessions.try_end(None, reason)
        if self.sessions.worker_alive:
            self.sessions.wait_idle(timeout=120)
        self.close()
        unfreeze()

    def close_partial(self) -> None:
        self.sessions.close()
        self.dispatcher.close()
        self.store.close()

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None
        if self.button is not None:
            self.button.close()
        self.close_partial()

    # ---- events -------------------------------------------------------------------------

    def alerted(self, alert: Alert) -> None:
        t = (alert.at_ns - (self.loop.first_frame_ns or alert.at_ns)) / 1e9
        text = f"instability at {t:.1f} s: {alert.reason or 'unusual movement'}"
        self.sessions.note(text)
        self.sessions.announce(f"ALERT {text}")

    def sensor_fault(self, name: str, what: str) -> None:
        self.dispatcher.device_fault(f"{name}: {what}")
        self.sessions.note(f"device fault: {name}: {what}")

    def sensor_recovered(self, name: str) -> None:
        log.info("%s: sensor working again", name)
        self.sessions.note(f"device recovered: {name}")

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        for r in self.readers:
            frames = r.source.health.frames
            prev = self._rate_marks.get(r.name)
            if prev is None or now - prev[0] >= RATE_MIN_SPAN_S:
                if prev is not None:
                    self.rates[r.name] = round((frames - prev[1]) / (now - prev[0]), 1)
                self._rate_marks[r.name] = (now, frames)
        sid = self.sessions.active_id
        sync = self.sync_supervisor
        return build_status(StatusReports(
            ready=self.ready.is_set(),
            uptime_s=round(now - self.started_monotonic, 3),
            device_id=self.device_id,
            session=None if sid is None else {
                "id": sid, "lift_type": self.sessions.active_lift,
                "last_committed_seq": committed_seq(self.store.path, sid)},
            last_summary=self.sessions.last_summary,
            sources={r.name: r.status(self.rates.get(r.name)) for r in self.readers},
            realtime=self.loop.status(),
            realtime_errors={"failed_steps": self.loop_failures,
                             "frames_dropped": self.loop_frames_dropped},
            store=self.store.status(),
            feedback={**self.dispatcher.status(), "gpio": self.gpio_state},
            model=self.model_info, model_reason=self.model_reason,
            decision=self.scorer.describe(),
            sync=self.sync_state,
            sync_hold=None if self.sync_outbox is None else self.sync_outbox.hold_state(),
            sync_errors={"restarts": 0 if sync is None else sync.restarts,
                         "last_error": None if sync is None else sync.last_error},
            sessions=self.sessions.worker_status(),
            api=None if self.api is None else self.api.load(),
            threads=self.threads.status()))

