"""Fixtures of the cli tests (none beyond tests/conftest.py yet); helpers in tests/support."""
