"""Each worker thread of the box meets a bad value, drops it, counts it and processes the next
item; a thread that dies anyway shows in /status and makes `liftguard run` exit 1."""
from __future__ import annotations

import threading

import pytest

from edge_agent.daemon import threads as threads_mod
from edge_agent.daemon.status import health_line
from edge_agent.daemon.threads import Supervised
from edge_agent.store import LocalStore
from liftguard.box import box_daemon
from liftguard.commands.run import run_until_stopped
from sensors.simulator import SimulatorSource
from tests.support.daemon_helpers import NO_PINS, call, config, free_port, wait_for
from tests.support.frames import imu_frames


def test_store_writer_refuses_the_bad_row_and_stores_the_next(tmp_path, caplog):
    with LocalStore(tmp_path, "box", commit_interval_s=0.05) as store:
        bad = store.start_session("squat", athlete="ann", trainer="\ud800")
        store.submit_rep(bad, 2**70, 0, 1, {"x": 1})          # beyond SQLite's 64 bits
        store.end_session(bad, "api")
        good = store.start_session("squat", athlete="bob")
        store.submit_frames(good, imu_frames(50))
        assert store.flush(10)
        st = store.status()
        assert st["writer_alive"] and st["rejected_rows"] == 3   # start, rep, end of the bad one
        assert "no such row to update" in st["last_rejected"]   # the end of the refused start
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert "UnicodeEncodeError" in logged and "OverflowError" in logged
        assert store.get_session(bad) is None
        assert store.get_session(good)["athlete"] == "bob"
        assert len(store.session_frames(good)) == 50


def test_store_writer_survives_an_unexpected_tick_error(tmp_path, monkeypatch):
    with LocalStore(tmp_path, "box", commit_interval_s=0.05) as store:
        writer = store._writer
        real_commit = writer._commit
        calls = {"n": 0}

        def commit_once_broken(writes):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("injected")
            return real_commit(writes)

        monkeypatch.setattr(writer, "_commit", commit_once_broken)
        lost = store.start_session("squat", athlete="lost")
        store.flush(10)
        store.end_session(lost, "api")
        kept = store.start_session("deadlift", athlete="kept")
        assert store.flush(10)
        st = store.status()
        assert st["writer_alive"] and st["writer_tick_failures"] == 1
        assert st["dropped"]["items_unexpected_error"] == 1
        assert store.get_session(kept)["athlete"] == "kept"


@pytest.fixture
def daemon(tmp_path):
    cfg = config(tmp_path, api={"port": free_port()}, feedback=NO_PINS,
                 store={"commit_interval_s": 0.05})
    d = box_daemon(cfg, sources=[SimulatorSource(reps=50, realtime=True)])
    d.start()
    yield d
    d.stop()


def test_session_worker_drops_the_failing_job_and_runs_the_next(daemon):
    said = []
    daemon.sessions._say = said.append
    daemon.sessions._queue(("rep", "some-session", "squat", 1, [], 0))   # no frames: raises
    daemon.sessions.announce("after the bad job")
    assert daemon.sessions.wait_idle(10)
    assert said == ["after the bad job"]
    status = daemon.status()
    assert status["worker_errors"]["session_jobs_failed"] == 1
    assert "rep job" in status["worker_errors"]["session_last_error"]
    assert status["threads"]["session-worker"]


def test_realtime_loop_drops_a_failing_step_and_keeps_deciding(daemon, monkeypatch):
    scorer = daemon.loop.scorer
    real_score = scorer.score
    failed = threading.Event()

    def score_once_broken(window):
        if not failed.is_set():
            failed.set()
            raise ValueError("injected bad window")
        return real_score(window)

    monkeypatch.setattr(scorer, "score", score_once_broken)
    wait_for(failed.is_set, what="the injected failure")
    before = daemon.loop.decisions
    wait_for(lambda: daemon.loop.decisions > before + 5, what="decisions after the failure")
    errors = daemon.status()["worker_errors"]
    assert errors["realtime_failed_steps"] == 1
    assert daemon.status()["threads"]["realtime"]


def test_reader_survives_a_failing_fault_callback(daemon, monkeypatch):
    reader = daemon.readers[0]
    monkeypatch.setattr(reader, "_check_health",
                        lambda: (_ for _ in ()).throw(RuntimeError("injected")))
    errors_before = reader.source.health.errors
    wait_for(lambda: reader.source.health.errors > errors_before + 1, what="failed steps")
    monkeypatch.undo()
    frames = reader.source.health.frames
    wait_for(lambda: reader.source.health.frames > frames, what="frames after the failures")
    assert not reader.died


def test_supervised_sync_target_is_started_again_after_an_error(monkeypatch):
    monkeypatch.setattr(threads_mod, "RESTART_BACKOFF_S", (0.01, 0.02))
    stop = threading.Event()
    runs = []

    def target(stop_event):
        runs.append(1)
        if len(runs) <= 2:
            raise KeyError("bad outbox row")
        stop_event.set()

    sup = Supervised("sync (direct)", target, stop)
    thread = threading.Thread(target=sup)
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and len(runs) == 3
    assert sup.restarts == 2 and "KeyError" in sup.last_error


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_writer_shows_in_status_refuses_sessions_and_exits_1(daemon):
    def die(batches):
        raise SystemExit("simulated hard death")

    daemon.store._writer._encode_frames = die
    call(daemon.api.url, "POST", "/sessions", {"lift_type": "squat", "athlete": "ann"})
    wait_for(lambda: not daemon.store.writer_alive, what="the writer to die")
    status, st = call(daemon.api.url, "GET", "/status")
    assert status == 200 and st["threads_dead"] == ["store-writer"]
    assert not st["store"]["writer_alive"]
    assert health_line(st).endswith("; DEAD threads: store-writer")
    daemon.sessions.try_end(None, "api")
    status, err = call(daemon.api.url, "POST", "/sessions", {"lift_type": "squat",
                                                             "athlete": "bob"})
    assert status == 503 and "writer has stopped" in err["error"]
    assert run_until_stopped(daemon, check_s=0.05) == 1
