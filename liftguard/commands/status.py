"""`liftguard status`: the running daemon's GET /status, for a person."""
from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from liftguard.secrets import load_secrets


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="ask the running daemon how it is doing")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=run)


class DaemonUnreachable(Exception):
    """The daemon's local API did not answer; the message says where it was asked."""


def daemon_status(cfg: Any, timeout_s: float = 3.0) -> dict[str, Any]:
    """The running daemon's GET /status (its local API, token from the secrets)."""
    host = cfg.get("api.bind")
    host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    req = urllib.request.Request(f"http://{host}:{cfg.get('api.port')}/status")
    secrets_file = cfg.get("device.secrets_file")
    token = load_secrets(secrets_file if secrets_file and Path(secrets_file).is_file()
                         else None).get("api_token")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DaemonUnreachable(f"the daemon does not answer on {req.full_url} ({exc}); is "
                                f"'liftguard run' running?") from None


def run(args: argparse.Namespace) -> int:
    try:
        status = daemon_status(args.cfg)
    except DaemonUnreachable as exc:
        print(f"liftguard: {exc}")
        return 1
    print(json.dumps(status, indent=2) if args.json else human(status))
    return 0


def pairs(value: object, prefix: str = "") -> str:
    """A nested dict as ``a 1, b.c 2`` for a terminal (zero and empty entries left out)."""
    if not isinstance(value, dict):
        return f"{prefix} {value}".strip()
    parts = [pairs(v, f"{prefix}.{k}" if prefix else str(k)) for k, v in value.items()
             if v not in (0, None, {}, [], "")]
    return ", ".join(p for p in parts if p)


def human(s: dict) -> str:
    lines = [f"liftguard {s['device_id']}: {'ready' if s['ready'] else 'starting'}, "
             f"up {s['uptime_s']:.0f} s"]
    sess = s.get("session")
    lines.append(f"session: {sess['id']} ({sess['lift_type']})" if sess else "session: none")
    for name, h in s["sources"].items():
        lines.append(f"  {name:<9} {h['state']:<12} {h['frames']} frames, {h.get('rate_hz') or '-'} Hz,"
                     f" {h['errors']} errors, {h['faults']} faults"
                     + (f" (last: {h['last_error']})" if h.get("last_error") else ""))
    rt = s["realtime"]
    lat = rt["decision_latency_ms"] or {}
    lines.append(f"decisions: {rt['decisions']} (p99 {lat.get('p99', '-')} ms), alerts {rt['alerts']}")
    lines.append(f"model: {s['model']['bundle'] if s['model'] else 'none - ' + str(s['model_reason'])}")
    lines.append(f"drops: {pairs(s['drops']) or 'none'}")
    disk = s["disk"]
    lines.append(f"disk: {disk['db_bytes'] / 1e6:.1f} MB of {(disk['cap_bytes'] or 0) / 1e6:.0f} MB cap"
                 + (", RAW CAPTURE PAUSED" if disk["raw_capture_paused"] else ""))
    lines.append(f"sync backlog: {pairs(s['sync_backlog']) or 'empty'}")
    lines.append(sync_hold_line(s))
    return "\n".join(lines)


def sync_hold_line(s: dict) -> str:
    """The sync mode and whether it waits for NTP, for ``liftguard status``."""
    hold = s.get("sync_hold")
    return f"sync: {s['sync']}, {describe_sync_hold(hold)}" if hold else f"sync: {s['sync']}"


def describe_sync_hold(hold: dict | None) -> str:
    """Whether sync waits for NTP (``[sync] hold_unsynced_clock_s``) and how much longer, from
    the clock gate's state (``ClockGatedOutbox.hold_state`` in /status)."""
    if not hold:
        return "not held for the clock"
    held = f"{hold.get('hold_unsynced_clock_s') or 0:.0f} s hold"
    if hold.get("waiting_for_ntp"):
        return (f"waiting for NTP: {hold.get('remaining_s') or 0:.0f} s left of the {held} "
                "([sync] hold_unsynced_clock_s); nothing is sent until then")
    if hold.get("gave_up_waiting"):
        return f"clock still not NTP-synchronised: sending anyway after the {held}"
    return "not waiting for NTP (clock synchronised)"
