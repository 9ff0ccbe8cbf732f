-- 0001 seed schema: the original product's tables, reproduced as described in docs/database.md.
-- sessions and the per-session result tables reference each other (sessions.metrics_id ->
-- performance_metrics, performance_metrics.session_id -> sessions, and the same for feedback),
-- so the tables are created first and the two back-references are added at the end.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TYPE lift_type AS ENUM ('squat', 'bench_press', 'deadlift');

CREATE TABLE users (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        TEXT,
    email       TEXT UNIQUE NOT NULL,
    role        TEXT CHECK (role IN ('athlete', 'trainer')),
    created_at  TIMESTAMPTZ DEFAULT now()
);

CREATE TABLE sessions (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    athlete_id  UUID REFERENCES users (id),
    trainer_id  UUID REFERENCES users (id),
    lift_type   lift_type,
    start_time  TIMESTAMPTZ,
    end_time    TIMESTAMPTZ,
    status      TEXT CHECK (status IN ('active', 'ended')),
    metrics_id  UUID,
    feedback_id UUID
);

CREATE TABLE sensor_data (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id  UUID REFERENCES sessions (id),
    "timestamp" TIMESTAMPTZ,
    raw_data    JSONB
);

CREATE TABLE performance_metrics (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id      UUID REFERENCES sessions (id),
    balance_score   DOUBLE PRECISION,
    stability_score DOUBLE PRECISION,
    injury_risk     DOUBLE PRECISION,
    created_at      TIMESTAMPTZ DEFAULT now()
);

CREATE TABLE feedback (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id    UUID REFERENCES sessions (id),
    feedback_text TEXT,
    created_at    TIMESTAMPTZ DEFAULT now()
);

ALTER TABLE sessions
    ADD CONSTRAINT sessions_metrics_id_fkey
    FOREIGN KEY (metrics_id) REFERENCES performance_metrics (id);

ALTER TABLE sessions
    ADD CONSTRAINT sessions_feedback_id_fkey
    FOREIGN KEY (feedback_id) REFERENCES feedback (id);
