"""Count the SQL statements a web request runs (tests and scripts/bench-web): a psycopg2
connection class whose cursors, of whatever cursor factory, count each ``execute``."""
from __future__ import annotations

import threading
from typing import Any

import psycopg2.extensions

from coach import WebSettings

_counts = threading.local()
_factories: dict[type, type] = {}


def reset() -> None:
    _counts.n = 0


def count() -> int:
    return getattr(_counts, "n", 0)


def _counting(factory: type) -> type:
    if factory not in _factories:
        def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
            _counts.n = getattr(_counts, "n", 0) + 1
            return factory.execute(self, *args, **kwargs)
        _factories[factory] = type(f"Counting{factory.__name__}", (factory,), {"execute": execute})
    return _factories[factory]


class CountingConnection(psycopg2.extensions.connection):
    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        factory = kwargs.pop("cursor_factory", None) or self.cursor_factory \
            or psycopg2.extensions.cursor
        return super().cursor(*args, cursor_factory=_counting(factory), **kwargs)


class CountingSettings(WebSettings):
    """WebSettings whose pool connections count their statements."""

    def connect_kwargs(self) -> dict[str, Any]:
        return {**super().connect_kwargs(), "connection_factory": CountingConnection}
