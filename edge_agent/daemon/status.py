"""What ``GET /status`` and the periodic health log line report.

Each part of the daemon reports on itself (readers, store, sessions, feedback, API, sync);
``Daemon.status`` gathers those reports into a :class:`StatusReports` and ``build_status``
lays them out, so this module knows the reports, not the daemon. ``last_committed_seq`` per
source is read back from the database by the store (a separate read-only connection sees only
committed transactions), so a frame at or below it is acknowledged: it survives ``kill -9``
and, with ``synchronous=FULL``, a power cut.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StatusReports:
    """The parts' own reports, as ``Daemon.status`` collected them."""

    ready: bool
    uptime_s: float
    device_id: str
    session: dict[str, Any] | None   # id, lift_type, last_committed_seq; None when idle
    last_summary: dict[str, Any] | None
    sources: dict[str, dict[str, Any]]   # per reader: ``SourceReader.status`` + rate_hz
    realtime: dict[str, Any]
    realtime_errors: dict[str, int]   # failed_steps, frames_dropped
    store: dict[str, Any]
    feedback: dict[str, Any]
    model: dict[str, Any] | None
    model_reason: str | None
    decision: Any
    sync: str
    sync_hold: Any
    sync_errors: dict[str, Any]   # restarts, last_error
    sessions: dict[str, Any]   # ``SessionManager.worker_status``
    api: dict[str, Any] | None
    threads: dict[str, bool]


def build_status(r: StatusReports) -> dict[str, Any]:
    store = r.store
    return {
        "ready": r.ready,
        "uptime_s": r.uptime_s,
        "device_id": r.device_id,
        "session": r.session,
        "last_summary": r.last_summary,
        "sources": r.sources,
        "sensor_faults": sum(s["faults"] for s in r.sources.values()),
        "realtime": r.realtime,
        "drops": {
            "ring_overwritten": {name: s["ring_overwritten"] for name, s in r.sources.items()},
            "store": store["dropped"],
            "feedback_queue_full": r.feedback["dropped_queue_full"],
        },
        "feedback": r.feedback,
        "model": r.model,
        "model_reason": r.model_reason,
        "decision": r.decision,
        "sync": r.sync,
        "sync_hold": r.sync_hold,
        "sync_backlog": store["outbox_backlog"],
        "disk": {k: store[k] for k in ("db_bytes", "db_used_bytes", "cap_bytes",
                                      "raw_capture_paused", "deleted_synced_chunks")},
        "store": {k: store[k] for k in ("queue_depth", "rejected_rows", "last_rejected",
                                       "writer_tick_failures", "last_commit_wall",
                                       "last_error", "writer_alive")},
        "api": r.api,
        "threads": r.threads,
        "threads_dead": [name for name, alive in r.threads.items() if not alive],
        "worker_errors": worker_errors(r),
    }


def worker_errors(r: StatusReports) -> dict[str, Any]:
    """What each worker caught, dropped and went on after (docs/daemon.md, "Bad values")."""
    return {
        "store_rejected_rows": r.store["rejected_rows"],
        "store_failed_ticks": r.store["writer_tick_failures"],
        "session_jobs_failed": r.sessions["jobs_failed"],
        "session_jobs_dropped": r.sessions["jobs_dropped"],
        "session_last_error": r.sessions["last_error"],
        "realtime_failed_steps": r.realtime_errors["failed_steps"],
        "realtime_frames_dropped": r.realtime_errors["frames_dropped"],
        "sync_restarts": r.sync_errors["restarts"],
        "sync_last_error": r.sync_errors["last_error"],
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
