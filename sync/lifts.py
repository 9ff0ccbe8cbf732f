"""The lifts the platform knows, by the names stored, sent and configured everywhere."""

LIFT_TYPES = ("squat", "bench_press", "deadlift")
