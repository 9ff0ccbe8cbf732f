"""Configuration: one TOML file read with tomllib and validated against a declared schema.

Every problem (unknown key, wrong type, out-of-range value, missing required key) becomes one
line naming the file and the key; ``load_config`` raises ``ConfigError`` with all of them and
the CLI exits 2. Secrets never live in this file: they come from environment variables or from
a separate secrets file (see ``liftguard.secrets``).
"""
from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from liftguard.errors import ConfigError
from sync.lifts import LIFT_TYPES
from sync.velocity_limit import check_limit_pct

DEFAULT_CONFIG_PATH = Path("/etc/liftguard/config.toml")

_REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """One allowed key: its type, default (or required), and an optional value check.

    ``check`` returns an error text (without the key name) or None.
    """

    type: type | tuple[type, ...]
    default: Any = _REQUIRED
    check: Callable[[Any], str | None] | None = None
    help: str = ""


def in_range(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"is out of range {lo}..{hi}"
    return check


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(map(repr, choices))}"
    return check


def velocity_loss_limit(v: Any) -> str | None:
    """0 (off) or a limit the start command would accept (``models.velocity_cue``)."""
    if v == 0:
        return None
    try:
        check_limit_pct(v, "it")
    except ValueError as exc:
        return f"{str(exc).removeprefix('it ')} (0 = off)"
    return None


def _default_device_id() -> str:
    return socket.gethostname() or "liftguard"


