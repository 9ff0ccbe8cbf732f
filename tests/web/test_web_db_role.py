"""The web app's PostgreSQL role (group liftguard_webapp, login liftguard_web): reads the data
the boxes write, writes only the account tables, runs no DDL. Checked by running each statement
as that role."""
from __future__ import annotations

import psycopg2
import psycopg2.errors
import pytest

from sync.migrate import migrate
from sync.roles import apply_roles, main, password_env_var
from tests.support.services import PgDatabase
from tests.support.web_support import unique_role_name

pytestmark = pytest.mark.integration

USER = "22222222-2222-4222-8222-222222222222"
SESSION = "11111111-1111-7111-8111-111111111111"


@pytest.fixture(scope="module")
def web_dsn(pg_server):
    db = PgDatabase(pg_server, unique_role_name("webrole"))
    pg_server.create_database(db.name)
    admin = db.connect()
    try:
        migrate(admin)
        with admin.cursor() as cur:
            cur.execute("INSERT INTO users (id, first_name, last_name, email, role) "
                        "VALUES (%s, 'A', 'B', 'a@x', 'athlete')", (USER,))
            cur.execute("INSERT INTO sessions (id, athlete, lift_type, status) "
                        "VALUES (%s, %s, 'squat', 'ended')", (SESSION, USER))
        admin.commit()
        name = unique_role_name("web")
        apply_roles(admin, {name: "web"}, {password_env_var(name): "web-Pw-1"})
    finally:
        admin.close()
    yield db.dsn_for(name, "web-Pw-1")
    pg_server.drop_database(db.name)


def run_as(dsn: str, sql: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.rollback()  # every statement is checked against the same starting rows
    finally:
        conn.close()


ALLOWED = [
    *(f"SELECT * FROM {t}" for t in ("users", "sessions", "sensor_data", "performance_metrics",
                                      "feedback", "rep_metrics", "devices", "model_versions",
                                      "dead_letters", "schema_version", "credentials",
                                      "invitations", "trainer_athletes", "login_attempts",
                                      "raw_data_pruned")),
    "INSERT INTO users (first_name, last_name, email, role) VALUES ('N', 'U', 'n@x', 'trainer')",
    f"UPDATE users SET role = 'trainer' WHERE id = '{USER}'",
    f"INSERT INTO credentials (user_id, password_hash) VALUES ('{USER}', repeat('h', 40))",
    "UPDATE credentials SET session_epoch = session_epoch + 1",
    f"INSERT INTO invitations (token_sha256, email, role, invited_by, expires_at) VALUES "
    f"(repeat('a', 64), 'i@x', 'athlete', '{USER}', now())",
    "UPDATE invitations SET revoked_at = now()",
    "DELETE FROM trainer_athletes",
    "INSERT INTO login_attempts (email, client_address, succeeded) VALUES ('e', '::1', false)",
    "DELETE FROM login_attempts WHERE attempted_at < now() - interval '1 day'",
    "SELECT pg_advisory_xact_lock(1)",
]

DENIED = [
    "INSERT INTO sessions (lift_type, status) VALUES ('squat', 'active')",
    f"UPDATE sessions SET status = 'active' WHERE id = '{SESSION}'",
    "DELETE FROM sessions",
    "UPDATE sensor_data SET raw_data = '{}'",
    "DELETE FROM sensor_data",
    "INSERT INTO raw_data_pruned (session_id, older_than_days, chunks, frames, raw_bytes) "
    f"VALUES ('{SESSION}', 1, 0, 0, 0)",
    "DELETE FROM raw_data_pruned",
    "INSERT INTO devices (device_id) VALUES ('box-9')",
    "UPDATE performance_metrics SET injury_risk = 0",
    "DELETE FROM feedback",
    "DELETE FROM rep_metrics",
    "DELETE FROM dead_letters",
    "DELETE FROM users",
    "DELETE FROM credentials",
    "DELETE FROM invitations",
    "UPDATE login_attempts SET succeeded = true",
    "TRUNCATE login_attempts",
    "TRUNCATE users CASCADE",
    "CREATE TABLE evil (x int)",
    "ALTER TABLE users ADD COLUMN password text",
    "DROP TABLE login_attempts",
    "CREATE INDEX evil_idx ON users (first_name)",
    "DELETE FROM schema_version",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_web_role_may(web_dsn, sql):
    run_as(web_dsn, sql)


@pytest.mark.parametrize("sql", DENIED)
def test_web_role_may_not(web_dsn, sql):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(web_dsn, sql)


def test_create_db_roles_makes_the_web_login_by_default(pg_db, capsys):
    conn = pg_db.connect()
    migrate(conn)
    conn.close()
    env = {password_env_var("liftguard_web"): "web-Pw-2",
           password_env_var("liftguard_ingest"): "ingest-Pw-2",
           password_env_var("liftguard_coach"): "coach-Pw-2"}
    assert main(["--dsn", pg_db.dsn], environ=env) == 0
    assert "liftguard_web: " in capsys.readouterr().out
    run_as(pg_db.dsn_for("liftguard_web", "web-Pw-2"), "SELECT count(*) FROM credentials")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(pg_db.dsn_for("liftguard_coach", "coach-Pw-2"), "SELECT * FROM credentials")
