"""Athlete feedback: buzzer/LED patterns (gpiozero), alert gating, console text, session button.

The daemon builds ``GpioOutputs`` and ``SessionButton`` from a ``FeedbackConfig`` and hands
the outputs to a ``FeedbackDispatcher``, which the real-time loop calls without blocking.
"""
from .config import FeedbackConfig
from .console import ConsoleSink, rep_text
from .dispatcher import FeedbackDispatcher, PatternPlayer
from .gpio import FeedbackError, GpioOutputs, SessionButton
from .patterns import PATTERNS, Blink, Event, Pattern
from .policy import AlertPolicy, Verdict

__all__ = [
    "AlertPolicy", "Blink", "ConsoleSink", "Event", "FeedbackConfig", "FeedbackDispatcher",
    "FeedbackError", "GpioOutputs", "PATTERNS", "Pattern", "PatternPlayer", "SessionButton",
    "Verdict", "rep_text",
]
