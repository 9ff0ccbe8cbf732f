"""Real PostgreSQL and Mosquitto servers for integration tests, on free loopback ports.

Each server lives in its own temporary directory and can be stopped and started again on the
same port with the same data, so tests can simulate a database or broker outage.

PostgreSQL refuses to run as root, and tests (and CI) often run as root. When the current user
is root, every server process runs as an unprivileged service account instead (``postgres`` or
``mosquitto`` when the Debian package created it, else ``nobody``), and the server's directory
is handed to that account. As a normal user, the servers simply run as that user.

A test run killed before its teardown (a CI timeout, kill -9) leaves servers running. Each
server directory records the pid of the run that made it; creating a server first stops and
deletes the servers of runs that are no longer alive.
"""
from __future__ import annotations

import glob
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MOSQUITTO_BINARY = "/usr/sbin/mosquitto"
START_TIMEOUT_S = 30.0
OWNER_FILE = "owner.pid"


class ServiceUnavailable(Exception):
    """A server binary is missing or cannot be run here; tests skip with this message."""


class ServiceError(Exception):
    """A server failed to start or stop; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True)
class RunAs:
    """The account server processes run as: the current user, or a service account under root."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""

    @classmethod
    def for_service(cls, preferred: str) -> "RunAs":
        if os.geteuid() != 0:
            return cls()
        for name in (preferred, "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(entry.pw_uid, entry.pw_gid, name)
        raise ServiceUnavailable(f"running as root and neither '{preferred}' nor 'nobody' "
                                 "exists to run the server as")

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        """Hand ``path`` (recursively) to the service account."""
        if self.uid is None:
            return
        for p in [path, *path.rglob("*")]:
            os.chown(p, self.uid, self.gid)


def _traversable_by_others(directory: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [directory, *directory.parents])


def _service_parent(run_as: RunAs) -> Path:
    """Where server directories go: $TMPDIR, unless the service account cannot reach it."""
    parent = Path(tempfile.gettempdir())
    if run_as.uid is not None and not _traversable_by_others(parent):
        parent = Path("/tmp")
    return parent


def make_service_dir(prefix: str, run_as: RunAs) -> Path:
    """A fresh private directory for one server, stamped with the pid of this test run."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=_service_parent(run_as)))
    (path / OWNER_FILE).write_text(f"{os.getpid()}\n")
    run_as.own(path)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_until_dead(pid: int, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until ``pid`` has exited (a zombie counts: its sockets are closed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)


def abandoned_service_dirs(prefix: str, run_as: RunAs) -> list[Path]:
    """Server directories whose test run died without cleaning up (killed by a timeout...)."""
    found = []
    for path in _service_parent(run_as).glob(prefix + "*"):
        try:
            owner = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours to judge (another user's, or half made)
        if not _pid_alive(owner):
            found.append(path)
    return found


def reap_abandoned_postgres(bin_dir: Path, run_as: RunAs) -> list[Path]:
    """Stop and delete PostgreSQL servers whose test run died; returns their directories."""
    paths = abandoned_service_dirs("liftguard-pg-", run_as)
    for path in paths:
        if (path / "data" / "postmaster.pid").exists():
            log.warning("stopping PostgreSQL left running by a dead test run in %s", path)
            subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(path / "data"), "-m", "immediate",
                            "-w", "stop"], cwd=path, capture_output=True,
                           **run_as.popen_kwargs())
        shutil.rmtree(path, ignore_errors=True)
    return paths


def reap_abandoned_mosquitto(run_as: RunAs) -> list[Path]:
    """Kill and delete Mosquitto brokers whose test run died; returns their directories."""
    paths = abandoned_service_dirs("liftguard-mqtt-", run_as)
    for path in paths:
        try:
            pid = int((path / "broker.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            pid, cmdline = 0, b""
        if pid and str(path).encode() in cmdline:
            log.warning("stopping Mosquitto left running by a dead test run in %s", path)
            os.kill(pid, signal.SIGKILL)
            _wait_until_dead(pid)
        shutil.rmtree(path, ignore_errors=True)
    return paths


def find_postgres_bin() -> Path:
    """Directory holding initdb and pg_ctl: $LIFTGUARD_PG_BIN, Debian's newest, or PATH."""
    candidates = []
    if os.environ.get("LIFTGUARD_PG_BIN"):
        candidates.append(Path(os.environ["LIFTGUARD_PG_BIN"]))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    candidates += [Path(p) for p in reversed(debian)]
    if shutil.which("pg_ctl"):
        candidates.append(Path(shutil.which("pg_ctl")).parent)
    for c in candidates:
        if (c / "pg_ctl").is_file() and (c / "initdb").is_file():
            return c
    raise ServiceUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found in "
                             "/usr/lib/postgresql/*/bin or PATH; install the 'postgresql' "
                             "package or set LIFTGUARD_PG_BIN")


