"""Console output shows each line once; gpiozero's pin-library fallbacks become one log line."""
from __future__ import annotations

import io
import logging
import warnings

from gpiozero.exc import PinFactoryFallback

from edge_agent.feedback import gpio
from edge_agent.feedback.config import FeedbackConfig
from edge_agent.feedback.console import ConsoleSink


def test_printed_feedback_is_logged_at_debug_only(caplog):
    stream = io.StringIO()
    with caplog.at_level(logging.DEBUG):
        ConsoleSink(True, stream).write("rep 1: clean")
        ConsoleSink(False, stream).write("rep 2: clean")
    assert stream.getvalue() == "rep 1: clean\n"
    levels = {r.getMessage(): r.levelno for r in caplog.records}
    assert levels == {"feedback: rep 1: clean": logging.DEBUG,
                      "feedback: rep 2: clean": logging.INFO}


def test_pin_factory_fallbacks_are_one_log_line(caplog, monkeypatch):
    monkeypatch.setattr(gpio, "_fallbacks_logged", False)

    def make():
        warnings.warn("Falling back from lgpio: No module named 'lgpio'", PinFactoryFallback)
        warnings.warn("Falling back from rpigpio: No module named 'RPi'", PinFactoryFallback)
        return object()
    with warnings.catch_warnings(record=True) as escaped, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        gpio._open_device(make, FeedbackConfig(), "buzzer_pin")
        gpio._open_device(make, FeedbackConfig(), "green_led_pin")
    assert not escaped
    lines = [r.getMessage() for r in caplog.records if "pin library" in r.getMessage()]
    assert lines == ["GPIO pin library: no lgpio: No module named 'lgpio'; "
                     "no rpigpio: No module named 'RPi'"]
