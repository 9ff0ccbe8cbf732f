"""Feedback on gpiozero's MockFactory: the real Buzzer/LED/Button objects drive mock pins,
and the recorded pin states are checked against the pattern table (edge_agent.feedback.patterns).

MockPin.states holds (seconds since the previous change, state). Timing checks are one-sided
and generous: a loaded machine only ever makes waits longer, never shorter.
"""
from __future__ import annotations

import io
import logging
import os
import threading
import time
from dataclasses import dataclass

import pytest
from gpiozero import LED, Device
from gpiozero.pins.mock import MockFactory

from edge_agent.feedback import (
    PATTERNS,
    Blink,
    ConsoleSink,
    Event,
    FeedbackConfig,
    FeedbackDispatcher,
    FeedbackError,
    GpioOutputs,
    Pattern,
    SessionButton,
    Verdict,
)
from sensors.clock import ManualClock

EARLY_S = 0.02   # timer granularity
LATE_S = 0.25    # scheduling delay on a busy 2-core box
OUTPUT_KEYS = {"buzzer": "buzzer_pin", "green": "green_led_pin",
               "amber": "amber_led_pin", "red": "red_led_pin"}


def pins_config(first_pin: int, **overrides) -> FeedbackConfig:
    """Four consecutive GPIOs for buzzer, green, amber, red, and the next one for the button.

    Start at 4 or above: GPIO 2 and 3 have fixed pull-ups (I2C) and read high once released.
    """
    pins = dict(zip(list(OUTPUT_KEYS.values()) + ["button_pin"], range(first_pin, first_pin + 5)))
    return FeedbackConfig(**{**pins, **overrides})


def output_pins(factory: MockFactory, cfg: FeedbackConfig) -> dict:
    return {out: factory.pin(getattr(cfg, key)) for out, key in OUTPUT_KEYS.items()
            if getattr(cfg, key) is not None}


def clear(pins: dict) -> None:
    for pin in pins.values():
        pin.clear_states()


def expected_states(blink: Blink | None) -> list[bool]:
    return [False] + [True, False] * blink.n if blink else [False]


def expected_durations(blink: Blink) -> list[float]:
    """Seconds between successive changes after the first switch-on: on, off, on, ..., on."""
    return ([blink.on_s, blink.off_s] * blink.n)[:-1]


LONGEST_OFF_S = max(b.off_s for p in PATTERNS.values() for b in p.tracks.values())


