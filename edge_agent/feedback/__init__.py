"""Athlete feedback: buzzer/LED patterns (gpiozero), alert gating, console text, session button.

The daemon builds ``GpioOutputs`` and ``SessionButton`` from a ``FeedbackConfig`` and hands
the outputs to a ``FeedbackDispatcher``, which the real-time loop calls without blocking.

Names are loaded on first use (PEP 562): config validation needs ``FeedbackConfig`` only, and
must not pull in gpiozero or numpy for a command as light as ``liftguard status``.
"""
from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "FeedbackConfig": "config", "ConsoleSink": "console", "rep_text": "console",
    "FeedbackDispatcher": "dispatcher", "PatternPlayer": "dispatcher",
    "FeedbackError": "errors", "GpioOutputs": "gpio", "SessionButton": "gpio",
    "PinLibrary": "pin_library", "open_pin_library": "pin_library",
    "PATTERNS": "patterns", "Blink": "patterns", "Event": "patterns", "Pattern": "patterns",
    "AlertPolicy": "policy", "Verdict": "policy",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
