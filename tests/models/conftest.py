"""Fixtures of the models tests (none beyond tests/conftest.py yet); helpers in tests/support."""
