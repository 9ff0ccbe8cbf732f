"""The product as an operator deploys it, for integration tests and scripts/bench-commands:
real PostgreSQL after `liftguard db migrate` and `scripts/create-db-roles`, users made with
`liftguard web create-user`, real Mosquitto with the shipped ACL and password file, and each
server process started by its own command with a config file and its secrets in the
environment: `liftguard ingest`, `liftguard web`, and a box `liftguard run` on the simulator.
Nothing here builds a component an entry point builds."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.command_support import ACL_FILE, LOGINS
from tests.support.daemon_helpers import NO_PINS, free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
# Test-only passwords for throw-away services, not secrets of anything real.
DB_PASSWORD = "pw-db-role"
WEB_SECRET = "test-web-secret-key-" + "x" * 40
USER_PASSWORD = "a-long-test-password-1"


def _toml(sections: dict[str, dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(v)
    return "".join(f"[{name}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in keys.items())
                   for name, keys in sections.items())


def liftguard(*argv: str, env: dict[str, str] | None = None, stdin: str | None = None,
              check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "liftguard", *argv], cwd=REPO,
                         env={**os.environ, **(env or {})}, input=stdin, text=True,
                         capture_output=True, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"liftguard {' '.join(argv)} exited {out.returncode}: "
                             f"{out.stderr[-2000:]}")
    return out


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, limit_s: float = 60.0) -> None:
        deadline = time.monotonic() + limit_s
        while needle not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {needle!r} in its log "
                                     f"(exit {self.proc.poll()}):\n{self.text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@dataclass
class Deployment:
    """One database and broker with the roles, logins and configs of a small installation."""
    pg_db: Any
    broker: Any
    dir: Path
    roles: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    web_port: int = 0

    @classmethod
    def install(cls, pg_db: Any, mosquitto_factory: Any, directory: Path,
                broker: Any = None) -> "Deployment":
        broker = broker or mosquitto_factory(users=LOGINS, acl=ACL_FILE.read_text())
        directory.mkdir(parents=True, exist_ok=True)
        d = cls(pg_db, broker, directory)
        suffix = uuid.uuid4().hex[:8]   # roles are cluster-wide; tests share the cluster
        d.roles = {"box": f"lg_box_{suffix}", "ingest": f"lg_ingest_{suffix}",
                   "web": f"lg_web_{suffix}"}
        liftguard("db", "migrate", "--dsn", pg_db.dsn)
        env = {f"LIFTGUARD_DB_PASSWORD_{name.upper()}": DB_PASSWORD for name in d.roles.values()}
        out = subprocess.run([str(SCRIPTS / "create-db-roles"), "--dsn", pg_db.dsn,
                              "--writer", d.roles["box"], "--writer", d.roles["ingest"],
                              "--web", d.roles["web"]], env={**os.environ, **env}, text=True,
                             capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr
        d.web_port = free_port()
        return d

    def _dsn(self, role: str) -> str:
        server = self.pg_db.server
        return (f"host={server.host} port={server.port} dbname={self.pg_db.name} "
                f"user={self.roles[role]}")

    def _mqtt(self, login: str) -> dict[str, Any]:
        return {"host": self.broker.host, "port": self.broker.port, "username": login,
                "tls": False, "keepalive": 5}

    def _env(self, mqtt_login: str | None) -> dict[str, str]:
        env = {"LIFTGUARD_DATABASE_PASSWORD": DB_PASSWORD, "LIFTGUARD_WEB_SECRET_KEY": WEB_SECRET,
               "PYTHONUNBUFFERED": "1", "GPIOZERO_PIN_FACTORY": "mock"}
        if mqtt_login:
            env["LIFTGUARD_MQTT_PASSWORD"] = LOGINS[mqtt_login]
        return env

    def config(self, name: str, sections: dict[str, dict[str, Any]]) -> Path:
        path = self.dir / f"{name}.toml"
        base = {"device": {"secrets_file": "", "data_dir": str(self.dir / f"{name}-data")}}
        for section, keys in sections.items():
            base.setdefault(section, {}).update(keys)
        path.write_text(_toml(base))
        return path

    def web_config(self) -> Path:
        return self.config("web", {"database": {"dsn": self._dsn("web")},
                                   "mqtt": self._mqtt("liftguard-web"),
                                   "web": {"port": self.web_port, "workers": 1, "threads": 4,
                                           "secure_cookies": False}})

    def create_user(self, role: str, email: str, first: str = "Test") -> None:
        liftguard("--config", str(self.web_config()), "web", "create-user", "--email", email,
                  "--first-name", first, "--last-name", role.capitalize(), "--role", role,
                  env=self._env(None), stdin=USER_PASSWORD + "\n")

    def spawn(self, name: str, argv: list[str], mqtt_login: str | None) -> Process:
        log = self.dir / f"{name}.log"
        proc = subprocess.Popen([sys.executable, "-m", "liftguard", *argv], cwd=REPO,
                                env={**os.environ, **self._env(mqtt_login)},
                                stdout=log.open("ab"), stderr=subprocess.STDOUT)
        p = Process(name, proc, log)
        self.processes.append(p)
        return p

    def start_ingest(self) -> Process:
        cfg = self.config("ingest", {"database": {"dsn": self._dsn("ingest")},
                                     "mqtt": self._mqtt("liftguard-ingest-1"),
                                     "ingest": {"client_id": "liftguard-ingest-1"}})
        p = self.spawn("ingest", ["ingest", "--config", str(cfg)], "liftguard-ingest-1")
        p.wait_log("subscribed to $share/liftguard/")
        p.wait_log("cmd/ack")
        p.wait_log("/+/status")
        return p

    def start_web(self) -> Process:
        p = self.spawn("web", ["--config", str(self.web_config()), "web"], "liftguard-web")
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.web_url}/login", timeout=2):
                    break
            except OSError:   # refused, reset or timed out while the worker boots
                if p.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"liftguard web did not answer:\n{p.text()[-3000:]}")
                time.sleep(0.1)
        return p

    def start_box(self, mode: str, device: str = "box-1", reps: int = 40,
                  interval_s: float = 1.0) -> Process:
        sections: dict[str, dict[str, Any]] = {
            "device": {"id": device}, "source": {"kind": "simulator"},
            "simulator": {"reps": reps, "realtime": True}, "api": {"port": free_port()},
            "feedback": {**NO_PINS, "console": False},
            "sync": {"mode": mode, "interval_s": interval_s, "hold_unsynced_clock_s": 0},
            "store": {"commit_interval_s": 0.2}}
        if mode == "mqtt":
            sections["mqtt"] = self._mqtt(device)
        else:
            sections["database"] = {"dsn": self._dsn("box")}
        cfg = self.config(device, sections)
        return self.spawn(device, ["--config", str(cfg), "run"],
                          device if mode == "mqtt" else None)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def stop(self) -> dict[str, int]:
        return {p.name: p.stop() for p in reversed(self.processes)}
