"""Text feedback: every message goes to the log, and to stdout when the console is enabled.

Under systemd stdout lands in the journal next to the log; in a terminal (``liftguard
simulate`` / ``replay``) the athlete or coach reads it directly.
"""
from __future__ import annotations

import logging
import sys
from typing import TextIO

log = logging.getLogger(__name__)


def rep_text(rep_index: int, problem: str | None) -> str:
    """One line per finished rep, as shown on the console and stored with the session."""
    return f"rep {rep_index}: clean" if problem is None else f"rep {rep_index}: {problem}"


class ConsoleSink:
    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self._stream = stream

    def write(self, text: str, level: int = logging.INFO) -> None:
        log.log(level, "feedback: %s", text)
        if self.enabled:
            stream = self._stream or sys.stdout
            print(text, file=stream, flush=True)
