"""Who sees what: every route of the account pages for each role and for a stranger, and the
access rules (``coach.access``) that the session pages share."""
from __future__ import annotations

import uuid

import pytest
from werkzeug.exceptions import NotFound

from coach.access import athlete_filter, parse_uuid, session_or_404, visible_athlete_ids
from coach.db import get_db, query
from tests.support.web_support import add_session, assign, form_token

pytestmark = pytest.mark.integration

WHO = ("anonymous", "athlete", "trainer", "admin")

GET_ROUTES = {  # path: expected status for anonymous, athlete, trainer, admin
    "/login": (200, 200, 200, 200),
    "/signup": (200, 200, 200, 200),
    "/profile": (302, 200, 200, 200),
    "/roster": (302, 403, 200, 200),
    "/invitations": (302, 403, 200, 200),
    "/admin/users": (302, 403, 403, 200),
}

# POSTs with a valid CSRF token but no fields: refused before anything is read or written.
POST_ROUTES = {
    "/roster/assign": (302, 403, 403, 400),
    "/roster/unassign": (302, 403, 400, 400),
    "/invitations": (302, 403, 400, 400),
    "/invitations/revoke": (302, 403, 400, 400),
    "/admin/users/role": (302, 403, 403, 400),
    "/admin/users/disable": (302, 403, 403, 400),
    "/admin/users/enable": (302, 403, 403, 400),
    "/sessions": (302, 403, 422, 422),
    "/profile/password": (302, 400, 400, 400),
    "/roster/requests": (302, 400, 403, 400),
}


@pytest.fixture
def clients(client, login_as):
    made = {"anonymous": client}
    for role in WHO[1:]:
        made[role] = login_as(role)[0]
    return made


def _token(c):
    return form_token(c, "/login" if c.get("/profile").status_code != 200 else "/profile")


def test_every_get_route_for_every_role(clients):
    for path, expected in GET_ROUTES.items():
        got = tuple(clients[who].get(path).status_code for who in WHO)
        assert got == expected, f"GET {path}: {dict(zip(WHO, got))}"


def test_every_post_route_for_every_role(clients, db_conn):
    before = _table_counts(db_conn)
    for path, expected in POST_ROUTES.items():
        got = []
        for who in WHO:
            c = clients[who]
            got.append(c.post(path, data={"csrf_token": _token(c)}).status_code)
        assert tuple(got) == expected, f"POST {path}: {dict(zip(WHO, got))}"
    assert _table_counts(db_conn) == before


def test_anonymous_is_sent_to_login(client):
    response = client.get("/roster")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_forbidden_page_says_why(clients):
    page = clients["athlete"].get("/admin/users")
    assert page.status_code == 403 and "role does not allow" in page.get_data(as_text=True)


def _table_counts(conn):
    tables = ("users", "credentials", "invitations", "trainer_athletes", "sessions")
    with conn.cursor() as cur:
        counts = {}
        for t in tables:
            cur.execute(f"SELECT count(*) FROM {t}")
            counts[t] = cur.fetchone()[0]
    conn.commit()
    return counts


@pytest.fixture
def world(db_conn, make_user):
    """Two athletes, a trainer of the first only, another trainer, an admin, one session each."""
    people = {name: make_user(role) for name, role in (
        ("athlete", "athlete"), ("other_athlete", "athlete"), ("trainer", "trainer"),
        ("other_trainer", "trainer"), ("admin", "admin"))}
    assign(db_conn, people["trainer"], people["athlete"])
    sessions = {"athlete": add_session(db_conn, people["athlete"], "squat"),
                "other_athlete": add_session(db_conn, people["other_athlete"], "deadlift")}
    sessions["nobody"] = add_session(db_conn, None, "bench_press")
    return people, sessions


def test_visible_athlete_ids_per_role(web_app, world):
    people, _ = world
    with web_app.test_request_context():
        conn = get_db()
        assert visible_athlete_ids(conn, people["admin"]) is None
        assert visible_athlete_ids(conn, people["athlete"]) == {people["athlete"]["id"]}
        assert visible_athlete_ids(conn, people["trainer"]) == {people["athlete"]["id"]}
        assert visible_athlete_ids(conn, people["other_trainer"]) == set()
        assert visible_athlete_ids(conn, {**people["athlete"], "role": None}) == set()


def test_athlete_filter_limits_a_query(web_app, world):
    people, sessions = world
    with web_app.test_request_context():
        conn = get_db()
        for who, expected in (("trainer", {sessions["athlete"]}), ("admin", set(sessions.values())),
                              ("other_trainer", set())):
            where, params = athlete_filter(visible_athlete_ids(conn, people[who]))
            rows = query(conn, f"SELECT s.id::text AS id FROM sessions s WHERE {where}", params)
            assert {r["id"] for r in rows} == expected, who


SEES = {  # who: the sessions they may open
    "athlete": {"athlete"},
    "other_athlete": {"other_athlete"},
    "trainer": {"athlete"},
    "other_trainer": set(),
    "admin": {"athlete", "other_athlete", "nobody"},
}


def test_session_or_404_for_each_role_and_strangers(web_app, world):
    people, sessions = world
    with web_app.test_request_context():
        conn = get_db()
        for who, allowed in SEES.items():
            for owner, session_id in sessions.items():
                if owner in allowed:
                    assert session_or_404(conn, people[who], session_id)["id"] == session_id
                else:
                    with pytest.raises(NotFound):
                        session_or_404(conn, people[who], session_id)
        for bad in ("not-a-uuid", "", "1" * 500, str(uuid.uuid4()), "'; DROP TABLE users; --"):
            with pytest.raises(NotFound):
                session_or_404(conn, people["admin"], bad)


def test_guessed_session_ids_get_404_on_every_session_route(web_app, world, login_as):
    people, sessions = world
    session_rules = {r.rule: ("GET" if "GET" in r.methods else "POST")
                     for r in web_app.url_map.iter_rules()
                     if r.rule.startswith("/sessions/<") and r.arguments == {"session_id"}}
    assert session_rules.get("/sessions/<session_id>/end") == "POST"
    for who, allowed in SEES.items():
        c, _ = login_as(user=people[who])
        token = _token(c)
        for owner, session_id in sessions.items():
            for rule, method in session_rules.items():
                path = rule.replace("<session_id>", session_id)
                response = (c.post(path, data={"csrf_token": token}) if method == "POST"
                            else c.get(path))
                if owner in allowed:
                    # seen: the page, or a refusal to command (athlete; a session not active)
                    assert response.status_code in (200, 403, 409), (who, path, response.status_code)
                else:
                    assert response.status_code == 404, (who, path, response.status_code)
        assert c.get("/sessions/not-a-uuid").status_code == 404


def test_profile_lists_only_visible_sessions(world, login_as):
    people, sessions = world
    for who, allowed in SEES.items():
        c, _ = login_as(user=people[who])
        page = c.get("/profile").get_data(as_text=True)
        shown = {owner for owner, sid in sessions.items() if sid in page}
        assert shown == allowed, who


def test_parse_uuid():
    u = uuid.uuid4()
    assert parse_uuid(str(u).upper()) == str(u)
    assert parse_uuid("nope") is None and parse_uuid(None) is None  # type: ignore[arg-type]
