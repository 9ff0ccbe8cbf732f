"""The real-time daemon: readers, ring buffers, the scoring loop, sessions, local API, status.

``build_daemon`` (``edge_agent.daemon.wiring``) wires them from the config and secrets;
``Daemon`` (``edge_agent.daemon.app``) runs them. ``liftguard run``, ``liftguard demo`` and
``liftguard replay`` all drive it. See docs/daemon.md.
"""
from edge_agent.daemon.app import Daemon
from edge_agent.daemon.errors import DaemonError, SessionError
from edge_agent.daemon.wiring import build_daemon

__all__ = ["Daemon", "DaemonError", "SessionError", "build_daemon"]
