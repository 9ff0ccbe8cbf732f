"""Hostile form input, as hypothesis property tests: structured mutations of a valid
submission (fields missing, oversized, of the wrong kind, no or a wrong CSRF token) each get a
4xx with a message saying what was wrong, and nothing stored changes. The valid submission
still works afterwards."""
from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.web_support import (
    PASSWORD,
    add_session,
    assign,
    csrf_token,
    form_token,
    rep_labels,
)

pytestmark = pytest.mark.integration

PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

TABLES = ("users", "credentials", "invitations", "trainer_athletes", "login_attempts",
          "sessions")

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
not_uuid = text.filter(lambda s: len(s.strip()) != 36 and len(s.strip().replace("-", "")) != 32)
no_at = text.filter(lambda s: "@" not in s)

# field -> strategy of values that field must refuse
BAD_VALUES = {
    "email": st.one_of(no_at, st.builds(lambda n: "a" * n + "@example.org",
                                        st.integers(250, 2000))),
    "first_name": st.one_of(st.just(""), st.just("   "), st.builds(lambda n: "x" * n,
                                                                    st.integers(101, 3000))),
    "last_name": st.one_of(st.just(""), st.builds(lambda n: "y" * n, st.integers(101, 3000))),
    "password": st.one_of(st.text(max_size=9), st.builds(lambda n: "p" * n,
                                                         st.integers(257, 5000))),
    "role": text.filter(lambda s: s not in ("admin", "trainer", "athlete")),
    "id": not_uuid,
    "trainer_id": not_uuid,
    "athlete_id": not_uuid,
    "decision": text.filter(lambda s: s not in ("accept", "decline")),
}


def snapshot(conn) -> str:
    digest = hashlib.sha256()
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1")
            digest.update(repr(cur.fetchall()).encode())
    conn.commit()
    return digest.hexdigest()


def mutations(valid: dict[str, str], bad_values: dict | None = None) -> st.SearchStrategy:
    """Lists of 1-3 mutations, each of which alone makes the submission invalid."""
    bad_values = {**BAD_VALUES, **(bad_values or {})}
    fields = sorted(valid)
    refusable = [f for f in fields if f in bad_values]
    one = st.one_of(
        st.tuples(st.just("missing"), st.sampled_from(fields)),
        st.tuples(st.just("bad"), st.sampled_from(refusable)).flatmap(
            lambda m: st.tuples(st.just("bad"), st.just(m[1]), bad_values[m[1]])),
        st.just(("no_csrf",)),
        st.tuples(st.just("wrong_csrf"), st.text(min_size=0, max_size=120)),
        st.just(("huge",)),
    )
    return st.lists(one, min_size=1, max_size=3)


def apply(valid: dict[str, str], token: str, muts: list[tuple]) -> dict[str, str]:
    data = {**valid, "csrf_token": token}
    for m in muts:
        if m[0] == "missing":
            data.pop(m[1], None)
        elif m[0] == "bad":
            data[m[1]] = m[2]
            if m[1] == "password" and "confirm" in data:
                data["confirm"] = m[2]
        elif m[0] == "no_csrf":
            data.pop("csrf_token", None)
        elif m[0] == "wrong_csrf":
            data["csrf_token"] = "x" + m[1]
        elif m[0] == "huge":
            data["padding"] = "z" * 70_000
    return data


def check_refused(c, conn, url: str, token_page: str, valid: dict[str, str], muts) -> None:
    before = snapshot(conn)
    token = form_token(c, token_page)
    response = c.post(url, data=apply(valid, token, muts))
    body = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, muts, body[:400])
    if response.status_code == 413:
        assert "too large" in body
    else:
        assert 'class="error' in body, (muts, body[:1500])
    assert snapshot(conn) == before, muts


def signup_valid():
    return {"first_name": "Ada", "last_name": "Lift", "email": "ada@example.org",
            "password": PASSWORD, "confirm": PASSWORD}


