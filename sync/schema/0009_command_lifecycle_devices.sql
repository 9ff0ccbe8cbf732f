-- 0009 session commands told to the end, and boxes that announce themselves (docs/session-commands.md).

-- A coach may cancel a start the box has not answered ('cancelled'); a command nobody answered
-- before its expiry is settled 'expired' by the web app. At most one pending end per session.
ALTER TABLE session_commands DROP CONSTRAINT session_commands_status_check;
ALTER TABLE session_commands ADD CONSTRAINT session_commands_status_check
    CHECK (status IN ('pending', 'done', 'refused', 'expired', 'cancelled'));
CREATE UNIQUE INDEX session_commands_one_pending_end ON session_commands (session_id)
    WHERE kind = 'end' AND status = 'pending';
-- The bar load entered with a start (the box records it with each rep; NULL: it weighs it).
ALTER TABLE session_commands ADD COLUMN bar_load_kg DOUBLE PRECISION
    CHECK (bar_load_kg IS NULL OR (bar_load_kg > 0 AND bar_load_kg <= 500));

-- What a box last said about itself: online (its MQTT status, or a direct-mode box's start and
-- command polls) or offline (clean stop, or the broker's last will), when, and over which path.
ALTER TABLE devices
    ADD COLUMN online    BOOLEAN,
    ADD COLUMN status_at TIMESTAMPTZ,
    ADD COLUMN sync_mode TEXT CHECK (sync_mode IN ('direct', 'mqtt'));

-- Reps as the box's live path finishes them, synced while the session records, so the web
-- app's live page can show them at once (rep_metrics arrive with the end-of-session analysis).
-- id is made on the box, so a repeated upload stores nothing twice.
CREATE TABLE live_reps (
    id                UUID PRIMARY KEY,
    session_id        UUID NOT NULL REFERENCES sessions (id),
    rep_number        INTEGER NOT NULL CHECK (rep_number >= 1),
    ended_at          TIMESTAMPTZ NOT NULL,
    mean_velocity_mps DOUBLE PRECISION,
    velocity_loss_pct DOUBLE PRECISION,
    alert             TEXT
);
CREATE INDEX live_reps_session_idx ON live_reps (session_id, rep_number);
