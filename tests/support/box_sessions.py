"""Sessions recorded the way a box records them and synced the way a box syncs them: the
simulator through the real daemon path (``liftguard.box.run_box_session``: store,
real-time loop and alerts, session analysis with the default model bundle), then the box's
outbox drained into PostgreSQL with ``sync.direct``. Used by the browser test,
``scripts/demo-coach`` and ``scripts/bench-web``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2

from edge_agent.store import LocalStore
from liftguard.box import run_box_session
from liftguard.config import validate
from sensors.simulator import SimulatorSource, parse_faults
from sync.direct import DirectSink, PgWriter
from sync.worker import SyncWorker

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO / "models" / "bundles" / "default"
NO_PINS = {k: -1 for k in ("buzzer_pin", "green_led_pin", "amber_led_pin", "red_led_pin",
                           "button_pin")}


def box_config(data_dir: Path, device_id: str, velocity_loss_limit_pct: float = 0) -> Any:
    return validate({"device": {"data_dir": str(data_dir), "id": device_id, "secrets_file": ""},
                     "feedback": {"console": False, **NO_PINS,
                                  "velocity_loss_limit_pct": velocity_loss_limit_pct},
                     "daemon": {"model_bundle": str(DEFAULT_BUNDLE)}}, "<simulated box>")


def record_simulated_session(data_dir: Path, device_id: str, athlete: str | None, *,
                             lift: str = "squat", reps: int = 5, faults: str = "",
                             seed: int = 7, bar_load_kg: float = 60.0,
                             velocity_loss_limit_pct: float = 0,
                             entered_bar_load_kg: float | None = None, **load_path: Any) -> str:
    """One simulated set through the daemon into the box's store at ``data_dir``
    (``load_path``: the simulator's bench_setup / lockout_hold_s / spotter_rep)."""
    source = SimulatorSource(lift=lift, reps=reps, faults=parse_faults(faults, reps), seed=seed,
                             bar_load_kg=bar_load_kg, realtime=False, **load_path)
    return run_box_session(box_config(data_dir, device_id, velocity_loss_limit_pct), source, lift,
                       realtime=False, athlete=athlete,
                       bar_load_kg=entered_bar_load_kg).session_id


def sync_box(data_dir: Path, device_id: str, dsn: str) -> None:
    """Drain the box's outbox into PostgreSQL; raises when something is left behind."""
    with LocalStore(data_dir, device_id) as store:
        drain(store, device_id, dsn)


def drain(store: LocalStore, device_id: str, dsn: str) -> None:
    worker = SyncWorker(store, DirectSink(PgWriter(lambda: psycopg2.connect(dsn)), device_id))
    try:
        for _ in range(5):
            report = worker.drain_once()
            if report.error is None and not store.backlog():
                return
    finally:
        worker.sink.close()
    raise RuntimeError(f"the box outbox did not drain: {report.error or store.backlog()}")


def record_loaded_session(data_dir: Path, device_id: str, athlete: str, bar_load_kg: float, *,
                          lift: str = "squat", reps: int = 4, seed: int = 7,
                          end: bool = True, dsn: str | None = None) -> str:
    """A simulated set at ``bar_load_kg`` written through the box's store API as a box whose
    session was started with a load writes it: raw frames, then (when ``end``) the box's
    analysis (``models.analysis``) with ``bar_load_kg`` in every rep's metrics, the summary
    and the set feedback. The daemon cannot be given a load yet (docs/web-review.md). With ``dsn``
    the outbox is synced before the store closes (a session left running stays active: the
    next opening of the store would end it as crash-recovered)."""
    from models.analysis import analyze_frames
    from models.feedback_text import rep_feedback, set_feedback
    from sensors.simulator import simulate_set

    sim = simulate_set(lift=lift, reps=reps, seed=seed, bar_load_kg=bar_load_kg)
    with LocalStore(data_dir, device_id) as store:
        t0 = sim.frames[0].mono_ns
        sid = store.start_session(lift, athlete, wall_clock_synced=True, start_mono_ns=t0)
        step = 280
        for i in range(0, len(sim.frames), step):
            store.submit_frames(sid, sim.frames[i:i + step])
            store.flush()
        if end:
            analysis = analyze_frames(sim.frames, lift)
            for k, rep in enumerate(analysis.reps):
                store.submit_rep(sid, rep.number, t0 + int(rep.start_s * 1e9),
                                 t0 + int(rep.end_s * 1e9),
                                 {**rep.as_dict(), "bar_load_kg": bar_load_kg},
                                 balance_score=rep.balance_score,
                                 stability_score=rep.stability_score, injury_risk=rep.injury_risk,
                                 feedback_text=rep_feedback(rep, earlier=analysis.reps[:k]))
            s = analysis.summary
            store.submit_metrics(sid, s.get("balance_score"), s.get("stability_score"),
                                 s.get("injury_risk"), s)
            store.submit_feedback(sid, set_feedback(analysis.reps, s), summary=True)
            store.end_session(sid, "button", end_mono_ns=sim.frames[-1].mono_ns)
        store.flush()
        if dsn is not None:
            drain(store, device_id, dsn)
    return sid
