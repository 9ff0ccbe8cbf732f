-- 0007 the session's velocity-loss limit on its start command (docs/session-commands.md), so a box in
-- direct mode polls it too. NULL: the box's own [feedback] velocity_loss_limit_pct applies.
-- A new nullable column on a table of migration 0006; no seed column changes.

ALTER TABLE session_commands
    ADD COLUMN velocity_loss_limit_pct DOUBLE PRECISION
        CHECK (velocity_loss_limit_pct IS NULL OR velocity_loss_limit_pct BETWEEN 1 AND 90);
