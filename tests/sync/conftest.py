"""Fixtures of the sync tests (none beyond tests/conftest.py yet); helpers in tests/support."""
