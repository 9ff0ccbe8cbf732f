"""Errors raised by sample sources when a problem cannot be handled by counting and retrying."""
from __future__ import annotations


class SensorError(Exception):
    """A sensor cannot be used as configured; ``str()`` says which one and what to do."""
