"""A direct-mode box marks itself online in its ``devices`` row at its first command poll and
then only every ``DIRECT_HEARTBEAT_S``, not at each poll, on real PostgreSQL; the web app's
box list (``coach.boxes``) keeps showing it online between heartbeats, and a poll after a lost
connection writes at once."""
from __future__ import annotations

from coach.boxes import boxes
from edge_agent.daemon.profiles import ProfileRefresher
from edge_agent.daemon.session_commands import BoxCommands
from edge_agent.uplink.session_command_runner import SessionCommandRunner
from liftguard.box import box_daemon
from liftguard.config import validate
from liftguard.secrets import secrets_for
from sensors.simulator import SimulatorSource
from sync.device_status import DIRECT_HEARTBEAT_S, DIRECT_STALE_S
from tests.support.command_support import DEVICE, pg_row
from tests.support.daemon_helpers import NO_PINS
from tests.support.sync_support import migrated


def _status_at(conn):
    row = pg_row(conn, "SELECT online, status_at, last_seen FROM devices WHERE device_id = %s",
                 (DEVICE,))
    conn.rollback()
    return row


def test_the_online_mark_is_written_at_the_first_poll_then_per_heartbeat(tmp_path, pg_db):
    assert DIRECT_HEARTBEAT_S * 2 < DIRECT_STALE_S   # a lost write still leaves it online
    pg = migrated(pg_db)
    pg.autocommit = False
    cfg = validate({"device": {"id": DEVICE, "data_dir": str(tmp_path / "box"), "secrets_file": ""},
                    "feedback": {"console": False, **NO_PINS}, "database": {"dsn": pg_db.dsn},
                    "sync": {"mode": "direct", "hold_unsynced_clock_s": 0}}, "<test>")
    daemon = box_daemon(cfg, sources=[SimulatorSource(reps=1, realtime=False)], api=False,
                        console=False)
    now = [100.0]
    runner = SessionCommandRunner(cfg, secrets_for(cfg),
                                  BoxCommands(daemon.sessions, DEVICE, cfg.data_dir),
                                  ProfileRefresher(daemon.store, lambda: None, cfg.data_dir),
                                  clock=lambda: now[0])
    try:
        assert pg_row(pg, "SELECT count(*) FROM devices WHERE device_id = %s", (DEVICE,)) == (0,)
        pg.rollback()
        runner.poll_once()
        first = _status_at(pg)
        assert first[0] is True
        for _ in range(3):   # polls within the heartbeat write nothing
            now[0] += DIRECT_HEARTBEAT_S / 4
            runner.poll_once()
            assert _status_at(pg) == first
        assert [b.online for b in boxes(pg) if b.device_id == DEVICE] == [True]
        pg.rollback()
        now[0] += DIRECT_HEARTBEAT_S / 4
        runner.poll_once()   # a heartbeat after it
        beat = _status_at(pg)
        assert beat[0] is True and beat[1] > first[1] and beat[2] > first[2]
        runner._conn.close()   # the connection is lost: the next poll reconnects and writes
        now[0] += 1
        runner.poll_once()
        assert _status_at(pg)[1] > beat[1]
    finally:
        runner.stop()
        daemon.stop("test")
    assert _status_at(pg)[0] is False   # a clean stop marks it offline