def wait_settled(pins: dict, timeout_s: float = 8.0) -> None:
    """Wait (bounded) until every pin is off and has stayed unchanged longer than any
    pattern's off time, i.e. the pattern has finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = [len(p.states) for p in pins.values()]
        time.sleep(LONGEST_OFF_S + 0.3)
        after = [len(p.states) for p in pins.values()]
        if not any(p.state for p in pins.values()) and before == after:
            return


def assert_track(pin, blink: Blink | None, what: str) -> None:
    states = [s.state for s in pin.states]
    assert states == expected_states(blink), f"{what}: states {states}"
    if blink is None:
        return
    measured = [s.timestamp for s in pin.states[2:]]
    for i, (got, want) in enumerate(zip(measured, expected_durations(blink))):
        assert want - EARLY_S <= got <= want + LATE_S, \
            f"{what}: segment {i} lasted {got:.3f} s, expected {want} s"


@dataclass
class RecordedPin:
    states: list


@pytest.fixture(scope="module")
def played_patterns(mock_factory):
    """Every pattern played, each on its own set of four mock pins, as many at once as GPIO
    4..27 hold (saves wall time)."""
    recorded = {}
    events = list(Event)
    per_round = (27 - 4 + 1) // 4
    for first in range(0, len(events), per_round):
        runs = {}
        for i, event in enumerate(events[first:first + per_round]):
            cfg = pins_config(4 + 4 * i, button_pin=None)
            outputs = GpioOutputs(cfg)
            pins = output_pins(mock_factory, cfg)
            clear(pins)
            runs[event] = (outputs, pins)
        for event, (outputs, _) in runs.items():
            outputs.play(PATTERNS[event])
        wait_settled({f"{e}{o}": p for e, (_, pins) in runs.items() for o, p in pins.items()})
        recorded.update({event: {o: RecordedPin(list(p.states)) for o, p in pins.items()}
                         for event, (_, pins) in runs.items()})
        for outputs, _ in runs.values():
            outputs.close()
    return recorded


@pytest.mark.parametrize("event", list(Event), ids=lambda e: e.value)
def test_pattern_drives_the_pins_as_in_the_table(played_patterns, event):
    pattern = PATTERNS[event]
    for output, pin in played_patterns[event].items():
        assert_track(pin, pattern.tracks.get(output), f"{event.value}/{output}")


@pytest.fixture
def outputs_without_amber(mock_factory):
    cfg = pins_config(4, amber_led_pin=None, button_pin=None)
    outputs = GpioOutputs(cfg)
    pins = output_pins(mock_factory, cfg)
    clear(pins)
    yield outputs, pins
    outputs.close()


def test_without_amber_led_red_and_green_light_together(outputs_without_amber):
    outputs, pins = outputs_without_amber
    outputs.play(PATTERNS[Event.REP_PROBLEM])
    wait_settled(pins)
    amber = PATTERNS[Event.REP_PROBLEM].tracks["amber"]
    assert set(pins) == {"buzzer", "green", "red"}
    assert_track(pins["red"], amber, "red as amber")
    assert_track(pins["green"], amber, "green as amber")
    assert_track(pins["buzzer"], PATTERNS[Event.REP_PROBLEM].tracks["buzzer"], "buzzer")


def test_new_pattern_switches_off_outputs_it_does_not_use(outputs_without_amber):
    outputs, pins = outputs_without_amber
    outputs.play(Pattern(Event.DEVICE_FAULT, {"red": Blink(5.0)}))
    outputs.play(Pattern(Event.REP_CLEAN, {"green": Blink(0.1)}))
    wait_settled(pins)
    assert [s.state for s in pins["red"].states] == [False, True, False]
    assert pins["red"].states[-1].timestamp < 5.0


def test_pin_already_in_use_is_refused_naming_the_key(mock_factory):
    squatter = LED(27)
    try:
        with pytest.raises(FeedbackError, match=r"GPIO 27 for \[feedback\] red_led_pin"):
            GpioOutputs(FeedbackConfig(buzzer_pin=None, green_led_pin=None, amber_led_pin=None,
                                       red_led_pin=27, button_pin=None))
        LED(26).close()  # nothing was left reserved by the failed attempt
    finally:
        squatter.close()


def test_no_gpio_at_all_is_a_clear_error(monkeypatch, mock_factory):
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    with pytest.raises(FeedbackError, match=r"no GPIO available for \[feedback\] buzzer_pin"):
        GpioOutputs(FeedbackConfig())


# --- dispatcher on real outputs ---

@pytest.fixture
def box(mock_factory):
    """A dispatcher on mock pins with a manual clock; yields (dispatcher, pins, clock, stdout)."""
    cfg = pins_config(4, button_pin=None)
    pins = output_pins(mock_factory, cfg)
    clock, stdout = ManualClock(), io.StringIO()
    made = []

    def make(**overrides):
        c = FeedbackConfig(**{**cfg.__dict__, **overrides})
        d = FeedbackDispatcher(c, GpioOutputs(c), clock=clock,
                               console=ConsoleSink(c.console, stdout))
        clear(pins)
        made.append(d)
        return d

    yield make, pins, clock, stdout
    for d in made:
        d.close()


def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_instability_decision_plays_the_alert_pattern(box):
    make, pins, _, _ = box
    dispatcher = make()
    assert dispatcher.on_decision(0.2) is Verdict.NONE
    assert dispatcher.on_decision(0.97) is Verdict.ALERT
    wait_settled(pins)
    for output, pin in pins.items():
        assert_track(pin, PATTERNS[Event.INSTABILITY].tracks.get(output), output)
    assert dispatcher.status()["instability_alerts"] == 1


def test_borderline_signal_buzzes_once_per_gap(box):
    make, pins, clock, _ = box
    dispatcher = make()
    cfg_on, cfg_off = FeedbackConfig().alert_on, FeedbackConfig().alert_off
    for _ in range(15):  # 3 s of decisions flapping across both thresholds, inside one gap
        dispatcher.on_decision(cfg_on + 0.01)
        dispatcher.on_decision(cfg_off - 0.01)
        clock.advance(0.1)
    wait_settled(pins)
    buzzes = [s.state for s in pins["buzzer"].states].count(True)
    assert buzzes == PATTERNS[Event.INSTABILITY].tracks["buzzer"].n
    status = dispatcher.status()
    assert status["instability_alerts"] == 1 and status["alerts_suppressed_by_gap"] == 14


def test_quiet_mode_never_touches_the_buzzer(box):
    make, pins, clock, _ = box
    dispatcher = make(quiet=True)
    dispatcher.session_started()
    dispatcher.on_decision(0.99)
    dispatcher.rep_finished(1, "bar drifting left")
    clock.advance(10)
    dispatcher.device_fault("load cells not responding")
    dispatcher.session_ended()
    dispatcher.close()
    assert [s.state for s in pins["buzzer"].states] == [False]
    assert any(s.state for s in pins["green"].states)
    assert any(s.state for s in pins["red"].states)
    assert dispatcher.status()["buzzer_muted_quiet"] >= 4


def test_set_quiet_takes_effect_for_the_next_alert(box):
    make, pins, clock, _ = box
    dispatcher = make()
    dispatcher.set_quiet(True)
    dispatcher.on_decision(0.99)
    dispatcher.close()
    assert [s.state for s in pins["buzzer"].states] == [False]
    assert any(s.state for s in pins["red"].states)


def test_rep_feedback_goes_to_log_console_and_caller(box, caplog):
    make, pins, _, stdout = box
    dispatcher = make()
    caplog.set_level(logging.DEBUG, logger="edge_agent.feedback")   # DEBUG: it is printed too
    clean = dispatcher.rep_finished(1)
    problem = dispatcher.rep_finished(2, "left side 14 % heavier")
    wait_for(lambda: stdout.getvalue().count("\n") == 2)
    assert "rep 1" in clean and "clean" in clean
    assert "rep 2" in problem and "left side 14 % heavier" in problem
    assert stdout.getvalue().splitlines() == [clean, problem]
    logged = [r.getMessage() for r in caplog.records]
    assert any(clean in m for m in logged) and any(problem in m for m in logged)


def test_clean_rep_is_silent_and_green(box):
    make, pins, _, _ = box
    dispatcher = make()
    dispatcher.rep_finished(1)
    wait_settled(pins)
    assert_track(pins["green"], PATTERNS[Event.REP_CLEAN].tracks["green"], "green")
    assert [s.state for s in pins["buzzer"].states] == [False]


def test_rep_problem_right_after_an_alert_shows_on_leds_only(box):
    make, pins, clock, _ = box
    dispatcher = make()
    dispatcher.on_decision(0.99)
    clock.advance(0.5)
    dispatcher.rep_finished(3, "bar tilted")
    wait_settled(pins)
    alert_beeps = PATTERNS[Event.INSTABILITY].tracks["buzzer"].n
    assert [s.state for s in pins["buzzer"].states].count(True) <= alert_beeps
    assert any(s.state for s in pins["amber"].states)
    assert dispatcher.status()["buzzer_muted_by_gap"] == 1


def test_every_pattern_is_distinct_from_every_other():
    shapes = {event: tuple(sorted(p.tracks.items())) for event, p in PATTERNS.items()}
    assert len(set(shapes.values())) == len(shapes)
    stop = PATTERNS[Event.STOP_SET]
    # heard without looking: the longest single tone of any pattern
    assert stop.tracks["buzzer"].on_s > max(
        p.tracks["buzzer"].on_s for e, p in PATTERNS.items()
        if e is not Event.STOP_SET and "buzzer" in p.tracks)


@pytest.mark.parametrize("cue, event, line", [
    ({"stop_set": "velocity loss 21 % reached the 20 % limit"}, Event.STOP_SET,
     "rep 6: clean; stop the set: velocity loss 21 % reached the 20 % limit"),
    ({"drift": "the weight rocking towards the toes"}, Event.TECHNIQUE_DRIFT,
     "rep 6: clean; technique drift over the set: the weight rocking towards the toes"),
], ids=["velocity-loss-cue", "technique-drift-cue"])
def test_a_once_per_set_cue_plays_its_own_pattern_even_right_after_an_alert(box, cue, event, line):
    make, pins, clock, stdout = box
    dispatcher = make()
    dispatcher.on_decision(0.99)
    wait_settled(pins)
    clear(pins)
    clock.advance(0.5)   # inside the alert gap: a rep problem would lose its buzzer here
    said = dispatcher.rep_finished(6, None, **cue)
    wait_settled(pins)
    for output, pin in pins.items():
        assert_track(pin, PATTERNS[event].tracks.get(output), output)
    assert said == line
    wait_for(lambda: line in stdout.getvalue())
    assert line in stdout.getvalue()


def test_stop_the_set_wins_over_a_drift_cue_on_the_same_rep_and_the_line_says_both(box):
    make, pins, _, _ = box
    dispatcher = make()
    line = dispatcher.rep_finished(7, None, stop_set="velocity loss 21 % reached the 20 % limit",
                                   drift="the bar swaying sideways")
    wait_settled(pins)
    for output, pin in pins.items():
        assert_track(pin, PATTERNS[Event.STOP_SET].tracks.get(output), output)
    assert "technique drift over the set: the bar swaying sideways" in line
    assert line.endswith("stop the set: velocity loss 21 % reached the 20 % limit")


def test_console_off_still_logs(box, caplog):
    make, _, _, stdout = box
    dispatcher = make(console=False)
    caplog.set_level(logging.INFO, logger="edge_agent.feedback")
    text = dispatcher.rep_finished(1)
    dispatcher.close()
    assert stdout.getvalue() == ""
    assert any(text in r.getMessage() for r in caplog.records)


def test_console_text_is_not_printed_twice_into_the_journal(tmp_path, monkeypatch, caplog):
    from edge_agent.feedback.console import ConsoleSink

    with open(tmp_path / "journal", "w") as journal, open(tmp_path / "tty", "w") as terminal:
        st = os.fstat(journal.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        caplog.set_level(logging.INFO, logger="edge_agent.feedback")
        ConsoleSink(stream=journal).write("rep 1: clean")
        ConsoleSink(stream=terminal).write("rep 2: clean")
    assert (tmp_path / "journal").read_text() == ""          # the log line is the journal's copy
    assert (tmp_path / "tty").read_text() == "rep 2: clean\n"
    assert caplog.messages == ["feedback: rep 1: clean"]   # rep 2 printed, so DEBUG only


def test_device_fault_pattern_and_warning(box, caplog):
    make, pins, _, stdout = box
    dispatcher = make()
    caplog.set_level(logging.INFO, logger="edge_agent.feedback")
    text = dispatcher.device_fault("IMU: I2C errno 121 (remote I/O error)")
    red = PATTERNS[Event.DEVICE_FAULT].tracks["red"]
    wait_for(lambda: len(pins["red"].states) >= 5)  # two red blinks seen
    dispatcher.close()
    assert [s.state for s in pins["red"].states[:5]] == [False, True, False, True, False]
    first_on = pins["red"].states[2].timestamp
    assert red.on_s - EARLY_S <= first_on <= red.on_s + LATE_S
    assert pins["buzzer"].states[1].state and not pins["green"].states[1:]
    assert "IMU: I2C errno 121" in text and text in stdout.getvalue()
    assert any(r.levelno == logging.WARNING and text in r.getMessage() for r in caplog.records)


def test_session_start_and_end_patterns(box):
    make, pins, _, stdout = box
    dispatcher = make()
    dispatcher.session_started()
    start_green = PATTERNS[Event.SESSION_STARTED].tracks["green"]
    wait_for(lambda: len(pins["green"].states) == len(expected_states(start_green)))
    assert_track(pins["green"], start_green, "start/green")
    clear(pins)
    dispatcher.session_ended()
    end_buzzer = PATTERNS[Event.SESSION_ENDED].tracks["buzzer"]
    wait_for(lambda: len(pins["buzzer"].states) == len(expected_states(end_buzzer)))
    dispatcher.close()
    assert_track(pins["buzzer"], end_buzzer, "end/buzzer")
    assert stdout.getvalue().splitlines() == ["session started", "session ended"]


# --- dispatcher with fakes: never blocks, survives broken outputs ---

class BlockedStream(io.StringIO):
    """A stdout whose reader has stopped (a full pipe): writes wait until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, s: str) -> int:
        self.release.wait(10)
        return super().write(s)


