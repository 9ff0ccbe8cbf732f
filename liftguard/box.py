"""The box's daemon and sessions as the command line builds them: the config file's secrets
are resolved here, in the shell, and handed to ``edge_agent`` with the validated config."""
from __future__ import annotations

from typing import Any

from edge_agent.daemon.app import Daemon
from edge_agent.daemon.oneshot import SessionRun, run_session
from edge_agent.daemon.wiring import build_daemon
from liftguard.config import Config
from liftguard.secrets import secrets_for
from sensors.source import FrameSource


def box_daemon(cfg: Config, **options: Any) -> Daemon:
    """The daemon for ``cfg`` with its secrets (options as ``build_daemon`` takes them)."""
    return build_daemon(cfg, secrets_for(cfg), **options)


def run_box_session(cfg: Config, source: FrameSource, lift: str, **options: Any) -> SessionRun:
    """One session over ``source`` through the full daemon path (``run_session``)."""
    return run_session(cfg, secrets_for(cfg), source, lift, **options)
