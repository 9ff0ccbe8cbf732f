-- 0001 seed schema: the original product's tables exactly as ../shared/SEED-SCHEMA.md gives them
-- (names, types, NULL-ness, defaults, checks, foreign keys). TIMESTAMP columns hold UTC wall time,
-- as the original app stored it. The references are circular (sessions <-> sensor_data,
-- sessions <-> performance_metrics, sessions <-> feedback, feedback -> performance_metrics), so
-- the tables come first and every foreign key is added after them.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TYPE lift_type AS ENUM ('squat', 'bench_press', 'deadlift');

CREATE TABLE users (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    first_name VARCHAR(100) NOT NULL,
    last_name  VARCHAR(100) NOT NULL,
    email      VARCHAR(255) NOT NULL UNIQUE,
    role       VARCHAR(50) CHECK (role IN ('trainer', 'athlete', 'admin')),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE sessions (
    id                    UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    trainer               UUID,
    athlete               UUID,
    lift_type             lift_type NOT NULL,
    sensor_data_id        UUID,
    performance_metric_id UUID,
    feedback_id           UUID,
    started_at            TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    ended_at              TIMESTAMP,
    created_at            TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at            TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    status                VARCHAR(50) NOT NULL CHECK (status IN ('active', 'ended'))
);

CREATE TABLE sensor_data (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    athlete    UUID,
    session    UUID,
    raw_data   JSONB NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE performance_metrics (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session         UUID NOT NULL,
    balance_score   FLOAT NOT NULL,
    stability_score FLOAT NOT NULL,
    injury_risk     FLOAT NOT NULL,
    created_at      TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE feedback (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session       UUID NOT NULL,
    metrics_id    UUID NOT NULL,
    feedback_text TEXT NOT NULL,
    created_at    TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at    TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

ALTER TABLE sessions
    ADD CONSTRAINT sessions_trainer_fkey FOREIGN KEY (trainer) REFERENCES users (id),
    ADD CONSTRAINT sessions_athlete_fkey FOREIGN KEY (athlete) REFERENCES users (id),
    ADD CONSTRAINT sessions_sensor_data_id_fkey
        FOREIGN KEY (sensor_data_id) REFERENCES sensor_data (id),
    ADD CONSTRAINT sessions_performance_metric_id_fkey
        FOREIGN KEY (performance_metric_id) REFERENCES performance_metrics (id),
    ADD CONSTRAINT sessions_feedback_id_fkey FOREIGN KEY (feedback_id) REFERENCES feedback (id);

ALTER TABLE sensor_data
    ADD CONSTRAINT sensor_data_athlete_fkey FOREIGN KEY (athlete) REFERENCES users (id),
    ADD CONSTRAINT sensor_data_session_fkey FOREIGN KEY (session) REFERENCES sessions (id);

ALTER TABLE performance_metrics
    ADD CONSTRAINT performance_metrics_session_fkey FOREIGN KEY (session) REFERENCES sessions (id);

ALTER TABLE feedback
    ADD CONSTRAINT feedback_session_fkey FOREIGN KEY (session) REFERENCES sessions (id),
    ADD CONSTRAINT feedback_metrics_id_fkey
        FOREIGN KEY (metrics_id) REFERENCES performance_metrics (id);
