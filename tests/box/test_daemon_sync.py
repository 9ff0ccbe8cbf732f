"""The running daemon drains its outbox to PostgreSQL on its own thread ([sync] mode = direct)."""
from __future__ import annotations

import psycopg2

from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from tests.support.daemon_helpers import NO_PINS, config, record_set_and_drain
from tests.support.sync_support import assert_same_contents, box_counts, migrated, pg_counts


def test_live_daemon_syncs_a_whole_session_directly(tmp_path, pg_db):
    migrated(pg_db).close()
    cfg = config(tmp_path, feedback=NO_PINS, database={"dsn": pg_db.dsn},
                 sync={"mode": "direct", "interval_s": 0.1,
                       "hold_unsynced_clock_s": 0})   # this host may have no NTP
    daemon = box_daemon(cfg, sources=[SimulatorSource(reps=2, realtime=False)], api=False)
    try:
        daemon.start()
        assert daemon.status()["sync"] == "direct"
        record_set_and_drain(daemon)
        conn = psycopg2.connect(pg_db.dsn)
        try:
            counts = box_counts(daemon.store.path)
            assert counts["sessions"] == 1 and counts["frames"] > 0
            assert counts["performance_metrics"] == 1 and counts["rep_metrics"] == 2
            assert pg_counts(conn) == {**counts, "duplicate_chunks": 0}
            assert_same_contents(daemon.store.path, conn)
        finally:
            conn.close()
    finally:
        daemon.stop()


def test_sync_without_a_database_says_why_and_keeps_data(tmp_path):
    cfg = config(tmp_path, feedback=NO_PINS, sync={"mode": "direct"})
    daemon = box_daemon(cfg, sources=[SimulatorSource(reps=1, realtime=False)], api=False)
    try:
        daemon.start()
        assert daemon.status()["sync"] == "off: [sync] mode = 'direct' but no [database] dsn set"
    finally:
        daemon.stop()
