"""Schema migrations on a real PostgreSQL: seed schema, additions, idempotence, locking, errors."""
from __future__ import annotations

import logging
import shutil
import threading
import uuid

import psycopg2
import psycopg2.errors
import pytest

from sync.migrate import (
    SCHEMA_DIR,
    MigrationError,
    current_version,
    load_migrations,
    migrate,
    pending,
)
from sync.seed_schema import SEED_COLUMNS, actual_columns, differences

pytestmark = pytest.mark.integration

# The seed schema's foreign keys as ../shared/SEED-SCHEMA.md gives them.
SEED_TABLES = {"users", "sessions", "sensor_data", "performance_metrics", "feedback"}
SEED_FOREIGN_KEYS = {
    ("sessions", "athlete", "users"),
    ("sessions", "trainer", "users"),
    ("sessions", "sensor_data_id", "sensor_data"),
    ("sessions", "performance_metric_id", "performance_metrics"),
    ("sessions", "feedback_id", "feedback"),
    ("sensor_data", "athlete", "users"),
    ("sensor_data", "session", "sessions"),
    ("performance_metrics", "session", "sessions"),
    ("feedback", "session", "sessions"),
    ("feedback", "metrics_id", "performance_metrics"),
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
    assert users["email"][:2] == ("character varying", "NO")
    assert users["created_at"][0] == "timestamp without time zone"
    assert users["created_at"][2] == "CURRENT_TIMESTAMP"
    assert columns(conn, "sessions")["lift_type"][:2] == ("USER-DEFINED", "NO")
    assert columns(conn, "sessions")["started_at"][2] == "CURRENT_TIMESTAMP"
    assert columns(conn, "sensor_data")["raw_data"][:2] == ("jsonb", "NO")
    assert SEED_FOREIGN_KEYS <= foreign_keys(conn)


def test_fresh_seed_is_exactly_the_original_and_additions_are_nullable(conn):
    migrate(conn, target=1)
    with conn.cursor() as cur:
        assert differences(cur) == []
        assert actual_columns(cur) == {t: {c: (ty, n) for c, ty, n in cols}
                                       for t, cols in SEED_COLUMNS.items()}
    conn.rollback()
    migrate(conn)
    with conn.cursor() as cur:
        after = actual_columns(cur)
    conn.rollback()
    for table, cols in SEED_COLUMNS.items():
        assert {c: after[table][c] for c, _, _ in cols} == {c: (ty, n) for c, ty, n in cols}
        added = set(after[table]) - {c for c, _, _ in cols}
        assert all(after[table][c][1] for c in added), (table, added)   # all NULLable
    checks = {r[0] for r in query(conn, "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                        "WHERE contype = 'c' AND conrelid IN "
                                        "('users'::regclass, 'sessions'::regclass)")}
    assert any("'trainer'" in c and "'athlete'" in c and "'admin'" in c for c in checks)
    assert any("'active'" in c and "'ended'" in c for c in checks)


def test_circular_foreign_keys_are_enforced_and_usable(conn):
    migrate(conn)
    session_id, metrics_id = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        execute(conn, "INSERT INTO sessions (id, lift_type, status, performance_metric_id) "
                      "VALUES (%s, 'squat', 'active', %s)", (str(session_id), str(metrics_id)))
    conn.rollback()
    execute(conn, "INSERT INTO sessions (id, lift_type, status) VALUES (%s, 'squat', 'active')",
            (str(session_id),))
    execute(conn, "INSERT INTO performance_metrics (id, session, balance_score, "
                  "stability_score, injury_risk) VALUES (%s, %s, 0.9, 0.8, 0.1)",
            (str(metrics_id), str(session_id)))
    execute(conn, "UPDATE sessions SET performance_metric_id = %s, status = 'ended' "
                  "WHERE id = %s", (str(metrics_id), str(session_id)))
    assert query(conn, "SELECT m.balance_score FROM sessions s "
                       "JOIN performance_metrics m ON m.id = s.performance_metric_id") == [(0.9,)]


@pytest.mark.parametrize("sql, error", [
    ("INSERT INTO users (first_name, last_name, email, role) VALUES ('A', 'B', 'a@x', 'coach')",
     psycopg2.errors.CheckViolation),
    ("INSERT INTO users (first_name, last_name, email) VALUES ('A', 'B', NULL)",
     psycopg2.errors.NotNullViolation),
    ("INSERT INTO users (last_name, email) VALUES ('B', 'a@x')",
     psycopg2.errors.NotNullViolation),
    ("INSERT INTO users (first_name, last_name, email) VALUES (repeat('x', 101), 'B', 'a@x')",
     psycopg2.errors.StringDataRightTruncation),
    ("INSERT INTO sessions (lift_type, status) VALUES ('squat', 'paused')",
     psycopg2.errors.CheckViolation),
    ("INSERT INTO sessions (lift_type) VALUES ('squat')", psycopg2.errors.NotNullViolation),
    ("INSERT INTO sessions (status) VALUES ('active')", psycopg2.errors.NotNullViolation),
    ("INSERT INTO sessions (lift_type, status) VALUES ('curl', 'active')",
     psycopg2.errors.InvalidTextRepresentation),
    ("INSERT INTO sensor_data (raw_data) VALUES (NULL)", psycopg2.errors.NotNullViolation),
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
    execute(conn, "INSERT INTO users (first_name, last_name, email, role) VALUES "
                  "('A', 'X', 'a@x', 'athlete'), ('T', 'X', 't@x', 'trainer'), "
                  "('D', 'X', 'd@x', 'admin'), ('N', 'X', 'n@x', NULL)")
    execute(conn, "INSERT INTO sessions (lift_type, status) VALUES ('bench_press', 'active')")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        execute(conn, "INSERT INTO users (first_name, last_name, email, role) "
                      "VALUES ('A', 'X', 'a@x', 'athlete')")


def test_migrate_twice_is_a_no_op(conn):
    migrate(conn)
    execute(conn, "INSERT INTO users (first_name, last_name, email, role) "
                  "VALUES ('K', 'X', 'keep@x', 'athlete')")
    before = query(conn, "SELECT version, applied_at FROM schema_version ORDER BY version")

    assert migrate(conn) == []
    assert query(conn, "SELECT version, applied_at FROM schema_version ORDER BY version") == before
    assert query(conn, "SELECT email FROM users") == [("keep@x",)]
    assert pending(conn) == []


def test_partially_migrated_database_is_upgraded(conn):
    assert migrate(conn, target=1) == [1]
    assert "devices" not in tables(conn) and current_version(conn) == 1
    execute(conn, "INSERT INTO sessions (lift_type, status) VALUES ('squat', 'ended')")

    assert migrate(conn) == [m.version for m in load_migrations() if m.version > 1]
    assert current_version(conn) == load_migrations()[-1].version
    assert query(conn, "SELECT status, device_id, end_reason, wall_clock_synced, "
                       "athlete_email FROM sessions") == [("ended", None, None, None, None)]


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
        except BaseException as exc:  # reported below
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
