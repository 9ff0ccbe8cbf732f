"""The daemon triggers feedback within the rep: an injected fault in a simulated set played in
real time gives an instability alert during that rep, played on the mock buzzer and red LED."""
from __future__ import annotations

import time

from gpiozero.pins.mock import MockFactory

from edge_agent.feedback import PATTERNS, Event
from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from tests.support.daemon_helpers import config, wait_for


def rising_edges(pin) -> int:
    states = [s.state for s in pin.states]
    return sum(1 for a, b in zip(states, states[1:]) if b and not a)


def test_injected_fault_alerts_on_the_buzzer_within_the_rep(tmp_path):
    factory = MockFactory()
    source = SimulatorSource(lift="squat", reps=2, faults={1: "lateral_sway"}, seed=3,
                             realtime=True)
    daemon = box_daemon(config(tmp_path), sources=[source], pin_factory=factory, api=False)
    buzzer, red = factory.pin(daemon.cfg.get("feedback.buzzer_pin")), \
        factory.pin(daemon.cfg.get("feedback.red_led_pin"))
    try:
        daemon.sessions.start("squat", "ann")
        daemon.start()
        wait_for(lambda: source.set is not None and daemon.loop.frames_in > 0, what="frames")
        truth = source.set.reps[0]
        time.sleep(1.0)             # let the session-start pattern finish, then watch the pins
        buzzer.clear_states()
        red.clear_states()
        alert = wait_for(lambda: daemon.loop.alerts and daemon.loop.alerts[0], limit_s=30,
                         what="an instability alert")
        chirp = PATTERNS[Event.INSTABILITY].tracks["buzzer"]
        wait_for(lambda: rising_edges(buzzer) >= chirp.n, limit_s=5, what="the triple chirp")
        assert any(s.state for s in red.states)
    finally:
        daemon.stop()
    t_alert = (alert.at_ns - daemon.loop.first_frame_ns) / 1e9
    assert truth.fault_onset_s <= t_alert <= truth.end_s, (truth, t_alert)
    assert alert.reason and "sway" in alert.reason
