"""Fixtures of the box tests (daemon, store, feedback, uplink)."""
from __future__ import annotations

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge_agent.store import LocalStore
from sensors.clock import ManualClock
from tests.support.clock_jumps import STALE_WALL_S
from tests.support.sync_support import DEVICE


@pytest.fixture
def stale_clock_box(tmp_path):
    clock = ManualClock(mono_ns=30_000_000_000, wall_s=STALE_WALL_S)
    store = LocalStore(tmp_path, DEVICE, clock=clock, commit_interval_s=0.05)
    yield store, clock
    store.close()


@pytest.fixture(scope="module")
def mock_factory():
    previous = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous
