"""Shared fixtures. Datasets in ../shared/data are reached by path only and never copied."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LIFTGUARD_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def shared_data() -> Path:
    """The shared recordings folder; skips (with the reason shown by -ra) when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA} (set LIFTGUARD_DATA_DIR)")
    return SHARED_DATA


# Real PostgreSQL and Mosquitto on free loopback ports (tests/services.py).
from tests.fixtures_services import mosquitto, mosquitto_factory, pg_db, pg_server  # noqa: E402,F401


# Hypothesis: fast by default (CI, `scripts/test`); LIFTGUARD_HYPOTHESIS_PROFILE=long for a
# deeper search before a release (docs/testing.md).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("LIFTGUARD_HYPOTHESIS_PROFILE", "default"))
from tests.sync_support import pg  # noqa: E402,F401  (a freshly migrated database)
