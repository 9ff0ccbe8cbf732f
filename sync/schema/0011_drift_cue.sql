-- 0011 the technique-drift cue (docs/feedback.md, docs/models.md): on the one live rep of a set
-- where the box's evidence over the set's reps crossed its threshold, what drifted in words
-- (e.g. 'the weight rocking towards the toes'); NULL on every other rep. The end-of-session
-- rep_metrics carry it as metrics.drift_cue (boolean, true on that rep).
-- A new nullable column on a table of migration 0009; no seed column changes.

ALTER TABLE live_reps
    ADD COLUMN drift_cue TEXT
        CHECK (drift_cue IS NULL OR char_length(drift_cue) BETWEEN 1 AND 200);
