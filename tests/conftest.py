"""Fixtures shared by every test folder, and the ``integration`` marker.

Each folder (sensors, sync, models, evaluation, box, web, cli, integration) has its own
conftest.py for its own fixtures; helpers live in tests/support and are imported from there.
Datasets in ../shared/data are reached by path only and never copied.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LIFTGUARD_DATA_DIR", REPO.parent / "shared" / "data"))

# Real PostgreSQL and Mosquitto on free loopback ports (tests/support/services.py), a freshly
# migrated database (``pg``), Chromium for the browser tests.
pytest_plugins = ["tests.support.fixtures_services", "tests.support.sync_support",
                  "tests.support.browser"]

SERVER_FIXTURES = frozenset({"pg_server", "pg_db", "pg", "mosquitto", "mosquitto_factory"})
"""A test using any of these (directly or through another fixture) talks to a real PostgreSQL
or Mosquitto, so it is an ``integration`` test: ``-m "not integration"`` starts no server."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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


# Hypothesis: fast by default (CI, `scripts/test`); LIFTGUARD_HYPOTHESIS_PROFILE=long for a
# deeper search before a release (docs/testing.md).
settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("LIFTGUARD_HYPOTHESIS_PROFILE", "default"))
