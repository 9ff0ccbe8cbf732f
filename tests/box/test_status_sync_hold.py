"""The NTP hold of the sync (``[sync] hold_unsynced_clock_s``) and its remaining time show in
/status and in `liftguard status`."""
from __future__ import annotations

from types import SimpleNamespace

from edge_agent.uplink.clock_gate import ClockGatedOutbox
from liftguard.box import box_daemon
from liftguard.commands.status import human
from tests.support.daemon_helpers import NO_PINS, config


def test_status_shows_the_hold_and_how_long_it_still_lasts(tmp_path):
    daemon = box_daemon(config(tmp_path, feedback=NO_PINS), sources=[], api=False)
    try:
        now = {"s": 1000.0}
        clock = SimpleNamespace(synced=False)
        daemon.sync_state = "mqtt"
        daemon.sync_outbox = ClockGatedOutbox(daemon.store, clock, max_hold_s=900,
                                              monotonic=lambda: now["s"])
        assert daemon.status()["sync_hold"] == {"waiting_for_ntp": True,
                                                "hold_unsynced_clock_s": 900,
                                                "remaining_s": 900.0, "gave_up_waiting": False}
        now["s"] += 120
        status = daemon.status()
        assert status["sync_hold"]["remaining_s"] == 780.0
        assert "sync: mqtt, waiting for NTP: 780 s left of the 900 s hold" in human(status)
        now["s"] += 800
        status = daemon.status()
        assert not status["sync_hold"]["waiting_for_ntp"] and status["sync_hold"]["gave_up_waiting"]
        assert "sending anyway after the 900 s hold" in human(status)
        clock.synced = True
        assert "not waiting for NTP" in human(daemon.status())
    finally:
        daemon.close()


def test_status_without_sync_says_so(tmp_path):
    daemon = box_daemon(config(tmp_path, feedback=NO_PINS), sources=[], api=False)
    try:
        status = daemon.status()
        assert status["sync_hold"] is None and "sync: off" in human(status)
    finally:
        daemon.close()
