"""A database that is down gives a 503 page that says so; the app recovers by itself."""
from __future__ import annotations

import pytest

from coach.errors import DB_DOWN
from tests.support.web_support import PASSWORD, form_token

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_503_while_down_then_recovers_without_a_restart(web_db, login_as, client, mode):
    c, user = login_as("trainer")
    assert c.get("/profile").status_code == 200  # the pool now holds a connection
    token = form_token(client, "/login")
    web_db.server.stop(mode)
    try:
        for response in (c.get("/profile"), c.get("/roster"),
                         client.post("/login", data={"email": user["email"],
                                                     "password": PASSWORD,
                                                     "csrf_token": token})):
            assert response.status_code == 503
            assert response.headers["Retry-After"]
            assert DB_DOWN.split(",")[0] in response.get_data(as_text=True)
    finally:
        web_db.server.start()
    # The connections the pool held died with the server: the first request after the
    # restart is served from a fresh one.
    assert c.get("/profile").status_code == 200
    assert c.get("/roster").status_code == 200


def test_a_terminated_backend_is_replaced_quietly(login_as, db_conn):
    c, _ = login_as("athlete")
    assert c.get("/profile").status_code == 200
    with db_conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'liftguard-web'")
    db_conn.commit()
    assert c.get("/profile").status_code == 200


def test_pooled_connections_survive_a_database_restart(web_db, login_as):
    c, _ = login_as("athlete")
    assert c.get("/profile").status_code == 200
    web_db.server.stop("fast")
    web_db.server.start()
    assert c.get("/profile").status_code == 200  # no request saw the outage


def test_the_pool_keeps_its_connections_warm(web_app, login_as, db_conn):
    c, _ = login_as("athlete")
    for _ in range(5):
        assert c.get("/profile").status_code == 200
    with db_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'liftguard-web'")
        assert cur.fetchone()[0] == 1  # one sequential client, one reused connection
    db_conn.commit()
