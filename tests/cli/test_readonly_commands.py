"""Read-only commands never change the store (issue 10) and never create one (issue 15)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from edge_agent.store.reader import StoreReader
from tests.support.daemon_helpers import call, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liftguard", *argv], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_sessions_list_and_export_without_a_store_create_nothing(tmp_path):
    data = tmp_path / "nothing-here"
    for argv in (["sessions", "list", "--data-dir", str(data)],
                 ["sessions", "show", "x", "--data-dir", str(data)],
                 ["export", "x", "--csv", str(tmp_path / "x.csv"), "--data-dir", str(data)]):
        out = cli(*argv)
        assert out.returncode == 2 and str(data / "liftguard.db") in out.stderr, out.stderr
    assert not data.exists()


def test_output_path_in_a_missing_directory_names_the_users_path(tmp_path):
    target = tmp_path / "missing" / "rec.csv"
    out = cli("simulate", "--reps", "1", "--out", str(target))
    assert out.returncode == 2 and f"--out {target}" in out.stderr and ".tmp" not in out.stderr
    assert not target.parent.exists()


def test_sessions_list_during_a_recording_leaves_the_session_whole(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[device]\nid = "ro-box"\ndata_dir = "{data}"\nsecrets_file = ""\n'
                   f'[source]\nkind = "simulator"\n[simulator]\nreps = 40\n'
                   f'[api]\nport = {port}\n[store]\ncommit_interval_s = 0.2\n')
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", PYTHONUNBUFFERED="1")
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen([sys.executable, "-m", "liftguard", "run", "--config", str(cfg)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        wait_for(lambda: _ready(base), what="daemon ready")
        status, body = call(base, "POST", "/sessions", {"lift_type": "squat", "athlete": "ann"})
        assert status == 201
        sid = body["id"]
        wait_for(lambda: _chunks(data, sid), what="stored frames")
        db = data / "liftguard.db"
        listed = cli("--config", str(cfg), "sessions", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [(s["id"], s["status"]) for s in json.loads(listed.stdout)] == [(sid, "active")]
        exported = cli("export", sid, "--csv", str(tmp_path / "mid.csv"), "--config", str(cfg))
        assert exported.returncode == 0, exported.stderr
        with StoreReader(data) as store:
            assert store.get_session(sid)["status"] == "active"
        status, _ = call(base, "POST", f"/sessions/{sid}/end", {})
        assert status == 200, log.read_text()[-2000:]
        wait_for(lambda: _ended(data, sid), what="session end stored")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
    assert rc == 0, log.read_text()[-3000:]
    assert "no such row" not in log.read_text()
    with StoreReader(data) as store:
        session = store.get_session(sid)
    assert session["end_reason"] == "api" and session["end_time"] is not None
    assert session["end_mono_ns"] > session["start_mono_ns"]
    assert db.exists()


def _ready(base: str):
    try:
        status, st = call(base, "GET", "/status")
    except OSError:
        return None
    return status == 200 and st["ready"]


def _chunks(data: Path, sid: str) -> bool:
    try:
        with StoreReader(data) as store:
            return bool(store.session_frames(sid))
    except sqlite3.Error:
        return False


def _ended(data: Path, sid: str) -> bool:
    with StoreReader(data) as store:
        return store.get_session(sid)["status"] == "ended"


def test_only_the_store_lock_holder_recovers_sessions(tmp_path):
    from edge_agent.store import LocalStore

    first = LocalStore(tmp_path, "box")
    try:
        sid = first.start_session("squat", "ann")
        assert first.flush(10)
        second = LocalStore(tmp_path, "box")
        try:
            assert second.recovered_session_ids == []
            assert second.get_session(sid)["status"] == "active"
        finally:
            second.close()
    finally:
        first._writer.close()
        first._conn.close()
        first._lock.release()        # as if the daemon died: its lock goes with it
    third = LocalStore(tmp_path, "box")
    try:
        assert third.recovered_session_ids == [sid]
    finally:
        third.close()


def test_replay_and_demo_decide_with_the_same_bundle(tmp_path):
    """Without an installed bundle every deciding command uses the shipped one (issue 15:
    replay ran on the rules while demo used the bundle)."""
    from edge_agent.bundles.choice import SHIPPED_BUNDLE
    from sensors.recording import write_recording
    from sensors.simulator import simulate_set

    rec = write_recording(tmp_path / "rec.csv", simulate_set(reps=2, seed=3).frames)
    replay = cli("replay", str(rec), "--json", "--data-dir", str(tmp_path / "r"))
    assert replay.returncode == 0, replay.stderr
    daemon = json.loads(replay.stdout)["daemon"]
    demo = cli("demo", "--fast", "--reps", "2", "--faults", "tilt@2", "--data-dir", str(tmp_path / "d"))
    assert demo.returncode == 0, demo.stderr
    assert f"real-time decisions: model bundle {SHIPPED_BUNDLE}" in demo.stdout
    assert daemon["model"]["bundle"] == str(SHIPPED_BUNDLE)
