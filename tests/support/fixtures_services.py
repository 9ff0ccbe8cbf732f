"""Pytest fixtures for real PostgreSQL and Mosquitto (see tests/support/services.py).

Load them with ``pytest_plugins = ("tests.support.fixtures_services",)`` or by importing the fixture
names in a conftest. Tests using them skip, with the reason shown by ``-ra``, when the server
binaries are not installed.

- ``pg_server`` (session): one PostgreSQL cluster for the whole run; ``stop()``/``start()``
  keep its port and data.
- ``pg_db``: a fresh empty database on it per test (dropped afterwards, restarting the server
  first if the test left it stopped).
- ``mosquitto``: an anonymous broker per test.
- ``mosquitto_factory``: ``mosquitto_factory(users={...}, acl="...")`` for brokers with
  per-device credentials; all are stopped after the test.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest

from tests.support.services import MosquittoBroker, PgDatabase, PostgresServer, ServiceUnavailable


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_db(pg_server: PostgresServer) -> Iterator[PgDatabase]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_server.create_database(name)
    yield PgDatabase(pg_server, name)
    if not pg_server.is_running():
        pg_server.start()
    pg_server.drop_database(name)


@pytest.fixture
def mosquitto_factory() -> Iterator[Callable[..., MosquittoBroker]]:
    brokers: list[MosquittoBroker] = []

    def make(**kwargs: Any) -> MosquittoBroker:
        try:
            broker = MosquittoBroker(**kwargs)
        except ServiceUnavailable as exc:
            pytest.skip(str(exc))
        brokers.append(broker)
        broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.destroy()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    return mosquitto_factory()
