"""The real-time daemon: readers, ring buffers, the scoring loop, sessions, local API, status.

``Daemon`` (``edge_agent.daemon.app``) wires them from a ``Config``; ``liftguard run``,
``liftguard demo`` and ``liftguard replay`` all drive it. See docs/daemon.md.
"""
from edge_agent.daemon.app import Daemon, DaemonError
from edge_agent.daemon.sessions import SessionError

__all__ = ["Daemon", "DaemonError", "SessionError"]
