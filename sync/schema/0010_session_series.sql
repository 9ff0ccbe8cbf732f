-- 0010 a session's display series (sync/series.py): what the web app's session charts draw,
-- built by the box (at every rep and at the session's end) and synced as a record of its own,
-- or computed once by the web app for a session synced before boxes built them.
-- One row per session; version counts the box's rewrites, so an older one arriving late never
-- replaces a newer one; source says who built it ('box' wins over 'web').
CREATE TABLE session_series (
    session    UUID PRIMARY KEY REFERENCES sessions (id),
    source     TEXT NOT NULL CHECK (source IN ('box', 'web')),
    version    INTEGER NOT NULL CHECK (version >= 1),
    final      BOOLEAN NOT NULL,
    series     JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
