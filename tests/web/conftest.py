"""Fixtures of the web app tests: a fresh database with the web role, the app, a client, users."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest

from coach import WebSettings, create_app
from coach.accounts import create_user
from tests.support.services import PgDatabase, PostgresServer
from tests.support.web_support import PASSWORD, _template, login, settings_for, unique_role_name


@pytest.fixture
def web_db(pg_server: PostgresServer) -> Iterator[PgDatabase]:
    """A fresh database at the newest schema, with the web group role and a login in it."""
    name = unique_role_name("t_web")
    pg_server._admin(f'CREATE DATABASE "{name}" TEMPLATE "{_template(pg_server)}"')
    yield PgDatabase(pg_server, name)
    if not pg_server.is_running():  # a test may leave it stopped
        pg_server.start()
    pg_server.drop_database(name)


@pytest.fixture
def db_conn(web_db: PgDatabase) -> Iterator[Any]:
    """A superuser connection to the web database, for seeding rows and checking results."""
    conn = web_db.connect()
    yield conn
    conn.close()


@pytest.fixture
def web_settings(web_db: PgDatabase) -> WebSettings:
    return settings_for(web_db)


@pytest.fixture
def web_app(web_settings: WebSettings) -> Iterator[Any]:
    app = create_app(web_settings, TESTING=True)
    yield app
    app.extensions["coach_db"].close()


@pytest.fixture
def client(web_app: Any) -> Any:
    return web_app.test_client()


@pytest.fixture
def make_user(db_conn: Any) -> Callable[..., dict[str, Any]]:
    """``make_user("trainer", email=None, password=PASSWORD)`` -> the user dict plus password."""
    def make(role: str, email: str | None = None, password: str = PASSWORD,
             first_name: str | None = None, last_name: str = "Tester") -> dict[str, Any]:
        email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
        first_name = first_name or role.capitalize()
        user_id = create_user(db_conn, email, first_name, last_name, role, password)
        db_conn.commit()
        assert user_id is not None, f"{email} exists already"
        return {"id": user_id, "email": email, "first_name": first_name,
                "last_name": last_name, "role": role, "password": password}
    return make


@pytest.fixture
def login_as(web_app: Any, make_user: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    """``client, user = login_as("trainer")`` (or ``login_as(user=existing)``): its own client,
    signed in."""
    def sign_in(role: str | None = None, user: dict[str, Any] | None = None) -> tuple[Any, dict]:
        user = user or make_user(role)
        c = web_app.test_client()
        response = login(c, user["email"], user["password"])
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return c, user
    return sign_in
