-- 0002 additions for the sensor box and its sync. New tables, and new NULLable columns on seed
-- tables; no seed column changes its type or meaning, so seed-era readers keep working.

-- One row per sensor box. device_id appears in MQTT topics (liftguard/<device_id>/...), so it
-- may not contain topic separators or wildcards.
CREATE TABLE devices (
    device_id        TEXT PRIMARY KEY
                     CHECK (length(device_id) BETWEEN 1 AND 128 AND device_id !~ '[/+#[:space:]]'),
    first_seen       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen        TIMESTAMPTZ NOT NULL DEFAULT now(),
    software_version TEXT,
    model_sha256     TEXT
);

-- Model bundles seen in use, keyed by the SHA-256 of their manifest.json so that every box can
-- upsert the same row.
CREATE TABLE model_versions (
    sha256      TEXT PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    manifest    JSONB,
    first_seen  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Per-rep results. id is made on the box (time-ordered UUID), never defaulted here, so a
-- replayed upload updates the same row instead of adding one.
CREATE TABLE rep_metrics (
    id              UUID PRIMARY KEY,
    session_id      UUID NOT NULL REFERENCES sessions (id),
    rep_number      INTEGER NOT NULL CHECK (rep_number >= 1),
    start_time      TIMESTAMPTZ,
    end_time        TIMESTAMPTZ,
    mono_start_ns   BIGINT,
    mono_end_ns     BIGINT,
    metrics         JSONB NOT NULL DEFAULT '{}'::jsonb,
    balance_score   DOUBLE PRECISION,
    stability_score DOUBLE PRECISION,
    injury_risk     DOUBLE PRECISION CHECK (injury_risk BETWEEN 0 AND 1),
    feedback_text   TEXT,
    model_sha256    TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (session_id, rep_number)
);

-- Messages the ingester could not store (bad JSON, device/topic mismatch, constraint
-- violation...). payload keeps the exact bytes received; device_id is the claimed one, unchecked.
CREATE TABLE dead_letters (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    topic       TEXT,
    device_id   TEXT,
    reason      TEXT NOT NULL,
    payload     BYTEA NOT NULL
);
CREATE INDEX dead_letters_received_at_idx ON dead_letters (received_at);

-- Which box recorded a session, why it ended, and whether the box's wall clock was
-- NTP-synchronised (a Pi has no real-time clock; unsynchronised times are corrected later).
ALTER TABLE sessions
    ADD COLUMN device_id         TEXT REFERENCES devices (device_id),
    ADD COLUMN end_reason        TEXT,
    ADD COLUMN wall_clock_synced BOOLEAN;
CREATE INDEX sessions_device_id_idx ON sessions (device_id);
CREATE INDEX sessions_athlete_started_idx ON sessions (athlete, started_at);

-- Raw data is uploaded in chunks: chunk_seq orders them within a session (and makes a replayed
-- chunk an upsert), mono_*_ns give the box's monotonic time range the chunk covers.
ALTER TABLE sensor_data
    ADD COLUMN chunk_seq     INTEGER CHECK (chunk_seq >= 0),
    ADD COLUMN mono_start_ns BIGINT,
    ADD COLUMN mono_end_ns   BIGINT,
    ADD CONSTRAINT sensor_data_session_chunk_key UNIQUE (session, chunk_seq);
