"""What ``GET /status`` and the periodic health log line report.

``last_committed_seq`` per source is read back from the database (a separate read-only
connection sees only committed transactions), so a frame at or below it is acknowledged:
it survives ``kill -9`` and, with ``synchronous=FULL``, a power cut.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.daemon.app import Daemon

log = logging.getLogger(__name__)


def committed_seq(db_path: Path, session_id: str) -> dict[str, int]:
    """Highest committed ``seq`` per source of one session."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return {}
    try:
        rows = conn.execute("SELECT source, MAX(seq_last) FROM sensor_data WHERE session_id = ? "
                            "GROUP BY source", (session_id,)).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {source: int(seq) for source, seq in rows}


def build_status(d: "Daemon") -> dict[str, Any]:
    store = d.store.status()
    threads = d.threads.status()
    sid = d.sessions.active_id
    sources = {}
    for r in d.readers:
        sources[r.name] = {
            **r.source.health.as_dict(),
            "faults": r.faults,
            "ring_frames": len(r.ring),
            "ring_overwritten": r.ring.overwritten,
            "rate_hz": d.rates.get(r.name),
        }
    return {
        "ready": d.ready.is_set(),
        "uptime_s": round(time.monotonic() - d.started_monotonic, 3),
        "device_id": d.device_id,
        "session": None if sid is None else {
            "id": sid, "lift_type": d.sessions.active_lift,
            "last_committed_seq": committed_seq(d.store.path, sid)},
        "last_summary": d.sessions.last_summary,
        "sources": sources,
        "sensor_faults": sum(r.faults for r in d.readers),
        "realtime": d.loop.status(),
        "drops": {
            "ring_overwritten": {r.name: r.ring.overwritten for r in d.readers},
            "store": store["dropped"],
            "feedback_queue_full": d.dispatcher.status()["dropped_queue_full"],
        },
        "feedback": {**d.dispatcher.status(), "gpio": d.gpio_state},
        "model": d.model_info,
        "model_reason": d.model_reason,
        "decision": d.scorer.describe(),
        "sync": d.sync_state,
        "sync_hold": None if d.sync_outbox is None else d.sync_outbox.hold_state(),
        "sync_backlog": store["outbox_backlog"],
        "disk": {k: store[k] for k in ("db_bytes", "db_used_bytes", "cap_bytes",
                                      "raw_capture_paused", "deleted_synced_chunks")},
        "store": {k: store[k] for k in ("queue_depth", "rejected_rows", "last_rejected",
                                       "writer_tick_failures", "last_commit_wall",
                                       "last_error", "writer_alive")},
        "api": None if d.api is None else {
            "requests_in_progress": d.api.server.in_progress,
            "refused_busy": d.api.server.refused_busy,
            "connections_cut_off": d.api.server.cut_off},
        "threads": threads,
        "threads_dead": [name for name, alive in threads.items() if not alive],
        "worker_errors": worker_errors(d, store),
    }


def worker_errors(d: "Daemon", store: dict[str, Any]) -> dict[str, Any]:
    """What each worker caught, dropped and went on after (docs/daemon.md, "Bad values")."""
    sync = d.sync_supervisor
    return {
        "store_rejected_rows": store["rejected_rows"],
        "store_failed_ticks": store["writer_tick_failures"],
        "session_jobs_failed": d.sessions.jobs_failed,
        "session_jobs_dropped": d.sessions.jobs_dropped,
        "session_last_error": d.sessions.last_job_error,
        "realtime_failed_steps": d.loop_failures,
        "realtime_frames_dropped": d.loop_frames_dropped,
        "sync_restarts": 0 if sync is None else sync.restarts,
        "sync_last_error": None if sync is None else sync.last_error,
    }


def health_line(status: dict[str, Any]) -> str:
    """One line for journalctl: sensors with their rates, decisions, drops, sync, disk."""
    src = ", ".join(
        f"{n} {s['state']} {'-' if s['rate_hz'] is None else s['rate_hz']} Hz "
        f"{s['frames']} frames {s['errors']} errors"
        for n, s in status["sources"].items())
    rt = status["realtime"]
    lat = rt["decision_latency_ms"] or {}
    sess = status["session"]["id"] if status["session"] else "none"
    drops = status["drops"]
    dropped = (sum((drops["store"] or {}).values()) + sum(drops["ring_overwritten"].values()) + drops["feedback_queue_full"])
    disk = status["disk"]
    return (f"health: session {sess}; {src}; {rt['decisions']} decisions "
            f"(p99 {lat.get('p99', '-')} ms), {rt['alerts']} alerts; store queue "
            f"{status['store']['queue_depth']}, {dropped} dropped; sync {status['sync']}, "
            f"backlog {sum(status['sync_backlog'].values()) if status['sync_backlog'] else 0}; "
            f"disk {disk['db_bytes'] / 1e6:.1f} of {disk['cap_bytes'] / 1e6:.0f} MB"
            f"{', raw capture PAUSED' if disk['raw_capture_paused'] else ''}"
            f"{'; DEAD threads: ' + ', '.join(status['threads_dead']) if status.get('threads_dead') else ''}")
