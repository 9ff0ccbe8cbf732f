-- 0004 what the boxes add to the seed tables besides 0002/0003. NULLable columns only.
--
-- sessions.athlete_email / trainer_email: the athlete and trainer exactly as the box was given
-- them (normally an e-mail, possibly a users.id). sessions.athlete / trainer reference users
-- and stay NULL when no user matches; the reference is kept here so the session can be
-- attached later (docs/database.md, "Athletes not in users").
ALTER TABLE sessions
    ADD COLUMN athlete_email TEXT,
    ADD COLUMN trainer_email TEXT;

-- sensor_data.started_at: wall time (UTC, like the seed's TIMESTAMP columns) of the chunk's
-- first frame, as the box's clock gave it when the chunk was uploaded. The box's monotonic
-- range is in mono_start_ns / mono_end_ns (0002); sessions.mono_to_wall_offset_s (0003) is the
-- authority once a wall-clock correction has run.
ALTER TABLE sensor_data
    ADD COLUMN started_at TIMESTAMP;
