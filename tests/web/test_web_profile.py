"""GET /profile: session history filtered by lift and date, with pages; bad filters get 400."""
from __future__ import annotations

import pytest

from tests.support.web_support import PASSWORD, add_session, form_token, login, rows

pytestmark = pytest.mark.integration


@pytest.fixture
def athlete_with_history(login_as, db_conn):
    c, athlete = login_as("athlete")
    made = {
        "squat_nov": add_session(db_conn, athlete, "squat", "2026-11-02 09:00:00"),
        "dead_nov": add_session(db_conn, athlete, "deadlift", "2026-11-20 18:30:00"),
        "squat_dec": add_session(db_conn, athlete, "squat", "2026-12-01 07:15:00",
                                 status="active"),
    }
    return c, athlete, made


def shown(c, query, made):
    response = c.get("/profile", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    page = response.get_data(as_text=True)
    return {name for name, sid in made.items() if sid in page}


def test_filters_by_lift_and_date(athlete_with_history):
    c, _, made = athlete_with_history
    assert shown(c, {}, made) == set(made)
    assert shown(c, {"lift": "squat"}, made) == {"squat_nov", "squat_dec"}
    assert shown(c, {"date_from": "2026-11-10"}, made) == {"dead_nov", "squat_dec"}
    assert shown(c, {"date_to": "2026-11-20"}, made) == {"squat_nov", "dead_nov"}  # inclusive
    assert shown(c, {"lift": "squat", "date_from": "2026-11-03", "date_to": "2026-12-31"},
                 made) == {"squat_dec"}
    assert shown(c, {"lift": "bench_press"}, made) == set()


def test_newest_first(athlete_with_history):
    c, _, made = athlete_with_history
    page = c.get("/profile").get_data(as_text=True)
    assert page.index(made["squat_dec"]) < page.index(made["dead_nov"]) < \
        page.index(made["squat_nov"])


@pytest.mark.parametrize("query, field", [({"lift": "curls"}, "Not a valid choice"),
                                           ({"date_from": "yesterday"}, "Not a valid date"),
                                           ({"page": "0"}, "page"),
                                           ({"page": "x"}, "page")])
def test_bad_filters_get_400_naming_the_field(athlete_with_history, query, field):
    c, _, _ = athlete_with_history
    response = c.get("/profile", query_string=query)
    assert response.status_code == 400 and field in response.get_data(as_text=True)


def test_history_is_paginated(login_as, db_conn, web_settings):
    c, athlete = login_as("athlete")
    ids = [add_session(db_conn, athlete, "squat", f"2026-10-{1 + i % 28:02d} {i % 24:02d}:00:00")
           for i in range(web_settings.page_size + 3)]
    first = c.get("/profile").get_data(as_text=True)
    second = c.get("/profile?page=2").get_data(as_text=True)
    on_first = {i for i in ids if i in first}
    on_second = {i for i in ids if i in second}
    assert len(on_first) == web_settings.page_size and len(on_second) == 3
    assert on_first.isdisjoint(on_second)
    assert f"{len(ids)} sessions" in first and "page 1 of 2" in first
    filtered = c.get("/profile?page=2&lift=squat").get_data(as_text=True)
    assert "lift=squat" in filtered  # the pager keeps the filter


def change(c, current, new, confirm=None):
    token = form_token(c, "/profile")
    return c.post("/profile/password", data={"current": current, "password": new,
                                             "confirm": confirm or new, "csrf_token": token})


def test_password_change_keeps_this_session_and_ends_the_others(login_as, client):
    c, user = login_as("trainer")
    other, _ = login_as(user=user)
    response = change(c, PASSWORD, "a brand new passphrase")
    assert response.status_code == 302
    assert "Password changed" in c.get("/profile").get_data(as_text=True)  # still signed in
    assert other.get("/profile").status_code == 302  # the other browser is signed out
    assert login(client, user["email"], PASSWORD).status_code == 401
    assert login(client, user["email"], "a brand new passphrase").status_code == 302


@pytest.mark.parametrize("current, new, confirm, message", [
    ("wrong current pass", "a brand new passphrase", None, "not the right one"),
    (PASSWORD, "short", None, "password must be"),
    (PASSWORD, "a brand new passphrase", "something else entirely", "the passwords differ"),
])
def test_password_change_refusals_change_nothing(login_as, client, current, new, confirm,
                                                 message):
    c, user = login_as("athlete")
    response = change(c, current, new, confirm)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert c.get("/profile").status_code == 200
    assert login(client, user["email"], PASSWORD).status_code == 302


def test_guessing_the_current_password_hits_the_sign_in_limit(login_as, db_conn, web_app):
    c, user = login_as("athlete")
    for _ in range(10):  # each wait let pass; then the next one is over a minute
        answer = change(c, "wrong current pass", "a brand new passphrase")
        if answer.status_code == 429:
            rows(db_conn, "UPDATE login_attempts SET attempted_at = attempted_at - "
                          "make_interval(secs => %s) RETURNING 1",
                 (int(answer.headers["Retry-After"]),))
            answer = change(c, "wrong current pass", "a brand new passphrase")
        assert answer.status_code == 400
    slowed = change(c, PASSWORD, "a brand new passphrase")
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 60
    elsewhere = web_app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "203.0.113.99"
    assert login(elsewhere, user["email"], PASSWORD).status_code == 302  # unchanged
