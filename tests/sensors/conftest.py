"""Fixtures of the sensors tests (none beyond tests/conftest.py yet); helpers in tests/support."""
