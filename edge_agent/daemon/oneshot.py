"""One session over one finite source through the full daemon path (``demo``, ``replay``, bench).

The daemon is built as on the box (store, feedback, scorer, real-time loop, sessions), without
the local API. A session is started when the source starts and ended when it runs out (or at
``duration_s``), and its end-of-session analysis runs before this returns.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from edge_agent.daemon.app import Daemon
from edge_agent.daemon.wiring import build_daemon
from edge_agent.settings import SecretLookup, Settings
from sensors.source import FrameSource


@dataclass
class SessionRun:
    session_id: str
    wall_s: float
    sensor_s: float
    frames: int
    decisions: int
    alerts: list[dict[str, Any]]
    summary: dict[str, Any] | None
    status: dict[str, Any] = field(repr=False, default_factory=dict)
    first_frame_ns: int | None = None
    live_reps: list[dict[str, Any]] = field(default_factory=list)
    interrupted_by: str | None = None   # "SIGINT" / "SIGTERM" when a signal ended it early


@contextlib.contextmanager
def _stop_on_signals(daemon: Daemon) -> Iterator[list[str]]:
    """SIGINT/SIGTERM end the session the way ``run`` does: stop reading, end the session,
    analyse it. Yields the list the signal's name is put in. Main thread only (elsewhere,
    e.g. tests calling this from a worker, signals stay as they were)."""
    caught: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum: int, frame: Any) -> None:
        caught.append(signal.Signals(signum).name)
        daemon.request_stop()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_session(cfg: Settings, secrets: SecretLookup, source: FrameSource, lift: str, *, realtime: bool,
                athlete: str | None = None, duration_s: float | None = None,
                pin_factory: Any = None, console: bool | None = None,
                bar_load_kg: float | None = None) -> SessionRun:
    """One session over ``source`` on a daemon built from ``cfg``; ``bar_load_kg`` is a load
    entered for it (else the platform weighs the bar)."""
    daemon = build_daemon(cfg, secrets, sources=[source], pin_factory=pin_factory, api=False, console=console)
    t0 = time.monotonic()
    try:
        with _stop_on_signals(daemon) as caught:
            session_id = daemon.sessions.start(lift, athlete, reason="api",
                                               bar_load_kg=bar_load_kg)
            if realtime:
                daemon.start(live=True)
                deadline = None if duration_s is None else t0 + duration_s
                while not daemon.sources_finished() and not caught:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    time.sleep(0.05)
                daemon.request_stop()
            else:
                daemon.start(live=False)
                daemon.run_lockstep(until_sensor_s=duration_s)
            status = daemon.status()
            loop = daemon.loop
            sensor_s = ((loop.last_frame_ns or 0) - (loop.first_frame_ns or 0)) / 1e9
            t_first = loop.first_frame_ns or 0
            alerts = [{"t_s": round((a.at_ns - t_first) / 1e9, 3), "reason": a.reason, "rep": a.rep}
                      for a in loop.alerts]
            reps = [{"number": r.number, "start_s": round((r.start_ns - t_first) / 1e9, 3),
                     "end_s": round((r.end_ns - t_first) / 1e9, 3)}
                    for r in loop.reps if r.session_id == session_id]
            daemon.stop("shutdown" if caught else "api")
        return SessionRun(session_id, time.monotonic() - t0, sensor_s, loop.frames_in,
                          loop.decisions, alerts, daemon.sessions.last_summary, status,
                          loop.first_frame_ns, reps, caught[0] if caught else None)
    except BaseException:
        daemon.request_stop()
        daemon.close()
        raise
