"""The periodic health line tells an operator reading journalctl rates, drops, sync and disk."""
from __future__ import annotations

from edge_agent.daemon.status import health_line
from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from tests.support.daemon_helpers import NO_PINS, config


def test_health_line_reports_rates_drops_backlog_and_disk(tmp_path):
    daemon = box_daemon(config(tmp_path, feedback=NO_PINS, store={"cap_mb": 64}),
                    sources=[SimulatorSource(reps=1, realtime=False)], api=False)
    try:
        daemon.start(live=False)
        sid = daemon.sessions.start("squat", None, reason="api")
        daemon.run_lockstep()
        daemon.loop.finish()
        daemon.store.flush()
        status = daemon.status()
        status["sources"]["simulator"]["rate_hz"] = 280.0   # rates need two reads 0.5 s apart
        line = health_line(status)
    finally:
        daemon.stop()
    backlog = sum(status["sync_backlog"].values())
    assert backlog > 0 and sid
    assert "simulator finished 280.0 Hz" in line
    assert f"sync off, backlog {backlog};" in line
    assert "0 dropped" in line
    assert f"disk {status['disk']['db_bytes'] / 1e6:.1f} of 64 MB" in line
