-- 0012 raw-data retention (`liftguard db prune-raw`, docs/database.md "Retention"): one row per
-- session whose raw chunks (sensor_data) were deleted, so the raw-data page and the recording
-- CSV export can say so. Metrics, feedback, reps and derived series are never pruned.
-- Pruning the same session again (chunks a box sent after the first prune) adds to the row.
CREATE TABLE raw_data_pruned (
    session_id      UUID PRIMARY KEY REFERENCES sessions (id),
    pruned_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    older_than_days INTEGER NOT NULL CHECK (older_than_days >= 0),
    chunks          INTEGER NOT NULL CHECK (chunks >= 0),
    frames          BIGINT NOT NULL CHECK (frames >= 0),
    raw_bytes       BIGINT NOT NULL CHECK (raw_bytes >= 0),
    mono_start_ns   BIGINT,
    mono_end_ns     BIGINT
);
