-- 0003 wall-clock correction of sessions a box recorded before its clock was NTP-synchronised
-- (a Raspberry Pi has no real-time clock; see docs/operations.md, "Time without an RTC").
-- New NULLable columns only. mono_to_wall_offset_s converts the box's monotonic times
-- (sensor_data.mono_start_ns, rep_metrics.mono_*_ns) to wall time: it is the corrected offset
-- once wall_clock_corrected_at is set, and wall_clock_previous_offset_s is the one it replaced.
-- Raw chunks uploaded before the correction keep their old wall time (sensor_data.started_at,
-- 0004); the offset is the authority for them.
ALTER TABLE sessions
    ADD COLUMN mono_to_wall_offset_s        DOUBLE PRECISION,
    ADD COLUMN wall_clock_corrected_at      TIMESTAMPTZ,
    ADD COLUMN wall_clock_previous_offset_s DOUBLE PRECISION;
