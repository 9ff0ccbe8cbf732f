-- 0006 coach <-> box: session commands from the web app, coach labels on reps, and the athlete
-- profiles the boxes refresh from those labels (docs/session-commands.md). New tables only.

-- One row per command the web app issued to a box. session_id is the session the box creates
-- (start) or ends (end); it is no foreign key, because the sessions row only arrives when the
-- box syncs it. status: pending until the box acknowledges it (done / refused / expired), with
-- the box's reason in ack_reason.
CREATE TABLE session_commands (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    device_id   TEXT NOT NULL REFERENCES devices (device_id),
    kind        TEXT NOT NULL CHECK (kind IN ('start', 'end')),
    session_id  UUID NOT NULL,
    athlete     UUID REFERENCES users (id),
    lift_type   lift_type,
    issued_by   UUID NOT NULL REFERENCES users (id),
    issued_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'done', 'refused', 'expired')),
    ack_reason  TEXT,
    acked_at    TIMESTAMPTZ,
    CHECK (kind = 'end' OR (athlete IS NOT NULL AND lift_type IS NOT NULL)),
    CHECK (expires_at > issued_at)
);
CREATE INDEX session_commands_pending_idx ON session_commands (device_id) WHERE status = 'pending';
CREATE INDEX session_commands_session_idx ON session_commands (session_id);

-- A coach's verdict on one rep (rep_number as in rep_metrics). Changing a label updates the row:
-- labelled_by / labelled_at always say who gave the current verdict and when.
CREATE TABLE rep_labels (
    session_id  UUID NOT NULL REFERENCES sessions (id),
    rep_number  INTEGER NOT NULL CHECK (rep_number >= 1),
    verdict     TEXT NOT NULL CHECK (verdict IN ('clean', 'fault')),
    fault_kind  TEXT CHECK (fault_kind IS NULL OR length(fault_kind) BETWEEN 1 AND 64),
    labelled_by UUID NOT NULL REFERENCES users (id),
    labelled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, rep_number),
    CHECK (verdict = 'fault' OR fault_kind IS NULL)
);

-- What a box last built for an athlete and lift from coach-confirmed clean reps (the athlete
-- page shows it). rep_count = 0 means the box removed the profile (no clean reps left).
CREATE TABLE athlete_profiles (
    athlete       UUID NOT NULL REFERENCES users (id),
    lift_type     lift_type NOT NULL,
    device_id     TEXT NOT NULL REFERENCES devices (device_id),
    refreshed_at  TIMESTAMPTZ NOT NULL,
    rep_count     INTEGER NOT NULL CHECK (rep_count >= 0),
    session_count INTEGER NOT NULL CHECK (session_count >= 0),
    PRIMARY KEY (athlete, lift_type, device_id)
);