def test_blocked_stdout_never_blocks_the_caller():
    stream = BlockedStream()
    dispatcher = FeedbackDispatcher(FeedbackConfig(), None, console=ConsoleSink(True, stream),
                                    queue_size=4)
    try:
        texts = [dispatcher.rep_finished(i) for i in range(20)]  # returns although stdout hangs
        assert len(texts) == 20
        assert dispatcher.status()["dropped_queue_full"] >= 20 - 4 - 1
    finally:
        stream.release.set()
        dispatcher.close()
    assert stream.getvalue().splitlines()[0] == texts[0]


class BrokenOutputs:
    def __init__(self) -> None:
        self.closed = False

    def play(self, pattern: Pattern) -> None:
        raise OSError("GPIO write failed")

    def all_off(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_broken_outputs_are_counted_and_text_still_flows(caplog):
    stdout, outputs = io.StringIO(), BrokenOutputs()
    dispatcher = FeedbackDispatcher(FeedbackConfig(), outputs, console=ConsoleSink(True, stdout))
    dispatcher.rep_finished(1)
    dispatcher.rep_finished(2)
    dispatcher.close()
    assert dispatcher.status()["output_errors"] == 2
    assert stdout.getvalue().splitlines() == ["rep 1: clean", "rep 2: clean"]
    assert outputs.closed


# --- session button ---

class FakeDaemon:
    def __init__(self, fail_start: bool = False) -> None:
        self.active = False
        self.calls: list[str] = []
        self.fail_start = fail_start

    def start(self) -> None:
        self.calls.append("start")
        if self.fail_start:
            self.fail_start = False
            raise RuntimeError("store not writable")
        self.active = True

    def end(self) -> None:
        self.calls.append("end")
        self.active = False


@pytest.fixture
def button(mock_factory):
    made = []

    def make(daemon: FakeDaemon, pin: int = 20) -> tuple[SessionButton, object]:
        cfg = FeedbackConfig(buzzer_pin=None, green_led_pin=None, amber_led_pin=None,
                             red_led_pin=None, button_pin=pin, button_bounce_s=0.05)
        b = SessionButton(cfg, is_session_active=lambda: daemon.active,
                          start_session=daemon.start, end_session=daemon.end)
        made.append(b)
        return b, mock_factory.pin(pin)

    yield make
    for b in made:
        b.close()


def press(pin) -> None:
    pin.drive_low()   # pulled-up button: pressing shorts the pin to ground
    pin.drive_high()


def test_button_press_starts_then_ends_a_session(button):
    daemon = FakeDaemon()
    _, pin = button(daemon)
    assert pin.bounce == pytest.approx(0.05)
    press(pin)
    assert daemon.calls == ["start"] and daemon.active
    press(pin)
    assert daemon.calls == ["start", "end"] and not daemon.active


def test_button_follows_the_daemon_state_not_its_own_toggle(button):
    daemon = FakeDaemon()
    _, pin = button(daemon)
    press(pin)
    daemon.active = False  # the session ended some other way (API, timeout)
    press(pin)
    assert daemon.calls == ["start", "start"]


def test_button_keeps_working_after_a_failed_action(button, caplog):
    daemon = FakeDaemon(fail_start=True)
    b, pin = button(daemon)
    press(pin)
    press(pin)
    assert daemon.calls == ["start", "start"] and daemon.active
    assert b.presses == 2
    assert any(r.exc_info and "store not writable" in str(r.exc_info[1]) for r in caplog.records)


def test_button_disabled_in_config_is_refused():
    with pytest.raises(FeedbackError, match="button_pin"):
        SessionButton(FeedbackConfig(button_pin=None), is_session_active=lambda: False,
                      start_session=lambda: None, end_session=lambda: None)