def test_signup_form_refuses_mutations_and_stores_nothing(client, db_conn):
    @PROPERTY
    @given(muts=mutations(signup_valid()))
    def run(muts):
        check_refused(client, db_conn, "/signup", "/signup", signup_valid(), muts)
    run()
    token = form_token(client, "/signup")  # the valid one still works: the first admin
    assert client.post("/signup", data={**signup_valid(), "csrf_token": token}).status_code == 302


def test_login_form_refuses_mutations_and_records_no_attempt(client, make_user, db_conn):
    user = make_user("athlete")
    valid = {"email": user["email"], "password": PASSWORD}

    # A short password is a wrong password here (counted), not a malformed form.
    oversized_only = {"password": st.builds(lambda n: "p" * n, st.integers(257, 5000))}

    @PROPERTY
    @given(muts=mutations(valid, oversized_only))
    def run(muts):
        check_refused(client, db_conn, "/login", "/login", valid, muts)
    run()
    token = form_token(client, "/login")
    assert client.post("/login", data={**valid, "csrf_token": token}).status_code == 302


@pytest.fixture
def admin_world(login_as, make_user, db_conn):
    c, admin = login_as("admin")
    trainer, athlete, spare = make_user("trainer"), make_user("athlete"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    add_session(db_conn, athlete)
    token = csrf_token(c.get("/invitations").get_data(as_text=True))
    assert c.post("/invitations", data={"email": "open@example.org", "role": "athlete",
                                        "csrf_token": token}).status_code == 200
    trainer_client, _ = login_as(user=trainer)  # asks for an existing athlete: a request
    token = csrf_token(trainer_client.get("/invitations").get_data(as_text=True))
    assert trainer_client.post("/invitations", data={
        "email": spare["email"], "role": "athlete", "csrf_token": token}).status_code == 200
    with db_conn.cursor() as cur:
        cur.execute("SELECT id::text FROM invitations ORDER BY created_at")
        invitation_id, request_id = (row[0] for row in cur.fetchall())
    db_conn.commit()
    return c, {"trainer": trainer, "athlete": athlete, "spare": spare,
               "invitation": invitation_id, "request": request_id}


ADMIN_FORMS = [
    ("/roster/assign", "/roster", lambda w: {"trainer_id": w["trainer"]["id"],
                                             "athlete_id": w["spare"]["id"]}),
    ("/roster/unassign", "/roster", lambda w: {"trainer_id": w["trainer"]["id"],
                                               "athlete_id": w["athlete"]["id"]}),
    ("/invitations", "/invitations", lambda w: {"email": "new@example.org", "role": "trainer"}),
    ("/invitations/revoke", "/invitations", lambda w: {"id": w["invitation"]}),
    ("/admin/users/role", "/admin/users", lambda w: {"id": w["athlete"]["id"], "role": "trainer"}),
    ("/admin/users/disable", "/admin/users", lambda w: {"id": w["athlete"]["id"]}),
    ("/roster/requests", "/roster", lambda w: {"id": w["request"], "decision": "accept"}),
    ("/profile/password", "/profile", lambda w: {"current": PASSWORD,
                                                 "password": "a brand new passphrase",
                                                 "confirm": "a brand new passphrase"}),
]


@pytest.mark.parametrize("url, page, make_valid", ADMIN_FORMS, ids=[f[0] for f in ADMIN_FORMS])
def test_admin_forms_refuse_mutations_and_change_nothing(admin_world, db_conn, url, page,
                                                         make_valid):
    c, world = admin_world
    valid = make_valid(world)

    @PROPERTY
    @given(muts=mutations(valid))
    def run(muts):
        check_refused(c, db_conn, url, page, valid, muts)
    run()
    before = snapshot(db_conn)
    response = c.post(url, data={**valid, "csrf_token": form_token(c, page)})
    assert response.status_code in (200, 302)
    assert snapshot(db_conn) != before  # the valid submission is processed


def test_history_filters_refuse_bad_queries(login_as):
    c, _ = login_as("athlete")
    bad = st.fixed_dictionaries({}, optional={
        "lift": text.filter(lambda s: s not in ("", "squat", "bench_press", "deadlift")),
        "date_from": text.filter(lambda s: s.strip() != "" and not s[:1].isdigit()),
        "page": st.one_of(st.integers(max_value=0).map(str), text.filter(
            lambda s: s.strip() != "" and not s.strip().isdigit())),
    }).filter(bool)

    @PROPERTY
    @given(query=bad)
    @example(query={"lift": " "})  # a blank lift once passed as "all lifts" and reached SQL
    def run(query):
        response = c.get("/profile", query_string=query)
        assert response.status_code == 400, query
        assert 'class="error' in response.get_data(as_text=True)
    run()
    assert c.get("/profile", query_string={"lift": "squat"}).status_code == 200


def _rep_labels(conn, session_id: str) -> list[tuple]:
    return rep_labels(conn, session_id, "rep_number, verdict, fault_kind, labelled_by, "
                                        "labelled_at")


LABEL_VALID = {"verdict_1": "clean", "verdict_2": "fault", "kind_2": "knee cave",
               "verdict_3": ""}
verdict_words = st.sampled_from(["", "clean", "fault"])
LABEL_MUTATION = st.one_of(
    st.tuples(st.just("field"), st.sampled_from(["verdict_1", "verdict_2", "verdict_3"]),
              text.filter(lambda s: s not in ("", "clean", "fault"))),
    st.tuples(st.just("field"), st.sampled_from(["kind_1", "kind_3"]),
              text.filter(lambda s: s.strip() != "")),             # a kind without a fault
    st.tuples(st.just("field"), st.just("kind_2"),
              st.builds(lambda n: "k" * n, st.integers(65, 3000))),   # too long
    st.tuples(st.just("whole"), st.just("overwrite"),
              st.one_of(text.filter(lambda s: s.strip() != "" and not s.strip().isdecimal()),
                        st.integers(4, 10 ** 9).map(str))),          # not a rep of the session
    st.just(("no_csrf",)), st.tuples(st.just("wrong_csrf"), st.text(max_size=120)),
)


def test_label_form_refuses_mutations_and_keeps_every_label(login_as, make_user, db_conn):
    trainer, athlete = make_user("trainer"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    session_id = add_session(db_conn, athlete)
    with db_conn.cursor() as cur:
        for n in (1, 2, 3):
            cur.execute("INSERT INTO rep_metrics (id, session_id, rep_number) VALUES "
                        "(gen_random_uuid(), %s, %s)", (session_id, n))
    db_conn.commit()
    c, _ = login_as(user=trainer)
    url = f"/sessions/{session_id}/labels"
    c.post(url, data={"verdict_2": "fault", "kind_2": "weight shift",
                      "csrf_token": form_token(c, url)})

    @PROPERTY
    @given(muts=st.lists(LABEL_MUTATION, min_size=1, max_size=3), start=st.fixed_dictionaries(
        {"verdict_1": verdict_words, "verdict_3": verdict_words}))
    def run(muts, start):
        before = _rep_labels(db_conn, session_id)
        data = {**LABEL_VALID, **start, "csrf_token": form_token(c, url)}
        for m in muts:
            if m[0] == "field":
                data[m[1]] = m[2]
                if m[1] == "kind_1":
                    data["verdict_1"] = "clean"
                if m[1] == "kind_3":
                    data["verdict_3"] = ""
            elif m[0] == "whole":
                data.update({"whole_set": "clean", m[1]: m[2]})
            elif m[0] == "no_csrf":
                data.pop("csrf_token", None)
            else:
                data["csrf_token"] = "x" + m[1]
        response = c.post(url, data=data)
        body = response.get_data(as_text=True)
        assert response.status_code in (400, 422), (muts, response.status_code)
        assert 'class="error' in body, body[:800]
        if response.status_code == 422:    # the message names the rep or field
            assert re.search(r"rep \d: |overwrite: ", body), body[:800]
        assert _rep_labels(db_conn, session_id) == before, muts
    run()
    response = c.post(url, data={**LABEL_VALID, "csrf_token": form_token(c, url)})
    assert response.status_code == 303   # a valid form after the bad ones is still processed
    assert [r[:3] for r in _rep_labels(db_conn, session_id)] == [
        (1, "clean", None), (2, "fault", "knee cave")]
