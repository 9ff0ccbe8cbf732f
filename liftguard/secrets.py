"""Secrets: database password, MQTT password, API token, the web app's keys.

Looked up first in the environment, then in a separate TOML secrets file that only the service
user can read (0600). Never in the main config file and never in the repository. A secrets file
that group or others can read still works, but a warning says so, because a gym box is a shared,
physically exposed machine.
"""
from __future__ import annotations

import logging
import os
import stat
import tomllib
from pathlib import Path

from liftguard.config import Config
from liftguard.errors import ConfigError

log = logging.getLogger(__name__)

SECRET_NAMES: dict[str, str] = {
    "database_password": "LIFTGUARD_DATABASE_PASSWORD",
    "mqtt_password": "LIFTGUARD_MQTT_PASSWORD",
    "api_token": "LIFTGUARD_API_TOKEN",
    "bundle_key": "LIFTGUARD_BUNDLE_KEY",
    "web_secret_key": "LIFTGUARD_WEB_SECRET_KEY",  # signs the coach web app's session cookies
    "smtp_password": "LIFTGUARD_SMTP_PASSWORD",  # the coach web app's invitation e-mails
}


class Secrets:
    """Resolved secrets. ``get(name)`` returns None when a secret is not set anywhere."""

    def __init__(self, values: dict[str, str], sources: dict[str, str]) -> None:
        self._values = values
        self.sources = sources  # name -> "env:VAR" or "file:/path", for diagnostics only

    def get(self, name: str) -> str | None:
        if name not in SECRET_NAMES:
            raise KeyError(f"unknown secret {name!r}")
        return self._values.get(name)

    def __repr__(self) -> str:  # never print values
        return f"Secrets(set={sorted(self._values)})"


def _read_secrets_file(path: Path) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secrets file %s is readable by group/others (mode %o); "
                    "run: chmod 600 %s", path, stat.S_IMODE(mode), path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except PermissionError:
        raise ConfigError([f"{path}: secrets file is not readable (permission denied)"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: secrets file is not valid TOML: {exc}"]) from None
    problems = []
    values: dict[str, str] = {}
    for key, value in raw.items():
        if key not in SECRET_NAMES:
            problems.append(f"{path}: unknown secret '{key}' (known: {', '.join(SECRET_NAMES)})")
        elif not isinstance(value, str):
            problems.append(f"{path}: secret '{key}' must be a string")
        else:
            values[key] = value
    if problems:
        raise ConfigError(problems)
    return values


def load_secrets(secrets_file: str | os.PathLike[str] | None,
                 environ: dict[str, str] | None = None) -> Secrets:
    """Environment variables win over the file, so an operator can override one secret."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    if secrets_file:
        path = Path(secrets_file)
        for key, value in _read_secrets_file(path).items():
            values[key], sources[key] = value, f"file:{path}"
    for key, var in SECRET_NAMES.items():
        if env.get(var):
            values[key], sources[key] = env[var], f"env:{var}"
    return Secrets(values, sources)


def secrets_for(cfg: Config) -> Secrets:
    """The environment's secrets and those of ``[device] secrets_file`` when it is a file."""
    path = cfg.get("device.secrets_file")
    return load_secrets(path if path and Path(path).is_file() else None)
