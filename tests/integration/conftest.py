"""The deployed processes together (``liftguard ingest``, ``liftguard web``, a simulated box
through ``liftguard run``; tests/support/deployed.py): every test here is ``integration``,
whichever way it starts its servers."""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)