SCHEMA: dict[str, dict[str, Key]] = {
    "device": {
        "id": Key(str, _default_device_id, help="box identity, used in topics and database rows"),
        "data_dir": Key(str, "/var/lib/liftguard", help="local store, calibration and model files"),
        "secrets_file": Key(str, "/etc/liftguard/secrets.toml"),
    },
    "logging": {
        "level": Key(str, "INFO", one_of("DEBUG", "INFO", "WARNING", "ERROR")),
    },
    "source": {
        "kind": Key(str, "hardware", one_of("hardware", "simulator", "replay"),
                    help="hardware = IMU + load cells; simulator; replay = a recording CSV"),
        "replay_file": Key(str, ""),
    },
    "imu": {
        "enabled": Key(bool, True),
        "bus": Key(int, 1, in_range(0, 31), help="I2C bus number: /dev/i2c-<bus>"),
        "address": Key(int, 0x68, one_of(0x68, 0x69)),
        "sample_rate_hz": Key(int, 200, in_range(4, 1000)),
        "dlpf_hz": Key(int, 44, one_of(260, 184, 94, 44, 21, 10, 5)),
        "accel_range_g": Key(int, 8, one_of(2, 4, 8, 16)),
        "gyro_range_dps": Key(int, 1000, one_of(250, 500, 1000, 2000)),
        "calibration_file": Key(str, "", help="default: <data_dir>/imu-calibration.json"),
    },
    "loadcells": {
        "enabled": Key(bool, True),
        "port": Key(str, "/dev/ttyACM0", help="device path or pyserial URL (loop://, spy://...)"),
        "baudrate": Key(int, 115200, in_range(9600, 4_000_000)),
        "calibration_file": Key(str, "", help="default: <data_dir>/loadcell-calibration.json"),
        "bench_on_platform": Key(bool, True, help="the bench press's bench stands on the platform "
                                                  "(else it cannot weigh the bar)"),
    },
    "simulator": {
        "lift": Key(str, "squat", one_of(*LIFT_TYPES)),
        "reps": Key(int, 8, in_range(1, 100)),
        "seed": Key(int, 7, in_range(0, 2**32 - 1)),
        "faults": Key(str, "", help="e.g. 'lateral_sway@3,tilt@6'"),
        "athlete_mass_kg": Key((int, float), 80.0, in_range(30, 250)),
        "bar_load_kg": Key((int, float), 60.0, in_range(0, 500)),
        "realtime": Key(bool, True),
    },
    "feedback": {
        "buzzer_pin": Key(int, 18, in_range(-1, 27), help="BCM pin number; -1 disables"),
        "green_led_pin": Key(int, 23, in_range(-1, 27)),
        "amber_led_pin": Key(int, 24, in_range(-1, 27)),
        "red_led_pin": Key(int, 25, in_range(-1, 27)),
        "button_pin": Key(int, 17, in_range(-1, 27), help="a press starts, a press ends a session"),
        "buzzer_active_high": Key(bool, True),
        "button_bounce_s": Key((int, float), 0.05, in_range(0, 1)),
        "quiet": Key(bool, False, help="LEDs only, no buzzer"),
        "console": Key(bool, True),
        "min_alert_gap_s": Key((int, float), 2.0, in_range(0, 60)),
        "alert_on": Key((int, float), 0.9, in_range(0, 1)),
        "alert_off": Key((int, float), 0.6, in_range(0, 1)),
        "velocity_loss_limit_pct": Key((int, float), 0, velocity_loss_limit,
                                       help="stop-the-set cue at this velocity loss; 0 = off"),
    },
    "store": {
        "cap_mb": Key(int, 4096, in_range(16, 1_000_000),
                      help="local store size cap; then synced raw chunks go, oldest first"),
        "commit_interval_s": Key((int, float), 1.0, in_range(0.05, 1.0),
                                 help="batch writes; the power-cut loss bound"),
        "synchronous": Key(str, "FULL", one_of("FULL", "NORMAL")),
    },
    "database": {
        "dsn": Key(str, "", help="libpq DSN without password; password comes from the secrets"),
    },
    "mqtt": {
        "host": Key(str, ""),
        "port": Key(int, 8883, in_range(1, 65535)),
        "username": Key(str, ""),
        "tls": Key(bool, True),
        "ca_file": Key(str, "", help="CA bundle for the broker's certificate; empty: system CAs"),
        "client_cert": Key(str, "", help="client certificate (PEM) when the broker wants one"),
        "client_key": Key(str, "", help="its private key (PEM, mode 0600)"),
        "keepalive": Key(int, 30, in_range(5, 3600), help="seconds; also how fast a dead link is noticed"),
    },
    "sync": {
        "mode": Key(str, "direct", one_of("direct", "mqtt", "off"),
                    help="direct = psycopg2 to [database] dsn; mqtt = via the broker and ingester"),
        "batch_size": Key(int, 200, in_range(1, 5000), help="outbox entries per transaction / publish round"),
        "interval_s": Key((int, float), 5.0, in_range(0.1, 3600), help="pause between drains when idle"),
        "backoff_max_s": Key((int, float), 300.0, in_range(1, 3600), help="longest retry delay (jittered)"),
        "window": Key(int, 400, in_range(1, 100_000), help="mqtt: entries awaiting a commit ack at most"),
        "resend_after_s": Key((int, float), 60.0, in_range(1, 86_400),
                              help="mqtt: send again what got no commit ack in this time"),
        "roster_file": Key(str, "", help="default: <data_dir>/roster.json"),
        "hold_unsynced_clock_s": Key((int, float), 900.0, in_range(0, 86_400),
                                     help="wait this long for NTP before syncing anyway"),
    },
    "ingest": {
        "group": Key(str, "liftguard", help="shared-subscription group: $share/<group>/liftguard/v1/+/+"),
        "client_id": Key(str, "", help="stable MQTT client id (persistent session); default liftguard-ingest-<hostname>"),
        "batch_max_messages": Key(int, 200, in_range(1, 10_000)),
        "batch_max_wait_s": Key((int, float), 0.05, in_range(0, 5)),
        "max_payload_bytes": Key(int, 262_144, in_range(1024, 268_435_455)),
        "receive_maximum": Key(int, 1000, in_range(1, 65_535),
                               help="unacknowledged messages the broker may send at once"),
    },
    "api": {
        "bind": Key(str, "127.0.0.1"),
        "port": Key(int, 8765, in_range(1, 65535)),
    },
    "web": {
        "bind": Key(str, "127.0.0.1", help="coach web app address; keep it local behind a TLS proxy"),
        "port": Key(int, 8000, in_range(1, 65535)),
        "workers": Key(int, 2, in_range(1, 64), help="gunicorn worker processes"),
        "threads": Key(int, 4, in_range(1, 64), help="threads per worker (and its pool size - 1)"),
        "signup": Key(str, "invitation", one_of("invitation", "open"),
                      help="after the first admin: invitations only, or open athlete sign-up"),
        "secure_cookies": Key(bool, True, help="session cookie only over HTTPS; false for plain-HTTP LAN use"),
        "proxy_hops": Key(int, 0, in_range(0, 5),
                          help="trusted reverse proxies setting X-Forwarded-For/-Proto; 0 = none"),
        "session_hours": Key(int, 12, in_range(1, 24 * 30)),
        "invitation_days": Key(int, 7, in_range(1, 90)),
        "page_size": Key(int, 25, in_range(5, 500)),
        "login_window_s": Key(int, 3600, in_range(60, 86_400),
                              help="failed sign-ins count towards the delays for this long"),
        "login_free_failures_per_account_address": Key(int, 3, in_range(1, 1000),
                                                       help="then this address waits for this email"),
        "login_free_failures_per_address": Key(int, 20, in_range(1, 100_000),
                                               help="then this address waits for every email"),
        "login_max_delay_s": Key(int, 900, in_range(1, 86_400),
                                 help="longest wait for one email from one address"),
        "login_max_address_delay_s": Key(int, 60, in_range(1, 3600),
                                         help="longest wait for a whole address (NAT: keep short)"),
        "public_url": Key(str, "", help="https://coach.example.org: the base of links in e-mails"),
        "smtp_host": Key(str, "", help="invitation e-mails go through this server; empty = no e-mail"),
        "smtp_port": Key(int, 587, in_range(1, 65535)),
        "smtp_security": Key(str, "starttls", one_of("starttls", "tls", "none"),
                             help="none only for a relay on this machine"),
        "smtp_user": Key(str, "", help="login at the SMTP server (password: smtp_password secret)"),
        "smtp_from": Key(str, "", help="sender address of invitation e-mails"),
        "smtp_timeout_s": Key(int, 10, in_range(1, 120)),
    },
    "daemon": {
        "hop_hz": Key((int, float), 10, in_range(1, 100), help="real-time decisions per second"),
        "window_s": Key((int, float), 1.0, in_range(0.1, 10), help="scored window length"),
        "ring_frames": Key(int, 4096, in_range(64, 1_000_000),
                           help="per-source buffer between reader and loop; oldest dropped"),
        "poll_interval_s": Key((int, float), 0.005, in_range(0.001, 0.1)),
        "auto_start": Key(bool, False, help="load on the platform + bar motion starts a session"),
        "auto_start_lift": Key(str, "squat", one_of(*LIFT_TYPES)),
        "auto_start_load_n": Key((int, float), 300.0, in_range(10, 20_000)),
        "idle_end_s": Key((int, float), 0, in_range(0, 86_400),
                          help="end a session after this long without bar motion; 0 = never"),
        "status_log_interval_s": Key((int, float), 300, in_range(0, 86_400), help="0 = never"),
        "model_bundle": Key(str, "", help="default: <data_dir>/models/default"),
    },
}


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "integer", float: "number", str: "string"}
    ts = t if isinstance(t, tuple) else (t,)
    return " or ".join(names.get(x, x.__name__) for x in ts)


