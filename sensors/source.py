"""The interface every sample source implements, hardware or not."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from sensors.frame import Frame


@dataclass
class SourceHealth:
    """Counters an operator reads in `/status` and in the periodic health log line."""

    frames: int = 0
    lost_samples: int = 0
    errors: int = 0
    retries: int = 0
    reconnects: int = 0
    state: str = "stopped"  # stopped | running | degraded | disconnected | finished
    last_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "extra"}
        d.update(self.extra)
        return d


class FrameSource(abc.ABC):
    """A source of frames for one set of channels.

    ``poll()`` never blocks for long (at most one short bus transaction or a few ms): the
    real-time loop calls it and must not wait on a slow or unplugged sensor. Hardware errors
    are counted in ``health`` and retried with backoff; they do not raise out of ``poll()``.
    """

    name: str
    channels: tuple[str, ...]

    def __init__(self) -> None:
        self.health = SourceHealth()

    @abc.abstractmethod
    def start(self) -> None:
        """Open the device (or file) and begin sampling."""

    @abc.abstractmethod
    def poll(self) -> list[Frame]:
        """Return the frames that are ready now, oldest first (possibly none)."""

    def stop(self) -> None:
        """Release the device. Safe to call twice."""
        self.health.state = "stopped"

    @property
    def exhausted(self) -> bool:
        """True when a finite source (replay, fast simulator) has yielded its last frame."""
        return False

    def __enter__(self) -> "FrameSource":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class UnavailableSource(FrameSource):
    """A configured sensor that cannot be used until an operator acts (e.g. uncalibrated load
    cells): it yields nothing, and ``/status`` shows it as ``unavailable`` with the reason, so
    the daemon runs on the sensors that work instead of refusing to start."""

    def __init__(self, name: str, channels: tuple[str, ...], reason: str) -> None:
        super().__init__()
        self.name, self.channels = name, channels
        self.health.state, self.health.last_error = "unavailable", reason

    def start(self) -> None:
        self.health.state = "unavailable"

    def poll(self) -> list[Frame]:
        return []

    def stop(self) -> None:
        """Stays ``unavailable``: nothing was opened."""
