"""The local schema and its migrations, versioned with ``PRAGMA user_version``.

Tables follow the PostgreSQL seed schema (sessions, sensor_data, performance_metrics,
feedback) plus per-rep rows and the sync outbox. Times are Unix seconds (REAL, wall clock,
may be wrong before NTP sync) and ``*_mono_ns`` (INTEGER, monotonic clock of the box).
Migration N is applied, with ``user_version = N``, in one transaction, so opening is
idempotent and an interrupted migration leaves the previous version intact.
"""
from __future__ import annotations

import sqlite3

from edge_agent.store.errors import StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE sessions (
        id                    TEXT PRIMARY KEY,
        device_id             TEXT NOT NULL,
        athlete               TEXT,
        trainer               TEXT,
        lift_type             TEXT NOT NULL CHECK (lift_type IN ('squat','bench_press','deadlift')),
        status                TEXT NOT NULL CHECK (status IN ('active','ended')),
        start_time            REAL NOT NULL,
        start_mono_ns         INTEGER NOT NULL,
        wall_clock_synced     INTEGER NOT NULL CHECK (wall_clock_synced IN (0, 1)),
        mono_to_wall_offset_s REAL NOT NULL,
        end_time              REAL,
        end_mono_ns           INTEGER,
        end_reason            TEXT,
        metrics_id            TEXT,
        feedback_id           TEXT,
        created_at            REAL NOT NULL
    );
    CREATE UNIQUE INDEX sessions_one_active ON sessions (status) WHERE status = 'active';
    CREATE INDEX sessions_by_start ON sessions (start_time);

    CREATE TABLE sensor_data (
        id          TEXT PRIMARY KEY,
        session_id  TEXT NOT NULL REFERENCES sessions (id),
        source      TEXT NOT NULL,
        timestamp   REAL NOT NULL,
        t_first_ns  INTEGER NOT NULL,
        t_last_ns   INTEGER NOT NULL,
        seq_first   INTEGER NOT NULL,
        seq_last    INTEGER NOT NULL,
        n_frames    INTEGER NOT NULL,
        raw_data    TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    CREATE INDEX sensor_data_by_session ON sensor_data (session_id, id);

    CREATE TABLE performance_metrics (
        id              TEXT PRIMARY KEY,
        session_id      TEXT NOT NULL REFERENCES sessions (id),
        balance_score   REAL,
        stability_score REAL,
        injury_risk     REAL,
        details         TEXT,
        created_at      REAL NOT NULL
    );
    CREATE INDEX performance_metrics_by_session ON performance_metrics (session_id);

    CREATE TABLE feedback (
        id            TEXT PRIMARY KEY,
        session_id    TEXT NOT NULL REFERENCES sessions (id),
        feedback_text TEXT NOT NULL,
        created_at    REAL NOT NULL
    );
    CREATE INDEX feedback_by_session ON feedback (session_id);

    CREATE TABLE rep_metrics (
        id              TEXT PRIMARY KEY,
        session_id      TEXT NOT NULL REFERENCES sessions (id),
        rep_number      INTEGER NOT NULL,
        start_mono_ns   INTEGER NOT NULL,
        end_mono_ns     INTEGER NOT NULL,
        metrics         TEXT NOT NULL,
        balance_score   REAL,
        stability_score REAL,
        injury_risk     REAL,
        feedback_text   TEXT,
        created_at      REAL NOT NULL
    );
    CREATE INDEX rep_metrics_by_session ON rep_metrics (session_id, rep_number);

    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        kind            TEXT NOT NULL,
        row_id          TEXT NOT NULL,
        created_at      REAL NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_attempt_at REAL,
        last_error      TEXT
    );
    CREATE INDEX outbox_by_row ON outbox (kind, row_id);
    """,
    # 2: wall-clock correction of sessions recorded before NTP sync (edge_agent/store/wallclock.py).
    # boot_id: the monotonic clock's epoch (a session can only be corrected within its boot);
    # wall_clock_corrected_at / wall_clock_previous_offset_s: when, and from which offset, the
    # session's wall times were recomputed (mono_to_wall_offset_s then holds the new offset).
    """
    ALTER TABLE sessions ADD COLUMN boot_id TEXT;
    ALTER TABLE sessions ADD COLUMN wall_clock_corrected_at REAL;
    ALTER TABLE sessions ADD COLUMN wall_clock_previous_offset_s REAL;
    """,
    # 3: one row per rep as the live path finishes it, synced while the session records, so the
    # web app can follow a session rep by rep (the final rep_metrics come with the analysis).
    """
    CREATE TABLE live_reps (
        id                TEXT PRIMARY KEY,
        session_id        TEXT NOT NULL REFERENCES sessions (id),
        rep_number        INTEGER NOT NULL CHECK (rep_number >= 1),
        ended_at          REAL NOT NULL,
        mean_velocity_mps REAL,
        velocity_loss_pct REAL,
        alert             TEXT,
        created_at        REAL NOT NULL
    );
    CREATE INDEX live_reps_by_session ON live_reps (session_id, rep_number);
    """,
    # 4: the technique-drift cue (docs/feedback.md): what drifted, on the one rep of a set where
    # the box cued it; NULL on every other rep.
    """
    ALTER TABLE live_reps ADD COLUMN drift_cue TEXT;
    """,
    # 5: the session's display series (sync/series.py), one row per session whose id is the
    # session's: rewritten at every rep and at the end (version counts the rewrites), synced
    # as a record of its own so the web app draws charts without decoding raw chunks.
    """
    CREATE TABLE session_series (
        id          TEXT PRIMARY KEY REFERENCES sessions (id),
        session_id  TEXT NOT NULL REFERENCES sessions (id),
        version     INTEGER NOT NULL CHECK (version >= 1),
        final       INTEGER NOT NULL CHECK (final IN (0, 1)),
        series      TEXT NOT NULL,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, origin: str) -> int:
    """Bring the database to ``SCHEMA_VERSION``; returns the version found before."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise StoreError(f"{origin}: local store has schema version {found}, newer than this "
                         f"liftguard understands ({SCHEMA_VERSION}); upgrade liftguard or move "
                         f"the file aside")
    for version in range(found + 1, SCHEMA_VERSION + 1):
        try:
            conn.executescript(f"BEGIN;\n{MIGRATIONS[version - 1]}\n"
                               f"PRAGMA user_version={version};\nCOMMIT;")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"{origin}: migration to schema version {version} failed: "
                             f"{exc}") from exc
    return found