class PostgresServer:
    """A throw-away PostgreSQL cluster: password (SCRAM) auth over TCP on 127.0.0.1 only.

    ``stop()`` then ``start()`` restarts it on the same port with the same data directory.
    fsync is off for speed: a committed transaction still survives ``stop("immediate")`` (a
    simulated crash of PostgreSQL, not of the operating system), because commits still wait for
    their WAL to reach the operating system.
    """

    superuser = "postgres"

    def __init__(self, bin_dir: Path | None = None, port: int | None = None) -> None:
        self.bin_dir = bin_dir or find_postgres_bin()
        self.run_as = RunAs.for_service("postgres")
        self.host = LOOPBACK
        self.port = port or free_port()
        self._port_chosen_by_caller = port is not None
        self.password = secrets.token_urlsafe(18)
        reap_abandoned_postgres(self.bin_dir, self.run_as)
        self.base_dir = make_service_dir("liftguard-pg-", self.run_as)
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_file = self.base_dir / "postgresql.log"
        self._initdb()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
               "HOME": str(self.base_dir)}
        proc = subprocess.run([str(self.bin_dir / tool), *args], cwd=self.base_dir, env=env,
                              capture_output=True, text=True, **self.run_as.popen_kwargs())
        if check and proc.returncode != 0:
            raise ServiceError(f"{tool} {' '.join(args)} failed (exit {proc.returncode}): "
                               f"{proc.stderr.strip() or proc.stdout.strip()}\n"
                               f"server log:\n{_log_tail(self.log_file)}")
        return proc

    def _initdb(self) -> None:
        pwfile = self.base_dir / "initdb.pw"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self.socket_dir.mkdir(mode=0o700)
        self.run_as.own(self.base_dir)
        try:
            self._run("initdb", "-D", str(self.data_dir), "-U", self.superuser,
                      f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                      "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
        finally:
            pwfile.unlink()
        self._write_settings()

    def _write_settings(self) -> None:
        settings = {
            "listen_addresses": f"'{self.host}'", "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off", "full_page_writes": "off",
            "max_connections": "40", "shared_buffers": "16MB",
        }
        (self.data_dir / "postgresql.auto.conf").write_text(
            "".join(f"{k} = {v}\n" for k, v in settings.items()))
        self.run_as.own(self.data_dir / "postgresql.auto.conf")

    def start(self) -> None:
        for attempt in range(3):
            proc = self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                             "-w", "-t", str(int(START_TIMEOUT_S)), "start", check=False)
            if proc.returncode == 0:
                log.info("PostgreSQL test server up on %s:%d", self.host, self.port)
                return
            port_taken = "could not bind" in _log_tail(self.log_file, 40)
            if not port_taken or self._port_chosen_by_caller or attempt == 2:
                raise ServiceError(f"PostgreSQL did not start on port {self.port}: "
                                   f"{proc.stderr.strip()}\n{_log_tail(self.log_file)}")
            self.port = free_port()
            self._write_settings()

    def stop(self, mode: str = "fast") -> None:
        """``mode``: smart, fast (clean shutdown) or immediate (like a crash; recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def dsn(self, dbname: str = "postgres", user: str | None = None,
            password: str | None = None) -> str:
        """libpq key/value DSN; the superuser's password unless another user is named."""
        user = user or self.superuser
        if password is None and user == self.superuser:
            password = self.password
        parts = [f"host={self.host}", f"port={self.port}", f"dbname={dbname}", f"user={user}"]
        if password is not None:
            parts.append(f"password='{password}'")
        return " ".join(parts)

    def connect(self, dbname: str = "postgres", **kwargs: Any):
        import psycopg2
        return psycopg2.connect(self.dsn(dbname, kwargs.pop("user", None),
                                         kwargs.pop("password", None)), **kwargs)

    def _admin(self, sql: str) -> None:
        conn = self.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Create an empty database and return its superuser DSN."""
        self._admin(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        if self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)


@dataclass(frozen=True)
class PgDatabase:
    """One database on a ``PostgresServer``."""

    server: PostgresServer
    name: str

    @property
    def dsn(self) -> str:
        """Superuser DSN (password included) for this database."""
        return self.server.dsn(self.name)

    def dsn_for(self, user: str, password: str | None) -> str:
        return self.server.dsn(self.name, user=user, password=password)

    def connect(self, **kwargs: Any):
        return self.server.connect(self.name, **kwargs)


class MosquittoBroker:
    """A Mosquitto broker listening on 127.0.0.1 only.

    Without ``users`` it allows anonymous clients. With ``users`` ({name: password}) it
    requires a password file (made with ``mosquitto_passwd``) and, when ``acl`` is given, applies
    that ACL text (Mosquitto's acl_file syntax, e.g. ``pattern write liftguard/%u/#``).
    ``stop()`` then ``start()`` restarts it on the same port; with ``persistence`` (default)
    queued QoS 1 messages of persistent sessions survive the restart.
    """

    def __init__(self, users: dict[str, str] | None = None, acl: str | None = None,
                 persistence: bool = True, port: int | None = None,
                 binary: str = MOSQUITTO_BINARY, extra_conf: tuple[str, ...] = ()) -> None:
        """``extra_conf``: more mosquitto.conf lines (e.g. the shipped example's limits)."""
        if not Path(binary).is_file():
            raise ServiceUnavailable(f"Mosquitto broker not found at {binary}; install the "
                                     "'mosquitto' package")
        self.binary = binary
        self.run_as = RunAs.for_service("mosquitto")
        self.host = LOOPBACK
        self.port = port or free_port()
        self._port_chosen_by_caller = port is not None
        reap_abandoned_mosquitto(self.run_as)
        self.base_dir = make_service_dir("liftguard-mqtt-", self.run_as)
        self.conf_file = self.base_dir / "mosquitto.conf"
        self.log_file = self.base_dir / "mosquitto.log"
        self._users, self._acl, self._persistence = users, acl, persistence
        self._extra_conf = tuple(extra_conf)
        self._proc: subprocess.Popen | None = None
        if users:
            self._write_password_file(users)
        if acl is not None:
            (self.base_dir / "acl").write_text(acl)
        self._write_conf()

    def _write_password_file(self, users: dict[str, str]) -> None:
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        if not Path(tool).is_file():
            raise ServiceUnavailable("mosquitto_passwd not found; install the 'mosquitto' package")
        path = self.base_dir / "passwd"
        for i, (name, password) in enumerate(users.items()):
            flags = ["-c", "-b"] if i == 0 else ["-b"]
            subprocess.run([tool, *flags, str(path), name, password], check=True,
                           capture_output=True)
        path.chmod(0o600)

    def _write_conf(self) -> None:
        lines = [f"listener {self.port} {self.host}",
                 f"allow_anonymous {'false' if self._users else 'true'}",
                 "log_dest stderr", "log_type error", "log_type warning", "log_type notice",
                 "log_type information", "connection_messages true",
                 f"persistence {'true' if self._persistence else 'false'}",
                 f"persistence_location {self.base_dir}/"]
        if self._users:
            lines.append(f"password_file {self.base_dir / 'passwd'}")
        if self._acl is not None:
            lines.append(f"acl_file {self.base_dir / 'acl'}")
        lines += self._extra_conf
        self.conf_file.write_text("\n".join(lines) + "\n")
        self.run_as.own(self.base_dir)

    def start(self) -> None:
        for attempt in range(3):
            if self._start_once():
                log.info("Mosquitto test broker up on %s:%d", self.host, self.port)
                return
            port_taken = "Address already in use" in _log_tail(self.log_file, 40)
            if not port_taken or self._port_chosen_by_caller or attempt == 2:
                raise ServiceError(f"Mosquitto did not start on port {self.port}:\n"
                                   f"{_log_tail(self.log_file)}")
            self.port = free_port()
            self._write_conf()

    def _start_once(self) -> bool:
        with self.log_file.open("ab") as log_fh:
            self._proc = subprocess.Popen([self.binary, "-c", str(self.conf_file)],
                                          stdout=log_fh, stderr=subprocess.STDOUT,
                                          cwd=self.base_dir, **self.run_as.popen_kwargs())
        (self.base_dir / "broker.pid").write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if port_accepts(self.port):
                return True
            time.sleep(0.02)
        self.stop(kill=True)
        return False

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (clean, saves persistence) or, with ``kill``, SIGKILL like a crash."""
        if self._proc is None or self._proc.poll() is not None:
            return
        if kill:
            self._proc.kill()
        else:
            self._proc.terminate()
        self._proc.wait(timeout=START_TIMEOUT_S)

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def destroy(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)
