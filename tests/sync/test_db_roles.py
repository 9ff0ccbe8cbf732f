"""Least-privilege roles, checked by connecting as each role to a real PostgreSQL."""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

from sync.migrate import migrate
from sync.roles import RolesError, apply_roles, main, password_env_var, scram_sha256_verifier
from tests.support.services import PgDatabase

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SESSION = "11111111-1111-7111-8111-111111111111"
USER = "22222222-2222-4222-8222-222222222222"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"  # roles are cluster-wide; tests share the cluster


def seed_rows(conn) -> None:
    migrate(conn)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (id, first_name, last_name, email, role) "
                    "VALUES (%s, 'A', 'X', 'a@x', 'athlete')", (USER,))
        cur.execute("INSERT INTO devices (device_id) VALUES ('box-1')")
        cur.execute("INSERT INTO sessions (id, athlete, lift_type, status, device_id) "
                    "VALUES (%s, %s, 'squat', 'active', 'box-1')", (SESSION, USER))
    conn.commit()


@pytest.fixture
def migrated(pg_db):
    conn = pg_db.connect()
    seed_rows(conn)
    yield pg_db, conn
    conn.close()


@pytest.fixture(scope="module")
def logins(pg_server):
    """One migrated database with a writer and a reader login (passwords from the environment),
    shared by the privilege matrix below: no statement there may change what the others see."""
    db = PgDatabase(pg_server, unique_name("roles"))
    pg_server.create_database(db.name)
    admin = db.connect()
    try:
        seed_rows(admin)
        writer, reader = unique_name("w"), unique_name("r")
        env = {password_env_var(writer): "writer-Pw-1", password_env_var(reader): "reader-Pw-1"}
        apply_roles(admin, {writer: "writer", reader: "reader"}, env)
    finally:
        admin.close()
    yield {"writer": db.dsn_for(writer, "writer-Pw-1"), "reader": db.dsn_for(reader, "reader-Pw-1")}
    pg_server.drop_database(db.name)


def run_as(dsn: str, sql: str) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


WRITER_ALLOWED = [
    "INSERT INTO devices (device_id) VALUES ('box-2') "
    "ON CONFLICT (device_id) DO UPDATE SET last_seen = now()",
    "INSERT INTO devices (device_id) VALUES ('box-1') "
    "ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen",
    f"INSERT INTO sessions (id, lift_type, status, device_id) "
    f"VALUES ('{SESSION}', 'squat', 'ended', 'box-1') "
    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended_at = now()",
    f"INSERT INTO rep_metrics (id, session_id, rep_number, metrics) "
    f"VALUES (gen_random_uuid(), '{SESSION}', 1, '{{}}') "
    "ON CONFLICT (id) DO UPDATE SET metrics = excluded.metrics",
    f"INSERT INTO sensor_data (session, chunk_seq, raw_data) VALUES ('{SESSION}', 0, '[]') "
    "ON CONFLICT (session, chunk_seq) DO UPDATE SET raw_data = excluded.raw_data",
    "INSERT INTO dead_letters (topic, reason, payload) VALUES ('t', 'bad json', '\\x00ff')",
    "SELECT id, first_name, last_name, role FROM users",
    "SELECT max(version) FROM schema_version",
]
WRITER_FORBIDDEN = [
    f"DELETE FROM sessions WHERE id = '{SESSION}'",
    "DELETE FROM rep_metrics",
    "TRUNCATE sensor_data",
    "DELETE FROM sensor_data",
    "INSERT INTO raw_data_pruned (session_id, older_than_days, chunks, frames, raw_bytes) "
    f"VALUES ('{SESSION}', 1, 0, 0, 0)",
    "INSERT INTO users (first_name, last_name, email) VALUES ('N', 'X', 'new@x')",
    "UPDATE users SET role = 'trainer'",
    "SELECT * FROM dead_letters",
    "CREATE TABLE sneaky (x int)",
    "DROP TABLE sessions",
    "ALTER TABLE sessions ADD COLUMN x int",
    "DELETE FROM schema_version",
]
READER_ALLOWED = [
    "SELECT s.id, u.email FROM sessions s JOIN users u ON u.id = s.athlete",
    "SELECT * FROM rep_metrics", "SELECT * FROM devices", "SELECT * FROM performance_metrics",
    "SELECT * FROM raw_data_pruned",
]
READER_FORBIDDEN = [
    "INSERT INTO devices (device_id) VALUES ('box-3')",
    "UPDATE sessions SET status = 'ended'",
    "DELETE FROM users",
    "SELECT * FROM dead_letters",
    "CREATE TABLE sneaky (x int)",
    "DELETE FROM sensor_data",
    "DELETE FROM raw_data_pruned",
]


@pytest.mark.parametrize("role, sql", [("writer", s) for s in WRITER_ALLOWED]
                         + [("reader", s) for s in READER_ALLOWED])
def test_allowed_statements_succeed(logins, role, sql):
    run_as(logins[role], sql)


@pytest.mark.parametrize("role, sql", [("writer", s) for s in WRITER_FORBIDDEN]
                         + [("reader", s) for s in READER_FORBIDDEN])
def test_forbidden_statements_are_refused(logins, role, sql):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(logins[role], sql)


def test_generated_password_is_printed_once_and_kept_on_rerun(migrated, capsys):
    pg_db, _ = migrated
    name = unique_name("ingest")
    assert main(["--dsn", pg_db.dsn, "--writer", name], environ={}) == 0
    out = capsys.readouterr().out
    password = out.split("(shown once, store it now): ")[1].split()[0]
    assert run_as(pg_db.dsn_for(name, password), "SELECT count(*) FROM users") == [(1,)]

    assert main(["--dsn", pg_db.dsn, "--writer", name], environ={}) == 0
    rerun = capsys.readouterr().out
    assert "password unchanged" in rerun and "shown once" not in rerun
    run_as(pg_db.dsn_for(name, password), "SELECT 1")

    assert main(["--dsn", pg_db.dsn, "--writer", name, "--rotate"], environ={}) == 0
    new_password = capsys.readouterr().out.split("store it now): ")[1].split()[0]
    assert new_password != password
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        run_as(pg_db.dsn_for(name, password), "SELECT 1")
    run_as(pg_db.dsn_for(name, new_password), "SELECT 1")


def test_switching_a_login_from_writer_to_reader_drops_write_access(migrated):
    pg_db, admin = migrated
    name = unique_name("box")
    env = {password_env_var(name): "pw-123"}
    apply_roles(admin, {name: "writer"}, env)
    apply_roles(admin, {name: "reader"}, env)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(pg_db.dsn_for(name, "pw-123"), "INSERT INTO devices (device_id) VALUES ('b9')")


def test_script_creates_roles_with_environment_password(migrated):
    pg_db, _ = migrated
    name = unique_name("coach")
    proc = subprocess.run([str(REPO / "scripts" / "create-db-roles"), "--dsn", pg_db.dsn,
                           "--reader", name], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", password_env_var(name): "coach-Pw-9"})
    assert proc.returncode == 0, proc.stderr
    assert f"password env:{password_env_var(name)}" in proc.stdout
    assert "coach-Pw-9" not in proc.stdout
    run_as(pg_db.dsn_for(name, "coach-Pw-9"), "SELECT * FROM sessions")


def test_roles_before_migration_say_what_to_do(pg_db):
    conn = pg_db.connect()
    try:
        with pytest.raises(RolesError, match="liftguard db migrate"):
            apply_roles(conn, {unique_name("w"): "writer"}, {})
    finally:
        conn.close()


def test_verifier_rejects_passwords_postgres_would_normalise():
    with pytest.raises(RolesError, match="printable ASCII"):
        scram_sha256_verifier("pässword")
    assert scram_sha256_verifier("x", salt=b"s" * 16) != scram_sha256_verifier("x", salt=b"t" * 16)
