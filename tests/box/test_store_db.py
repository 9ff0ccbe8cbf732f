"""Opening the store: WAL + synchronous=NORMAL, versioned schema, idempotent migration."""
from __future__ import annotations

import sqlite3

import pytest

from edge_agent.store import LocalStore, StoreError
from edge_agent.store.schema import SCHEMA_VERSION


def test_database_is_wal_and_versioned_and_the_writer_syncs_each_commit(tmp_path):
    with LocalStore(tmp_path, "box") as store:
        assert store.path == tmp_path / "liftguard.db"
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        conn.close()
        assert store._writer._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL (acks)
    with LocalStore(tmp_path, "box", synchronous="NORMAL") as store:
        assert store._writer._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    with pytest.raises(ValueError, match="synchronous"):
        LocalStore(tmp_path, "box", synchronous="OFF")


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path):
    with LocalStore(tmp_path, "box") as store:
        sid = store.start_session("bench_press")
        store.end_session(sid, "api")
    with LocalStore(tmp_path, "box") as store:
        assert store.get_session(sid)["lift_type"] == "bench_press"
        assert store.recovered_session_ids == []


def test_newer_schema_is_refused_with_the_file_named(tmp_path):
    LocalStore(tmp_path, "box").close()
    conn = sqlite3.connect(tmp_path / "liftguard.db")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match=r"liftguard\.db.*newer"):
        LocalStore(tmp_path, "box")


def test_schema_itself_allows_one_active_session(tmp_path):
    LocalStore(tmp_path, "box").close()
    conn = sqlite3.connect(tmp_path / "liftguard.db")
    row = "INSERT INTO sessions (id, device_id, lift_type, status, start_time, start_mono_ns, " \
          "wall_clock_synced, mono_to_wall_offset_s, created_at) VALUES (?, 'box', 'squat', ?, " \
          "0, 0, 0, 0, 0)"
    conn.execute(row, ("a", "active"))
    conn.execute(row, ("b", "ended"))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(row, ("c", "active"))
    conn.close()


def test_unusable_data_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="data directory"):
        LocalStore(blocker / "sub", "box")
