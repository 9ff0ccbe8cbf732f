"""A database the original web app created (DDL written here from ../shared/SEED-SCHEMA.md, not
taken from sync/schema/0001): db migrate adopts it or refuses it, and a box syncs into it so
that the original app's reads (joins through sessions.*_id) find the session's data."""
from __future__ import annotations

import logging

import psycopg2
import pytest

from edge_agent.store import LocalStore
from liftguard.cli import main
from sync.direct import DirectSink, PgWriter
from sync.migrate import MigrationError, load_migrations, migrate
from sync.worker import SyncWorker
from tests.support.sync_support import DEVICE, record_session

pytestmark = pytest.mark.integration

# The original product's DDL, as its Flask app created it: written independently of 0001 (other
# spellings of the same types, constraints named by PostgreSQL).
ORIGINAL_DDL = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TYPE lift_type AS ENUM ('squat', 'bench_press', 'deadlift');
CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    first_name varchar(100) NOT NULL,
    last_name varchar(100) NOT NULL,
    email varchar(255) NOT NULL UNIQUE,
    role varchar(50) CHECK (role IN ('trainer', 'athlete', 'admin')),
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now());
CREATE TABLE sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trainer uuid REFERENCES users (id),
    athlete uuid REFERENCES users (id),
    lift_type lift_type NOT NULL,
    sensor_data_id uuid,
    performance_metric_id uuid,
    feedback_id uuid,
    started_at timestamp DEFAULT now(),
    ended_at timestamp,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    status varchar(50) NOT NULL CHECK (status IN ('active', 'ended')));
CREATE TABLE sensor_data (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    athlete uuid REFERENCES users (id),
    session uuid REFERENCES sessions (id),
    raw_data jsonb NOT NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now());
CREATE TABLE performance_metrics (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session uuid NOT NULL REFERENCES sessions (id),
    balance_score float NOT NULL,
    stability_score float NOT NULL,
    injury_risk float NOT NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now());
CREATE TABLE feedback (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session uuid NOT NULL REFERENCES sessions (id),
    metrics_id uuid NOT NULL REFERENCES performance_metrics (id),
    feedback_text text NOT NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now());
ALTER TABLE sessions ADD FOREIGN KEY (sensor_data_id) REFERENCES sensor_data (id);
ALTER TABLE sessions ADD FOREIGN KEY (performance_metric_id) REFERENCES performance_metrics (id);
ALTER TABLE sessions ADD FOREIGN KEY (feedback_id) REFERENCES feedback (id);
"""

# The original app's way of writing one session: two users, the session, one sensor_data
# blob, its metrics and its feedback, then the session's three links.
ORIGINAL_ROWS = """
INSERT INTO users (id, first_name, last_name, email, role) VALUES
    ('00000000-0000-4000-8000-000000000001', 'Tess', 'Coach', 'tess@gym.example', 'trainer'),
    ('00000000-0000-4000-8000-000000000002', 'Ann', 'Lifter', 'ann@gym.example', 'athlete');
INSERT INTO sessions (id, trainer, athlete, lift_type, status, started_at) VALUES
    ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001',
     '00000000-0000-4000-8000-000000000002', 'deadlift', 'active', '2025-03-01 10:00:00');
INSERT INTO sensor_data (id, athlete, session, raw_data) VALUES
    ('00000000-0000-4000-8000-0000000000d1', '00000000-0000-4000-8000-000000000002',
     '00000000-0000-4000-8000-00000000000a', '{"accel": [[0.1, 9.8, 0.0]], "hz": 100}');
INSERT INTO performance_metrics (id, session, balance_score, stability_score, injury_risk)
    VALUES ('00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-00000000000a',
            0.7, 0.6, 0.3);
INSERT INTO feedback (id, session, metrics_id, feedback_text) VALUES
    ('00000000-0000-4000-8000-0000000000f1', '00000000-0000-4000-8000-00000000000a',
     '00000000-0000-4000-8000-0000000000e1', 'Keep the bar closer to the shins.');
