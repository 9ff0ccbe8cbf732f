"""Helpers shared by the daemon tests (tests/box, tests/cli): configs, free ports, HTTP calls, waiting."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from liftguard.config import Config, validate

NO_PINS = {k: -1 for k in ("buzzer_pin", "green_led_pin", "amber_led_pin", "red_led_pin",
                           "button_pin")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(data_dir: Path, **sections: dict[str, Any]) -> Config:
    raw: dict[str, dict[str, Any]] = {"device": {"data_dir": str(data_dir), "id": "test-box",
                                                 "secrets_file": ""},
                                      "feedback": {"console": False}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return validate(raw, "<test>")


def call(base: str, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def simulated_box_config(directory: Path, device_id: str, port: int,
                         simulator: dict[str, Any], extra: str = "") -> Path:
    """A config file for `liftguard run` on the simulator with its API on ``port``; data in
    ``directory / 'data'``; ``extra`` is more TOML."""
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in simulator.items())
    path = directory / "config.toml"
    path.write_text(f'[device]\nid = "{device_id}"\ndata_dir = "{directory / "data"}"\n'
                    f'secrets_file = ""\n[source]\nkind = "simulator"\n[simulator]\n{lines}\n'
                    f"[api]\nport = {port}\n{extra}")
    return path


def start_daemon(config_path: Path, log_path: Path) -> subprocess.Popen:
    """`liftguard run` as a process, mock GPIO, output appended to ``log_path``."""
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "liftguard", "--config", str(config_path),
                             "run"], stdout=log_path.open("ab"), stderr=subprocess.STDOUT,
                            env=env)


def ready_status(base: str) -> dict[str, Any] | None:
    """A running daemon's ``/status`` once it is ready; None before (or while it is down)."""
    try:
        status, st = call(base, "GET", "/status")
    except OSError:
        return None
    return st if status == 200 and st["ready"] else None


def wait_for(predicate: Callable[[], Any], limit_s: float = 20.0, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; the limit only stops a hang (not a timing check)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def record_set_and_drain(daemon: Any) -> str:
    """On a started daemon with a finite simulated source: one session over the whole set,
    analysed, committed and drained from the outbox; returns its id."""
    sid = daemon.sessions.try_start("squat", "api")
    wait_for(daemon.sources_finished, 60, "the simulated set to finish")
    daemon.sessions.try_end(sid, "api")
    daemon.sessions.wait_idle(60)
    daemon.store.flush()
    wait_for(lambda: not daemon.store.backlog(), 60, "the outbox to drain")
    return sid
