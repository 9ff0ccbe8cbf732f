"""Fixtures of the integration tests (none beyond tests/conftest.py yet); helpers in tests/support."""
