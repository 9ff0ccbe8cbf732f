"""Schema migrations on a real PostgreSQL: seed schema, additions, idempotence, locking, errors."""
from __future__ import annotations

import logging
import shutil
import threading
import uuid

import psycopg2
import psycopg2.errors
import pytest

from sync.migrate import (SCHEMA_DIR, MigrationError, current_version, load_migrations, migrate,
                          pending)

pytestmark = pytest.mark.integration

# The seed schema as the original product describes it (docs/database.md).
SEED_TABLES = {"users", "sessions", "sensor_data", "performance_metrics", "feedback"}
SEED_FOREIGN_KEYS = {
    ("sessions", "athlete_id", "users"),
    ("sessions", "trainer_id", "users"),
    ("sessions", "metrics_id", "performance_metrics"),
    ("sessions", "feedback_id", "feedback"),
    ("sensor_data", "session_id", "sessions"),
    ("performance_metrics", "session_id", "sessions"),
    ("feedback", "session_id", "sessions"),
}
ADDED_TABLES = {"devices", "rep_metrics", "model_versions", "dead_letters", "schema_version"}


@pytest.fixture
def conn(pg_db):
    c = pg_db.connect()
    yield c
    c.close()


def query(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def tables(conn) -> set[str]:
    return {r[0] for r in query(conn, "SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'public'")}


def foreign_keys(conn) -> set[tuple[str, str, str]]:
    rows = query(conn, """
        SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace""")
    return set(rows)


def columns(conn, table: str) -> dict[str, tuple[str, str, str | None]]:
    rows = query(conn, """SELECT column_name, data_type, is_nullable, column_default
                          FROM information_schema.columns
                          WHERE table_schema = 'public' AND table_name = %s""", (table,))
    return {name: (dtype, nullable, default) for name, dtype, nullable, default in rows}


def execute(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
    conn.commit()


def test_migrate_on_empty_database_creates_seed_schema(conn):
    applied = migrate(conn)

    assert applied == [m.version for m in load_migrations()]
    assert SEED_TABLES | ADDED_TABLES <= tables(conn)
    assert query(conn, "SELECT enumlabel FROM pg_enum WHERE enumtypid = 'lift_type'::regtype "
                       "ORDER BY enumsortorder") == [("squat",), ("bench_press",), ("deadlift",)]
    assert query(conn, "SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'") == [(1,)]
    users = columns(conn, "users")
    assert users["id"][0] == "uuid" and "gen_random_uuid()" in users["id"][2]
    assert users["email"][:2] == ("text", "NO")
    assert users["created_at"][0] == "timestamp with time zone"
    assert "now()" in users["created_at"][2]
    assert columns(conn, "sessions")["lift_type"][0] == "USER-DEFINED"
    assert columns(conn, "sensor_data")["raw_data"][0] == "jsonb"
    assert {c: columns(conn, "performance_metrics")[c][0]
            for c in ("balance_score", "stability_score", "injury_risk")} == {
        c: "double precision" for c in ("balance_score", "stability_score", "injury_risk")}
    assert SEED_FOREIGN_KEYS <= foreign_keys(conn)


def test_circular_foreign_keys_are_enforced_and_usable(conn):
    migrate(conn)
    session_id, metrics_id = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        execute(conn, "INSERT INTO sessions (id, metrics_id) VALUES (%s, %s)",
                (str(session_id), str(metrics_id)))
    conn.rollback()
    execute(conn, "INSERT INTO sessions (id, status) VALUES (%s, 'active')", (str(session_id),))
    execute(conn, "INSERT INTO performance_metrics (id, session_id, balance_score) "
                  "VALUES (%s, %s, 0.9)", (str(metrics_id), str(session_id)))
    execute(conn, "UPDATE sessions SET metrics_id = %s, status = 'ended' WHERE id = %s",
            (str(metrics_id), str(session_id)))
    assert query(conn, "SELECT m.balance_score FROM sessions s "
                       "JOIN performance_metrics m ON m.id = s.metrics_id") == [(0.9,)]


@pytest.mark.parametrize("sql, error", [
    ("INSERT INTO users (email, role) VALUES ('a@x', 'coach')", psycopg2.errors.CheckViolation),
    ("INSERT INTO users (email) VALUES (NULL)", psycopg2.errors.NotNullViolation),
    ("INSERT INTO sessions (status) VALUES ('paused')", psycopg2.errors.CheckViolation),
    ("INSERT INTO sessions (lift_type) VALUES ('curl')",
     psycopg2.errors.InvalidTextRepresentation),
    ("INSERT INTO rep_metrics (id, session_id, rep_number, injury_risk) "
     "VALUES (gen_random_uuid(), NULL, 1, 0.5)", psycopg2.errors.NotNullViolation),
    ("INSERT INTO devices (device_id) VALUES ('box/1')", psycopg2.errors.CheckViolation),
])
def test_constraints_reject_bad_rows(conn, sql, error):
    migrate(conn)
    with pytest.raises(error):
        execute(conn, sql)


def test_seed_accepts_good_rows_and_unique_email(conn):
    migrate(conn)
    execute(conn, "INSERT INTO users (email, role) VALUES ('a@x', 'athlete'), ('t@x', 'trainer')")
    execute(conn, "INSERT INTO sessions (lift_type, status) VALUES ('bench_press', 'active')")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        execute(conn, "INSERT INTO users (email, role) VALUES ('a@x', 'athlete')")


def test_migrate_twice_is_a_no_op(conn):
    migrate(conn)
    execute(conn, "INSERT INTO users (email, role) VALUES ('keep@x', 'athlete')")
    before = query(conn, "SELECT version, applied_at FROM schema_version ORDER BY version")

    assert migrate(conn) == []
    assert query(conn, "SELECT version, applied_at FROM schema_version ORDER BY version") == before
    assert query(conn, "SELECT email FROM users") == [("keep@x",)]
    assert pending(conn) == []


def test_partially_migrated_database_is_upgraded(conn):
    assert migrate(conn, target=1) == [1]
    assert "devices" not in tables(conn) and current_version(conn) == 1
    execute(conn, "INSERT INTO sessions (status) VALUES ('ended')")

    assert migrate(conn) == [m.version for m in load_migrations() if m.version > 1]
    assert current_version(conn) == load_migrations()[-1].version
    assert query(conn, "SELECT status, device_id, end_reason, wall_clock_synced FROM sessions") \
        == [("ended", None, None, None)]


def test_existing_seed_database_without_versions_is_adopted(conn):
    seed = load_migrations()[0]
    execute(conn, seed.sql)  # as the original product created it, before migrations existed
    execute(conn, "INSERT INTO users (email) VALUES ('old@x')")

    assert migrate(conn) == [m.version for m in load_migrations()[1:]]
    assert query(conn, "SELECT version FROM schema_version WHERE version = 1") == [(1,)]
    assert query(conn, "SELECT email FROM users") == [("old@x",)]


def test_partial_seed_without_versions_is_refused(conn):
    execute(conn, "CREATE TABLE users (id uuid PRIMARY KEY)")
    with pytest.raises(MigrationError, match="part of the seed schema.*sessions"):
        migrate(conn)


def test_failed_migration_is_rolled_back_and_named(conn, tmp_path):
    for m in load_migrations():
        shutil.copy(m.path, tmp_path)
    bad = tmp_path / "0099_broken.sql"
    bad.write_text("CREATE TABLE half_done (x int);\nSELECT * FROM no_such_table;\n")
    migrations = load_migrations(tmp_path)

    with pytest.raises(MigrationError, match=r"0099_broken\.sql.*no_such_table"):
        migrate(conn, migrations=migrations)
    assert "half_done" not in tables(conn)
    assert current_version(conn) == load_migrations()[-1].version


def test_concurrent_migrators_apply_each_version_once(pg_db):
    conns = [pg_db.connect() for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run(c):
        barrier.wait()
        try:
            results.append(migrate(c))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()

    assert errors == []
    assert sorted(v for r in results for v in r) == [m.version for m in load_migrations()]


def test_edited_applied_migration_warns(conn, tmp_path, caplog):
    migrate(conn)
    for m in load_migrations():
        shutil.copy(m.path, tmp_path)
    (tmp_path / "0001_seed.sql").write_text((SCHEMA_DIR / "0001_seed.sql").read_text() + "\n--\n")
    with caplog.at_level(logging.WARNING, logger="sync.migrate"):
        assert migrate(conn, migrations=load_migrations(tmp_path)) == []
    assert any("0001_seed was edited" in r.getMessage() for r in caplog.records)


def test_badly_named_migration_file_is_rejected(tmp_path):
    (tmp_path / "3_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="3_oops.sql"):
        load_migrations(tmp_path)
