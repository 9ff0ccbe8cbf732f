"""The front the real-time loop calls: decides with the policy, then hands off and returns.

Calls cost a lock, a policy update and a ``put_nowait`` on a bounded queue. One worker thread
starts the gpiozero patterns (which then run on gpiozero's own threads) and writes the text,
so neither a slow stdout pipe nor thread start-up can stall the loop. If the worker falls
behind by a full queue, new feedback is dropped and counted rather than waited for.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Protocol

from sensors.clock import SYSTEM_CLOCK, Clock

from .config import FeedbackConfig
from .console import ConsoleSink, rep_text
from .patterns import PATTERNS, Event, Pattern
from .policy import AlertPolicy, Verdict

log = logging.getLogger(__name__)

_STOP = object()


class PatternPlayer(Protocol):
    def play(self, pattern: Pattern) -> None: ...
    def all_off(self) -> None: ...
    def close(self) -> None: ...


class FeedbackDispatcher:
    def __init__(self, config: FeedbackConfig, outputs: PatternPlayer | None = None, *,
                 clock: Clock = SYSTEM_CLOCK, console: ConsoleSink | None = None,
                 queue_size: int = 64) -> None:
        self._outputs = outputs
        self._console = console if console is not None else ConsoleSink(config.console)
        self._policy = AlertPolicy(config.alert_on, config.alert_off, config.min_alert_gap_s, clock)
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.quiet = config.quiet
        self.buzzer_muted_by_gap = 0
        self.buzzer_muted_quiet = 0
        self.dropped_queue_full = 0
        self.output_errors = 0
        self._worker = threading.Thread(target=self._run, name="liftguard-feedback", daemon=True)
        self._worker.start()

    # --- calls from the daemon / real-time loop (never block) ---

    def on_decision(self, probability: float, at_ns: int | None = None) -> Verdict:
        """One real-time decision (fused anomaly probability in [0, 1]; NaN = no score), made
        at sensor time ``at_ns`` (the alert gap is then sensor time; wall clock without it).

        A boolean decision can be passed as 1.0 / 0.0; hysteresis then reduces to the gap.
        """
        with self._lock:
            verdict = self._policy.observe(probability, at_ns)
            if verdict is Verdict.ALERT:
                self._submit(self._audible(PATTERNS[Event.INSTABILITY]), None)
        if verdict is Verdict.SUPPRESSED:
            log.debug("instability alert suppressed: previous alert less than %.1f s ago",
                      self._policy.min_gap_ns / 1e9)
        return verdict

    def rep_finished(self, rep_index: int, problem: str | None = None,
                     stop_set: str | None = None, drift: str | None = None) -> str:
        """A rep ended, clean (``problem=None``) or with a short problem text.

        ``stop_set`` (the velocity-loss cue, e.g. "velocity loss 23 % reached the 20 % limit")
        plays the stop-the-set pattern instead of the rep's own, buzzer included unless quiet
        (it comes once per set and is the one cue the athlete must not miss), and the line
        says it. ``drift`` (the technique-drift cue, e.g. "the weight rocking towards the toes")
        plays the technique-drift pattern the same way, once per set; when both come on one
        rep, stop the set is played and the line says both. Returns the feedback line so the
        daemon can store it with the session.
        """
        text = rep_text(rep_index, problem)
        if drift is not None:
            text = f"{text}; technique drift over the set: {drift}"
        if stop_set is not None:
            text = f"{text}; stop the set: {stop_set}"
        with self._lock:
            if stop_set is not None or drift is not None:
                cue = Event.STOP_SET if stop_set is not None else Event.TECHNIQUE_DRIFT
                pattern = self._audible(PATTERNS[cue])
                self._policy.claim_alert_slot()
            elif problem is None:
                pattern = PATTERNS[Event.REP_CLEAN]
            else:
                pattern = self._gap_gated(PATTERNS[Event.REP_PROBLEM])
            self._submit(pattern, text)
        return text

    def session_started(self) -> str:
        return self._session_event(Event.SESSION_STARTED, "session started")

    def session_ended(self) -> str:
        return self._session_event(Event.SESSION_ENDED, "session ended")

    def device_fault(self, what: str) -> str:
        """A sensor went down (``what`` says which and why); returns the feedback line."""
        text = f"device fault: {what}"
        with self._lock:
            self._submit(self._gap_gated(PATTERNS[Event.DEVICE_FAULT]), text, logging.WARNING)
        return text

    def set_quiet(self, quiet: bool) -> None:
        with self._lock:
            self.quiet = quiet
        log.info("feedback quiet mode %s", "on (LEDs only, no buzzer)" if quiet else "off")

    def status(self) -> dict[str, Any]:
        """Counters for the local ``/status`` endpoint."""
        with self._lock:
            return {
                "quiet": self.quiet,
                "in_alert": self._policy.in_alert,
                "instability_alerts": self._policy.alerts,
                "alerts_suppressed_by_gap": self._policy.suppressed_by_gap,
                "buzzer_muted_by_gap": self.buzzer_muted_by_gap,
                "buzzer_muted_quiet": self.buzzer_muted_quiet,
                "dropped_queue_full": self.dropped_queue_full,
                "output_errors": self.output_errors,
            }

    def close(self) -> None:
        """Drain what is queued, stop the worker, switch every output off and release the pins."""
        try:
            self._queue.put(_STOP, timeout=1.0)
        except queue.Full:
            log.warning("feedback worker did not drain its queue; stopping it anyway")
        self._worker.join(timeout=2.0)
        if self._outputs is not None:
            self._outputs.all_off()
            self._outputs.close()

    def __enter__(self) -> FeedbackDispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---

    def _session_event(self, event: Event, text: str) -> str:
        with self._lock:
            self._policy.reset()
            self._submit(self._audible(PATTERNS[event]), text)
        return text

    def _gap_gated(self, pattern: Pattern) -> Pattern:
        """Keep the buzzer only if the alert gap allows it; the LEDs always show."""
        if "buzzer" in pattern.tracks and not self._policy.claim_alert_slot():
            self.buzzer_muted_by_gap += 1
            return pattern.without("buzzer")
        return self._audible(pattern)

    def _audible(self, pattern: Pattern) -> Pattern:
        if self.quiet and "buzzer" in pattern.tracks:
            self.buzzer_muted_quiet += 1
            return pattern.without("buzzer")
        return pattern

    def _submit(self, pattern: Pattern | None, text: str | None,
                level: int = logging.INFO) -> None:
        try:
            self._queue.put_nowait((pattern, text, level))
        except queue.Full:
            self.dropped_queue_full += 1
            if self.dropped_queue_full == 1 or self.dropped_queue_full % 100 == 0:
                log.warning("feedback worker is behind; dropped %d feedback item(s) so far "
                            "(is stdout blocked?)", self.dropped_queue_full)

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            pattern, text, level = item
            if pattern is not None and self._outputs is not None:
                self._guarded(self._outputs.play, pattern)
            if text is not None:
                self._guarded(self._console.write, text, level)

    def _guarded(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            self.output_errors += 1
            if self.output_errors == 1 or self.output_errors % 100 == 0:
                log.exception("feedback output failed (%d failure(s) so far); the session "
                              "continues without it", self.output_errors)
