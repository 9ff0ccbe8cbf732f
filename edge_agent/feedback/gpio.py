"""GPIO side of feedback: gpiozero Buzzer/LEDs that play patterns, and the session button.

This module and ``sensors`` are the only places that touch hardware. Tests swap in
gpiozero's ``MockFactory`` (``GPIOZERO_PIN_FACTORY=mock`` or ``pin_factory=``), so the
very objects used on the box are the ones exercised.
"""
from __future__ import annotations

import logging
import warnings
from functools import partial
from typing import Callable

from gpiozero import LED, Button, Buzzer
from gpiozero.exc import BadPinFactory, GPIOZeroError, PinFactoryFallback

from edge_agent.feedback.errors import FeedbackError

from .config import FeedbackConfig
from .patterns import Pattern

log = logging.getLogger(__name__)

_OUTPUT_PINS = {"buzzer": "buzzer_pin", "green": "green_led_pin",
                "amber": "amber_led_pin", "red": "red_led_pin"}


_fallbacks_logged = False


def _log_fallbacks(caught: list[warnings.WarningMessage]) -> None:
    """gpiozero warns once per pin library it could not load; one log line says it all."""
    global _fallbacks_logged
    tried = [str(w.message) for w in caught if issubclass(w.category, PinFactoryFallback)]
    for w in caught:
        if not issubclass(w.category, PinFactoryFallback):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if tried and not _fallbacks_logged:
        _fallbacks_logged = True
        log.info("GPIO pin library: %s", "; ".join(t.replace("Falling back from ", "no ")
                                                 for t in tried))


def _open_device(make: Callable[[], object], config: FeedbackConfig, key: str) -> object:
    pin = getattr(config, key)
    try:
        with warnings.catch_warnings(record=True) as fallbacks:
            warnings.simplefilter("always", PinFactoryFallback)
            device = make()
        _log_fallbacks(fallbacks)
        return device
    except BadPinFactory as exc:
        raise FeedbackError(
            f"no GPIO available for [feedback] {key} = {pin} ({exc}); on a machine without "
            f"GPIO set every [feedback] *_pin to -1, or GPIOZERO_PIN_FACTORY=mock to try it out"
        ) from exc
    except GPIOZeroError as exc:
        raise FeedbackError(f"cannot use GPIO {pin} for [feedback] {key}: {exc}") from exc


class GpioOutputs:
    """The buzzer and LEDs that are configured; ``play`` starts a pattern and returns at once.

    A new pattern pre-empts whatever is playing: outputs it does not use are switched off,
    so what the athlete sees always belongs to the latest event.
    """

    def __init__(self, config: FeedbackConfig, pin_factory: object | None = None) -> None:
        self.devices: dict[str, LED | Buzzer] = {}
        self._config = config
        try:
            for output, key in _OUTPUT_PINS.items():
                pin = getattr(config, key)
                if pin is None:
                    continue
                make = (partial(Buzzer, pin, active_high=config.buzzer_active_high)
                        if output == "buzzer" else partial(LED, pin))
                self.devices[output] = _open_device(
                    partial(make, pin_factory=pin_factory), config, key)
        except FeedbackError:
            self.close()
            raise
        log.info("feedback outputs ready: %s", self.describe())

    def describe(self) -> str:
        """``buzzer on GPIO 18, green on GPIO 23, ...`` (config numbering)."""
        return ", ".join(f"{o} on GPIO {getattr(self._config, _OUTPUT_PINS[o])}"
                         for o in self.devices) or "none configured"

    @property
    def has_amber(self) -> bool:
        return "amber" in self.devices

    def play(self, pattern: Pattern) -> None:
        if not self.has_amber:
            pattern = pattern.with_amber_as_red_and_green()
        for output, device in self.devices.items():
            track = pattern.tracks.get(output)
            if track is None:
                device.off()
            else:
                device.blink(track.on_s, track.off_s, track.n, background=True)

    def all_off(self) -> None:
        for device in self.devices.values():
            device.off()

    def close(self) -> None:
        for device in self.devices.values():
            device.close()
        self.devices.clear()


class SessionButton:
    """A push button that starts a session when none is running and ends the running one.

    The daemon owns the session state (it may also end a session for other reasons), so the
    button asks ``is_session_active`` at each press rather than keeping its own toggle.
    Debounce is gpiozero's ``bounce_time``. Callbacks run on gpiozero's event thread; an
    exception there is logged and the button keeps working.
    """

    def __init__(self, config: FeedbackConfig, *, is_session_active: Callable[[], bool],
                 start_session: Callable[[], object], end_session: Callable[[], object],
                 pin_factory: object | None = None) -> None:
        if config.button_pin is None:
            raise FeedbackError("[feedback] button_pin is disabled (-1); no session button")
        self._is_active = is_session_active
        self._start = start_session
        self._end = end_session
        self.presses = 0
        bounce = config.button_bounce_s or None
        self.button: Button = _open_device(
            partial(Button, config.button_pin, pull_up=True, bounce_time=bounce,
                    pin_factory=pin_factory), config, "button_pin")
        self.button.when_pressed = self._pressed
        log.info("session button ready on GPIO %d (press to start / end a session)",
                 config.button_pin)

    def _pressed(self) -> None:
        self.presses += 1
        try:
            if self._is_active():
                log.info("session button pressed: ending the session")
                self._end()
            else:
                log.info("session button pressed: starting a session")
                self._start()
        except Exception:
            log.exception("session button: the start/end action failed")

    def close(self) -> None:
        self.button.close()