UPDATE sessions SET status = 'ended', ended_at = '2025-03-01 10:05:00',
    sensor_data_id = '00000000-0000-4000-8000-0000000000d1',
    performance_metric_id = '00000000-0000-4000-8000-0000000000e1',
    feedback_id = '00000000-0000-4000-8000-0000000000f1'
    WHERE id = '00000000-0000-4000-8000-00000000000a';
"""

# How the original app reads a session: through the three links.
ORIGINAL_READ = """
SELECT s.lift_type::text, s.status, ua.first_name, ut.last_name, pm.balance_score,
       pm.stability_score, pm.injury_risk, f.feedback_text, sd.raw_data, s.started_at,
       s.ended_at
FROM sessions s
JOIN performance_metrics pm ON pm.id = s.performance_metric_id
JOIN feedback f ON f.id = s.feedback_id
JOIN sensor_data sd ON sd.id = s.sensor_data_id
LEFT JOIN users ua ON ua.id = s.athlete
LEFT JOIN users ut ON ut.id = s.trainer
WHERE s.id = %s
"""
OLD_SESSION = "00000000-0000-4000-8000-00000000000a"


def _rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.commit()
    return rows


def _snapshot(conn) -> dict:
    """Everything a refusal must leave untouched: tables, columns, rows."""
    tables = _rows(conn, "SELECT table_name FROM information_schema.tables "
                         "WHERE table_schema = 'public' ORDER BY 1")
    columns = _rows(conn, "SELECT table_name, column_name, data_type, is_nullable "
                          "FROM information_schema.columns WHERE table_schema = 'public' "
                          "ORDER BY 1, 2")
    data = {t: _rows(conn, f"SELECT row_to_json(x)::text FROM {t} x ORDER BY 1")
            for (t,) in tables}
    return {"tables": tables, "columns": columns, "data": data}


@pytest.fixture
def original(pg_db):
    conn = pg_db.connect()
    with conn.cursor() as cur:
        cur.execute(ORIGINAL_DDL)
        cur.execute(ORIGINAL_ROWS)
    conn.commit()
    yield conn
    conn.close()


def test_original_database_is_adopted_and_its_rows_stay_readable(original, caplog):
    before = _rows(original, ORIGINAL_READ, (OLD_SESSION,))
    with caplog.at_level(logging.INFO, logger="sync.migrate"):
        applied = migrate(original)
    assert applied == [m.version for m in load_migrations()[1:]]
    assert any("matches the original column by column" in r.getMessage() for r in caplog.records)
    assert _rows(original, "SELECT version FROM schema_version ORDER BY 1") == \
        [(m.version,) for m in load_migrations()]
    assert _rows(original, ORIGINAL_READ, (OLD_SESSION,)) == before
    assert before[0][:8] == ("deadlift", "ended", "Ann", "Coach", 0.7, 0.6, 0.3,
                             "Keep the bar closer to the shins.")
    assert before[0][8] == {"accel": [[0.1, 9.8, 0.0]], "hz": 100}
    assert _rows(original, "SELECT device_id, end_reason, athlete_email FROM sessions") == \
        [(None, None, None)]
    assert migrate(original) == []


@pytest.mark.parametrize("change, named", [
    ("ALTER TABLE users ALTER COLUMN first_name TYPE text", "users.first_name: is text NOT NULL"),
    ("ALTER TABLE sessions ALTER COLUMN status DROP NOT NULL", "sessions.status"),
    ("ALTER TABLE sessions RENAME COLUMN started_at TO start_time", "sessions.started_at: missing"),
    ("ALTER TABLE sensor_data ADD COLUMN \"timestamp\" timestamptz", "sensor_data.timestamp"),
    ("ALTER TABLE feedback DROP COLUMN metrics_id", "feedback.metrics_id: missing"),
    ("ALTER TABLE performance_metrics ALTER COLUMN injury_risk TYPE real",
     "performance_metrics.injury_risk: is real"),
    ("ALTER TABLE sessions ALTER COLUMN started_at TYPE timestamptz",
     "sessions.started_at: is timestamp with time zone"),
])
def test_seed_table_that_differs_is_refused_naming_it_and_nothing_changes(original, change,
                                                                         named):
    _rows(original, change)
    before = _snapshot(original)
    with pytest.raises(MigrationError, match="nothing was changed") as refused:
        migrate(original)
    assert named in str(refused.value)
    assert any(p.startswith(named) for p in refused.value.problems)
    assert _snapshot(original) == before
    assert ("schema_version",) not in before["tables"]


def test_db_migrate_command_refuses_naming_each_difference(original, pg_db, tmp_path, capsys):
    _rows(original, "ALTER TABLE users ADD COLUMN name text")
    _rows(original, "ALTER TABLE sessions ALTER COLUMN ended_at TYPE timestamptz")
    before = _snapshot(original)
    config = tmp_path / "config.toml"
    config.write_text(f'[device]\nsecrets_file = "{tmp_path / "none.toml"}"\n')
    assert main(["--config", str(config), "db", "migrate", "--dsn", pg_db.dsn]) == 1
    out = capsys.readouterr().out
    assert "differ from the original schema" in out and "nothing was changed" in out
    assert "  users.name: not a column of the original schema (text NULL)" in out
    assert "  sessions.ended_at: is timestamp with time zone NULL, expected timestamp " \
           "without time zone NULL" in out
    assert _snapshot(original) == before


def test_box_session_synced_into_the_original_database_reads_the_original_way(original,
                                                                            pg_db, tmp_path):
    migrate(original)
    with LocalStore(tmp_path / "box", DEVICE) as store:
        sid = record_session(store, seconds=4, reps=2, athlete="ANN@gym.example")
        unknown = record_session(store, seconds=1, reps=0, athlete="walk-in@gym.example",
                                 t0_s=900.0)
        worker = SyncWorker(store, DirectSink(PgWriter(lambda: psycopg2.connect(pg_db.dsn)),
                                              DEVICE))
        report = worker.drain_once()
        assert report.error is None and store.backlog() == {}
        box_session = store.get_session(sid)
        chunks = store.sensor_chunks(sid, 100, None)
    first_chunk = min(chunks, key=lambda c: (c["t_first_ns"], c["id"]))
    (lift, status, first, last, balance, stability, risk, text, raw, started, ended), = \
        _rows(original, ORIGINAL_READ, (sid,))
    assert (lift, status, first, last) == ("squat", "ended", "Ann", None)
    assert (balance, stability, risk, text) == (0.9, 0.8, 0.1, "good set")
    assert raw == first_chunk["raw_data"] and raw["n"] == 200
    assert started.timestamp() == pytest.approx(box_session["start_time"], abs=1e-3)
    assert ended.timestamp() == pytest.approx(box_session["end_time"], abs=1e-3)
    # sensor_data_id names the session's first chunk; the others hang off sensor_data.session
    ((n_chunks, first_mono, athletes, box_athlete),) = _rows(
        original, "SELECT count(*), min(d.mono_start_ns), array_agg(DISTINCT d.athlete::text), "
                  "s.athlete::text FROM sessions s JOIN sensor_data d ON d.session = s.id "
                  "WHERE s.id = %s GROUP BY s.athlete", (sid,))
    assert n_chunks == 8 and athletes == [box_athlete] and box_athlete is not None
    assert _rows(original, "SELECT d.mono_start_ns FROM sessions s JOIN sensor_data d "
                           "ON d.id = s.sensor_data_id WHERE s.id = %s", (sid,)) == [(first_mono,)]
    assert _rows(original, "SELECT count(*) FROM feedback f JOIN performance_metrics m "
                           "ON m.id = f.metrics_id AND m.session = f.session "
                           "WHERE f.session = %s", (sid,)) == [(1,)]
    assert _rows(original, "SELECT athlete, athlete_email, status FROM sessions WHERE id = %s",
                 (unknown,)) == [(None, "walk-in@gym.example", "ended")]
    # the original session is untouched
    assert _rows(original, "SELECT feedback_text FROM feedback WHERE session = %s",
                 (OLD_SESSION,)) == [("Keep the bar closer to the shins.",)]
