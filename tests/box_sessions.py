"""Sessions recorded the way a box records them and synced the way a box syncs them: the
simulator through the real daemon path (``edge_agent.daemon.oneshot.run_session``: store,
real-time loop and alerts, session analysis with the default model bundle), then the box's
outbox drained into PostgreSQL with ``sync.direct``. Used by the browser test,
``scripts/demo-coach`` and ``scripts/bench-web``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2

from edge_agent.config import validate
from edge_agent.daemon.oneshot import run_session
from edge_agent.store import LocalStore
from sensors.simulator import SimulatorSource, parse_faults
from sync.direct import DirectSink, PgWriter
from sync.worker import SyncWorker

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = REPO / "models" / "bundles" / "default"
NO_PINS = {k: -1 for k in ("buzzer_pin", "green_led_pin", "amber_led_pin", "red_led_pin",
                           "button_pin")}


def box_config(data_dir: Path, device_id: str) -> Any:
    return validate({"device": {"data_dir": str(data_dir), "id": device_id, "secrets_file": ""},
                     "feedback": {"console": False, **NO_PINS},
                     "daemon": {"model_bundle": str(DEFAULT_BUNDLE)}}, "<simulated box>")


def record_simulated_session(data_dir: Path, device_id: str, athlete: str | None, *,
                             lift: str = "squat", reps: int = 5, faults: str = "",
                             seed: int = 7, bar_load_kg: float = 60.0) -> str:
    """One simulated set through the daemon into the box's store at ``data_dir``."""
    source = SimulatorSource(lift=lift, reps=reps, faults=parse_faults(faults, reps), seed=seed,
                             bar_load_kg=bar_load_kg, realtime=False)
    return run_session(box_config(data_dir, device_id), source, lift, realtime=False,
                       athlete=athlete).session_id


def sync_box(data_dir: Path, device_id: str, dsn: str) -> None:
    """Drain the box's outbox into PostgreSQL; raises when something is left behind."""
    with LocalStore(data_dir, device_id) as store:
        worker = SyncWorker(store, DirectSink(PgWriter(lambda: psycopg2.connect(dsn)), device_id))
        for _ in range(5):
            report = worker.drain_once()
            if report.error is None and not store.backlog():
                worker.sink.close()
                return
        worker.sink.close()
        raise RuntimeError(f"the box outbox did not drain: {report.error or store.backlog()}")
