"""The server fixtures themselves: restarts keep port and data; abandoned servers are reaped."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tests.support.services import (
    RunAs,
    port_accepts,
    reap_abandoned_mosquitto,
    reap_abandoned_postgres,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_on_same_port_keeps_committed_data(pg_db, mode):
    server = pg_db.server
    conn = pg_db.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (n int)")
        cur.execute("INSERT INTO kept VALUES (42)")
    conn.commit()
    port = server.port

    server.stop(mode)
    assert not server.is_running()
    with pytest.raises(psycopg2.OperationalError):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    with pytest.raises(psycopg2.OperationalError):
        pg_db.connect()

    server.start()
    assert server.is_running() and server.port == port
    conn = pg_db.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT n FROM kept")
        assert cur.fetchall() == [(42,)]
    conn.close()


def test_only_password_logins_over_loopback(pg_db):
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(pg_db.dsn_for(pg_db.server.superuser, "wrong"))
    conn = pg_db.connect()
    with conn.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone() == ("127.0.0.1",)
    conn.close()


ABANDON = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from tests.support.services import MosquittoBroker, PostgresServer
pg, mq = PostgresServer(), MosquittoBroker()
pg.start(); mq.start()
print(pg.base_dir, pg.port, mq.base_dir, mq.port, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # a test run killed by a timeout: no teardown
"""


def test_servers_left_by_a_killed_test_run_are_reaped(pg_server):
    proc = subprocess.run([sys.executable, "-c", ABANDON, str(REPO)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pg_dir, pg_port, mq_dir, mq_port = proc.stdout.split()
    assert port_accepts(int(pg_port)) and port_accepts(int(mq_port))  # still running, orphaned

    run_as = RunAs.for_service("postgres")
    reap_abandoned_postgres(pg_server.bin_dir, run_as)
    reap_abandoned_mosquitto(RunAs.for_service("mosquitto"))

    assert not Path(pg_dir).exists() and not Path(mq_dir).exists()
    assert not port_accepts(int(pg_port)) and not port_accepts(int(mq_port))
    assert pg_server.is_running()  # this run's own server is left alone
