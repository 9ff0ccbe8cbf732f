"""`liftguard feedback check`: which pin library drives the buzzer, LEDs and button, and
(``--play``) a short test pattern on each output so an operator can hear and see it work."""
from __future__ import annotations

import argparse

from gpiozero import Button

from edge_agent.feedback import FeedbackConfig, FeedbackError, GpioOutputs, open_pin_library

# Each output in turn: two short pulses, so a dead buzzer or LED is told apart from the rest.
TEST_ON_S, TEST_OFF_S, TEST_PULSES = 0.15, 0.15, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feedback", help="buzzer, LEDs and session button tools")
    psub = p.add_subparsers(dest="feedback_command", metavar="ACTION")
    psub.required = True
    check = psub.add_parser(
        "check", help="name the GPIO pin library in use and open the configured pins",
        description="Name the GPIO pin library that drives the buzzer, LEDs and session "
                    "button, and open the configured pins. Stop liftguard-agent first: "
                    "a pin in use by the daemon cannot be opened twice.")
    check.add_argument("--play", action="store_true",
                       help="pulse the buzzer, then each LED, twice (about 2 s)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    fb = FeedbackConfig.from_section(args.cfg.section("feedback"))
    if not fb.uses_gpio:
        print("OK   feedback: every [feedback] *_pin is -1; feedback on the console only")
        return 0
    library = open_pin_library(args.cfg.data_dir)
    if not library.usable:
        print(f"FAIL pin library: {library.describe()}")
        print("     the buzzer cannot sound; the LEDs and the session button do not work")
        return 1
    print(f"OK   pin library: {library.describe()}")
    try:
        outputs = GpioOutputs(fb, pin_factory=library.factory)
    except FeedbackError as exc:
        print(f"FAIL outputs: {exc}")
        return 1
    try:
        print(f"OK   outputs: {outputs.describe()}")
        if fb.button_pin is not None:
            button = Button(fb.button_pin, pull_up=True, pin_factory=library.factory)
            try:
                state = "pressed" if button.is_pressed else "released"
            finally:
                button.close()
            print(f"OK   session button: GPIO {fb.button_pin}, {state} now")
        if args.play:
            for output, device in outputs.devices.items():
                print(f"     playing: {output} ({TEST_PULSES} pulses)", flush=True)
                device.blink(TEST_ON_S, TEST_OFF_S, TEST_PULSES, background=False)
            print("OK   test pattern played: you should have heard the buzzer and seen "
                  "each LED flash twice")
    finally:
        outputs.close()
    return 0
