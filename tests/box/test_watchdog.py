"""systemd notifications over a fake NOTIFY_SOCKET: READY=1, WATCHDOG=1 from the real-time loop
(and none while the loop hangs), STATUS= lines, STOPPING=1."""
from __future__ import annotations

import os
import threading

import pytest

from edge_agent.daemon import app as daemon_app
from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from sync.systemd_notify import SystemdNotifier, operator_status, watchdog_interval_s
from tests.support.daemon_helpers import NO_PINS, config, wait_for
from tests.support.systemd_support import FakeSystemd

WATCHDOG_USEC = 200_000   # systemd's WatchdogSec=0.2: the loop pings every 0.1 s


@pytest.fixture
def systemd(monkeypatch):
    fake = FakeSystemd()
    monkeypatch.setenv("NOTIFY_SOCKET", str(fake.path))
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    monkeypatch.setattr(daemon_app, "HOUSEKEEPING_INTERVAL_S", 0.1)
    yield fake
    fake.close()


@pytest.fixture
def daemon(tmp_path, systemd):
    cfg = config(tmp_path, feedback=NO_PINS, store={"commit_interval_s": 0.1})
    d = box_daemon(cfg, sources=[SimulatorSource(reps=20, realtime=True)], api=False)
    d.start()
    yield d
    d.stop()


def test_ready_watchdog_and_status_reach_systemd(daemon, systemd):
    wait_for(lambda: systemd.lines("READY=1"), what="READY=1")
    wait_for(lambda: len(systemd.lines("WATCHDOG=1")) >= 3, what="periodic WATCHDOG=1")
    assert daemon.notifier.watchdog_interval_s == pytest.approx(WATCHDOG_USEC / 2e6)
    status = wait_for(lambda: [s for s in systemd.lines("STATUS=") if "Hz" in s],
                      what="a STATUS= line with source rates")
    assert "no session" in status[-1] and "sync" in status[-1] and "backlog" in status[-1]
    assert "simulator" in status[-1]
    sid = daemon.sessions.start("squat")
    wait_for(lambda: any("session active squat" in s for s in systemd.lines("STATUS=")),
             what="STATUS= naming the active session")
    daemon.sessions.end(sid)
    daemon.stop()
    assert systemd.lines("STOPPING=1")


def test_a_hung_loop_stops_the_watchdog_pings(daemon, systemd):
    wait_for(lambda: systemd.lines("WATCHDOG=1"), what="first WATCHDOG=1")
    hang, entered = threading.Event(), threading.Event()
    real_handle = daemon.loop.handle

    def stuck(frames, arrival_ns):
        entered.set()
        hang.wait()
        real_handle(frames, arrival_ns)

    daemon.loop.handle = stuck
    wait_for(entered.is_set, what="the loop to hang")
    pings_before = daemon.notifier.watchdog_pings
    systemd.clear()
    # ten watchdog intervals: the housekeeping thread keeps the process "alive" (STATUS=),
    # but without the loop no WATCHDOG=1 may go out
    threading.Event().wait(10 * WATCHDOG_USEC / 2e6)
    assert systemd.lines("WATCHDOG=1") == [] and daemon.notifier.watchdog_pings == pings_before
    assert daemon._housekeeping_thread.is_alive()
    hang.set()
    daemon.loop.handle = real_handle
    wait_for(lambda: systemd.lines("WATCHDOG=1"), what="pings to resume once the loop runs")


def test_watchdog_belongs_to_the_pid_systemd_named():
    env = {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "4000000"}
    assert watchdog_interval_s(env) == 2.0
    assert watchdog_interval_s({**env, "WATCHDOG_PID": str(os.getpid())}) == 2.0
    assert watchdog_interval_s({**env, "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000"}) is None      # not under systemd
    assert watchdog_interval_s({**env, "WATCHDOG_USEC": "junk"}) is None


def test_watchdog_pings_at_half_the_interval_only(systemd):
    now = [100.0]
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "1000000"},
                               monotonic=lambda: now[0])
    sent = []
    for _ in range(12):                 # 12 loop iterations, 0.125 s apart (exact in binary)
        sent.append(notifier.watchdog_tick())
        now[0] += 0.125
    assert [i for i, pinged in enumerate(sent) if pinged] == [0, 4, 8]   # every 0.5 s
    wait_for(lambda: len(systemd.lines("WATCHDOG=1")) == 3, what="three pings delivered")


def test_without_notify_socket_everything_is_a_no_op():
    notifier = SystemdNotifier({})
    assert not notifier.enabled and notifier.watchdog_interval_s is None
    assert notifier.watchdog_tick() is False
    notifier.ready("x")
    notifier.status("y")
    assert notifier.last_status is None


def test_operator_status_reads_like_a_sentence():
    line = operator_status({
        "session": {"id": "s", "lift_type": "squat"},
        "sources": {"imu": {"rate_hz": 199.6, "state": "running"},
                    "platform": {"rate_hz": None, "state": "reconnecting"}},
        "sync": "mqtt", "sync_backlog": {"sensor_data": 10, "sessions": 2},
        "model": None, "disk": {"raw_capture_paused": True}})
    assert line.startswith("session active squat; imu 200 Hz, platform reconnecting; ")
    assert "sync mqtt backlog 12" in line and "model: none" in line and "PAUSED" in line