def _type_ok(value: Any, t: type | tuple[type, ...]) -> bool:
    ts = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in ts:
        return False  # TOML true is not an integer here
    return isinstance(value, ts)


@dataclass
class Config:
    """Validated configuration: ``cfg.section("imu")["sample_rate_hz"]`` or ``cfg.get("imu.bus")``."""

    path: Path | None
    values: dict[str, dict[str, Any]]

    def section(self, name: str) -> dict[str, Any]:
        return self.values[name]

    def get(self, dotted: str) -> Any:
        section, key = dotted.split(".", 1)
        return self.values[section][key]

    @property
    def data_dir(self) -> Path:
        return Path(self.values["device"]["data_dir"])

    def data_path(self, configured: str, default_name: str) -> Path:
        """A file path from config, or ``<data_dir>/<default_name>`` when left empty."""
        return Path(configured) if configured else self.data_dir / default_name


def validate(raw: dict[str, Any], origin: str = "<config>") -> Config:
    problems: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    for section_name in raw:
        if section_name not in SCHEMA:
            problems.append(f"{origin}: unknown section [{section_name}] "
                            f"(known: {', '.join(SCHEMA)})")
        elif not isinstance(raw[section_name], dict):
            problems.append(f"{origin}: '{section_name}' must be a table [{section_name}]")
    for section_name, keys in SCHEMA.items():
        given = raw.get(section_name, {})
        if not isinstance(given, dict):
            given = {}
        section: dict[str, Any] = {}
        for key_name in given:
            if key_name not in keys:
                problems.append(f"{origin}: unknown key [{section_name}] {key_name} "
                                f"(known: {', '.join(keys)})")
        for key_name, key in keys.items():
            where = f"{origin}: [{section_name}] {key_name}"
            if key_name not in given:
                if key.default is _REQUIRED:
                    problems.append(f"{where} is required but missing")
                    continue
                section[key_name] = key.default() if callable(key.default) else key.default
                continue
            value = given[key_name]
            if isinstance(value, str) and "\x00" in value:
                problems.append(f"{where} holds a NUL character (\\u0000)")
                continue
            if not _type_ok(value, key.type):
                problems.append(f"{where} = {value!r} has the wrong type: "
                                f"expected {_type_name(key.type)}")
                continue
            if key.check is not None and (msg := key.check(value)) is not None:
                problems.append(f"{where} = {value!r} {msg}")
                continue
            section[key_name] = value
        values[section_name] = section
    if not problems:
        problems += [f"{origin}: {p}" for p in _cross_key_problems(values)]
    if problems:
        raise ConfigError(problems)
    return Config(path=None, values=values)


def _cross_key_problems(values: dict[str, dict[str, Any]]) -> list[str]:
    """Checks that involve several keys live with the code that owns the section."""
    from edge_agent.feedback.config import FeedbackConfig

    try:
        FeedbackConfig.from_section(values["feedback"])
    except ValueError as exc:
        return str(exc).split("; ")
    return []


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """Read and validate a config file. ``None`` gives the embedded defaults."""
    if path is None:
        return validate({}, "<defaults>")
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([f"{p}: config file not found"]) from None
    except PermissionError:
        raise ConfigError([f"{p}: config file is not readable (permission denied)"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{p}: is a directory, not a config file"]) from None
    except OSError as exc:
        raise ConfigError([f"{p}: config file cannot be read: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{p}: not valid TOML: byte {exc.object[exc.start]:#04x} at offset "
                           f"{exc.start} is not UTF-8"]) from None
    except RecursionError:
        raise ConfigError([f"{p}: not valid TOML: arrays or tables nested too deeply"]) from None
    cfg = validate(raw, str(p))
    cfg.path = p
    return cfg
