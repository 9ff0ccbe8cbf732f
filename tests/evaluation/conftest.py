"""Fixtures of the evaluation tests (none beyond tests/conftest.py yet); helpers in tests/support."""
