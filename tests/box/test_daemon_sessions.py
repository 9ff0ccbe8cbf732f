"""Session starts and ends other than the API: the GPIO button, load + motion, idle timeout."""
from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from tests.support.daemon_helpers import NO_PINS, config, wait_for


def test_button_press_starts_then_ends_a_session(tmp_path):
    factory = MockFactory()
    daemon = box_daemon(config(tmp_path, daemon={"auto_start_lift": "deadlift"}),
                    sources=[SimulatorSource(reps=1, realtime=True)], pin_factory=factory,
                    api=False)
    button = factory.pin(daemon.cfg.get("feedback.button_pin"))
    try:
        daemon.start()
        button.drive_low()
        button.drive_high()
        sid = wait_for(lambda: daemon.sessions.active_id, what="a session from the button")
        assert daemon.sessions.active_lift == "deadlift"
        button.drive_low()
        button.drive_high()
        wait_for(lambda: daemon.sessions.active_id is None, what="the button ending it")
        daemon.sessions.wait_idle(30)
        row = daemon.store.get_session(sid)
        assert row["status"] == "ended" and row["end_reason"] == "button"
    finally:
        daemon.stop()


def test_load_and_motion_start_and_idle_timeout_ends(tmp_path):
    # idle_end_s shorter than the simulated rests between reps: the set is cut into sessions
    cfg = config(tmp_path, daemon={"auto_start": True, "idle_end_s": 1.0}, feedback=NO_PINS)
    daemon = box_daemon(cfg, sources=[SimulatorSource(reps=3, realtime=False)], api=False)
    try:
        daemon.start(live=False)
        assert daemon.sessions.active_id is None
        daemon.run_lockstep()
        daemon.loop.finish()
    finally:
        daemon.stop()
    from edge_agent.store import LocalStore
    with LocalStore(tmp_path, "test-box") as store:
        sessions = store.list_sessions()
    assert len(sessions) >= 2
    assert any(s["end_reason"] == "idle_timeout" for s in sessions)
    assert all(s["lift_type"] == "squat" and s["status"] == "ended" for s in sessions)
