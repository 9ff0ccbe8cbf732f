-- 0005 accounts for the coach web app (coach/). The seed users table has no password column, so
-- login credentials, invitations, trainer <-> athlete assignments and login attempts are new
-- tables; no seed column changes. Times are TIMESTAMPTZ (new tables, not seed-era readers).

-- One row per user who can sign in. session_epoch is stored in the signed session cookie and
-- checked on every request: raising it (sign-out, password change, disabling) ends every
-- session of that user at once.
CREATE TABLE credentials (
    user_id       UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL CHECK (length(password_hash) BETWEEN 20 AND 512),
    session_epoch INTEGER NOT NULL DEFAULT 0,
    disabled_at   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Sign-up invitations from an admin or trainer. Only the SHA-256 of the token is kept: the
-- link is shown once to whoever made it.
CREATE TABLE invitations (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    token_sha256 TEXT NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    email        VARCHAR(255) NOT NULL,
    role         VARCHAR(50) NOT NULL CHECK (role IN ('trainer', 'athlete', 'admin')),
    invited_by   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    used_by      UUID REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX invitations_invited_by_idx ON invitations (invited_by, created_at);

-- Which athletes a trainer looks after: a trainer sees the sessions of these athletes only.
CREATE TABLE trainer_athletes (
    trainer_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    athlete_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assigned_by UUID REFERENCES users (id) ON DELETE SET NULL,
    assigned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (trainer_id, athlete_id),
    CHECK (trainer_id <> athlete_id)
);
CREATE INDEX trainer_athletes_athlete_idx ON trainer_athletes (athlete_id);

-- Every login attempt, for rate limits per account and per client address that survive a
-- restart and are shared by all workers. email is what was typed (lower-cased), whether or not
-- such an account exists. Rows older than a day are deleted by the app.
CREATE TABLE login_attempts (
    id             BIGSERIAL PRIMARY KEY,
    attempted_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    email          VARCHAR(255) NOT NULL,
    client_address VARCHAR(64) NOT NULL,
    succeeded      BOOLEAN NOT NULL
);
CREATE INDEX login_attempts_email_idx ON login_attempts (email, attempted_at);
CREATE INDEX login_attempts_address_idx ON login_attempts (client_address, attempted_at);

-- Sign-in looks users up by lower(email); the seed's UNIQUE (email) is case-sensitive.
CREATE INDEX users_email_lower_idx ON users (lower(email));
CREATE INDEX login_attempts_attempted_at_idx ON login_attempts (attempted_at);
