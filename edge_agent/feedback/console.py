"""Text feedback: every message goes to the log, and to stdout when the console is enabled.

In a terminal (``liftguard demo`` / ``replay`` / ``run``) the athlete or coach reads stdout
directly. Under systemd stdout *is* the journal (``$JOURNAL_STREAM`` names it), where the log
line already stands, so the text is not printed a second time.
"""
from __future__ import annotations

import logging
import os
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
        """The line once: printed on the console, or (journal, console off) logged. When
        printed it is logged at DEBUG only, so a terminal does not show it twice; a warning
        (device fault) is always logged as a warning."""
        stream = self._stream or sys.stdout
        printed = self.enabled and not writes_to_journal(stream)
        log.log(logging.DEBUG if printed and level <= logging.INFO else level,
                "feedback: %s", text)
        if printed:
            print(text, file=stream, flush=True)


def writes_to_journal(stream: TextIO) -> bool:
    """True when ``stream`` is the journal stream systemd connected (``$JOURNAL_STREAM`` is
    its ``device:inode``, as systemd.exec(5) documents for this check)."""
    journal = os.environ.get("JOURNAL_STREAM")
    if not journal:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # e.g. an in-memory stream
        return False
    return journal == f"{st.st_dev}:{st.st_ino}"
