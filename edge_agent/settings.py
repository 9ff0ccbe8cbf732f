"""What the box reads from its configuration and secrets, declared here so that the box
depends on no file format: ``liftguard.config.Config`` and ``liftguard.secrets.Secrets``
satisfy these, and the command line hands them to ``edge_agent.daemon.wiring.build_daemon``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class Settings(Protocol):
    """The validated configuration: ``get("section.key")`` and whole sections."""

    def get(self, dotted: str) -> Any: ...

    def section(self, name: str) -> dict[str, Any]: ...

    @property
    def data_dir(self) -> Path: ...

    def data_path(self, configured: str, default_name: str) -> Path: ...


class SecretLookup(Protocol):
    """Resolved secrets: ``get(name)`` is the value or None when it is not set."""

    def get(self, name: str) -> str | None: ...
