"""Web app -> box session commands and rep labels, on real PostgreSQL (the app as the web
role), through Flask's test client: the command lifecycle the control page tells (the box's
acknowledgements written as the ack recorder writes them), refusals, and who may do what. The
flow with the real processes is tests/integration/test_deployed_commands.py."""
from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.session_command_store import record_ack
from sync.session_commands import Ack
from tests.support.command_support import DEVICE, add_device
from tests.support.web_support import assign, csrf_token, post_form, rep_labels


@pytest.fixture
def people(db_conn, make_user):
    trainer, athlete = make_user("trainer"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    add_device(db_conn)
    return trainer, athlete


def _start(c, athlete, device=DEVICE, lift="squat"):
    return post_form(c, "/sessions", {"athlete": athlete["id"], "device": device, "lift": lift},
                     token_from="/sessions/new")


def _page(c, path):
    return c.get(path).get_data(as_text=True)


def test_refusals_are_shown_and_store_nothing(people, login_as, db_conn, make_user):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    stranger = make_user("athlete")
    cases = [
        (dict(athlete=stranger), 403, "you are not a trainer of this athlete"),
        (dict(athlete={"id": "00000000-0000-0000-0000-000000000000"}), 422, "unknown athlete"),
        (dict(athlete=athlete, device="no-such-box"), 422, "unknown box"),
        (dict(athlete=athlete, lift="curl"), 422, "lift type curl is not one of squat"),
    ]
    for kwargs, status, message in cases:
        response = _start(c, **kwargs)
        assert response.status_code == status, kwargs
        assert message in response.get_data(as_text=True)
    with db_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM session_commands")
        assert cur.fetchone()[0] == 0
    db_conn.rollback()
    athlete_client, _ = login_as(user=athlete)
    assert athlete_client.post("/sessions", data={}).status_code in (400, 403)


def test_a_busy_box_is_refused_before_a_command_is_sent(people, login_as, db_conn):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    assert _start(c, athlete).status_code == 303          # pending, the box has not answered
    response = _start(c, athlete)
    assert response.status_code == 409
    assert "has not answered the start" in response.get_data(as_text=True)


def _synced_session(conn, athlete, reps=3):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO sessions (athlete, lift_type, status, device_id) VALUES "
                    "(%s, 'squat', 'ended', %s) RETURNING id::text", (athlete["id"], DEVICE))
        sid = cur.fetchone()[0]
        for n in range(1, reps + 1):
            cur.execute("INSERT INTO rep_metrics (id, session_id, rep_number) VALUES "
                        "(gen_random_uuid(), %s, %s)", (sid, n))
    conn.commit()
    return sid


def _rows(conn, sql, params):
    """Rows read in a transaction of their own (later reads see new commits)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def _labelling(people, login_as, db_conn, reps):
    """(the athlete's trainer signed in, a synced session of ``reps`` reps, its labels URL)."""
    trainer, athlete = people
    sid = _synced_session(db_conn, athlete, reps=reps)
    c, _ = login_as(user=trainer)
    return c, sid, f"/sessions/{sid}/labels"


def test_labels_per_rep_whole_set_and_changes(people, login_as, db_conn, make_user):
    trainer, athlete = people
    sid = _synced_session(db_conn, athlete)
    c, _ = login_as(user=trainer)
    url = f"/sessions/{sid}/labels"
    r = post_form(c, url, {"verdict_1": "clean", "verdict_2": "fault", "kind_2": "knee cave",
                           "verdict_3": ""})
    assert r.status_code == 303
    assert rep_labels(db_conn, sid) == [(1, "clean", None), (2, "fault", "knee cave")]
    page = c.get(url).get_data(as_text=True)
    assert "Marks rep 3 clean." in page and "Keeps the fault label a coach saved on rep 2" in page
    saved = post_form(c, url, {"whole_set": "clean"})
    assert saved.status_code == 303
    assert rep_labels(db_conn, sid) == [(1, "clean", None), (2, "fault", "knee cave"),
                                        (3, "clean", None)], "a coach's fault label is kept"
    message = c.get(url).get_data(as_text=True)
    assert "Saved: rep 3 clean." in message and "Kept the fault label" in message
    assert post_form(c, url, {"whole_set": "clean", "overwrite": "2"}).status_code == 303
    assert rep_labels(db_conn, sid) == [(1, "clean", None), (2, "clean", None), (3, "clean", None)]
    bad = post_form(c, url, {"verdict_1": "clean", "kind_1": "x", "verdict_2": "maybe"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "rep 1: a fault kind" in text and "rep 2: verdict must be" in text
    assert rep_labels(db_conn, sid)[1] == (2, "clean", None), "nothing changed by a bad form"
    other_trainer, _ = login_as("trainer")
    assert post_form(other_trainer, "/profile", {"verdict_1": "fault"}).status_code in (400, 405)
    assert other_trainer.get(url).status_code == 404
    athlete_client, _ = login_as(user=athlete)
    assert athlete_client.get(url).status_code == 200
    assert post_form(athlete_client, url, {"verdict_1": "fault"}).status_code == 403


def test_athlete_page_shows_the_profile_refresh(people, login_as, db_conn):
    trainer, athlete = people
    with db_conn.cursor() as cur:
        cur.execute("INSERT INTO athlete_profiles VALUES (%s, 'squat', %s, "
                    "'2026-12-01 20:00+00', 7, 2)", (athlete["id"], DEVICE))
    db_conn.commit()
    c, _ = login_as(user=trainer)
    page = c.get(f"/athletes/{athlete['id']}").get_data(as_text=True)
    assert "from 7 clean reps of 2 sessions" in page and "2026-12-01 20:00" in page


def _sid(response):
    return re.search(r"/sessions/([0-9a-f-]{36})/control", response.headers["Location"]).group(1)


def _commands(conn, sid):
    return _rows(conn, "SELECT id::text, kind, status, ack_reason FROM session_commands "
                       "WHERE session_id = %s ORDER BY issued_at", (sid,))


def _ack(conn, command_id, status, reason="", sid=None):
    return record_ack(conn, Ack(command_id, DEVICE, status, reason, sid, time.time()))


def _started(c, conn, athlete):
    """(session id, start command id) of a start POSTed from the form."""
    sid = _sid(_start(c, athlete))
    [(cid, _, _, _)] = _commands(conn, sid)
    return sid, cid


def test_refused_start_is_told_with_the_reason_and_can_be_started_again(people, login_as,
                                                                          db_conn):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    sid, cid = _started(c, db_conn, athlete)
    assert _ack(db_conn, cid, "refused", "session abc is still active; end it first", sid)
    page = _page(c, f"/sessions/{sid}/control")
    assert 'id="state">refused' in page and "session abc is still active" in page
    assert 'id="start-again"' in page and f"athlete={athlete['id']}" in page
    assert 'http-equiv="refresh"' not in page and "live.js" not in page, "final: no polling"
    again = _page(c, f"/sessions/new?athlete={athlete['id']}&device={DEVICE}&lift=deadlift")
    assert f'<option selected value="{athlete["id"]}">' in again
    assert '<option selected value="deadlift">' in again
    assert _start(c, athlete).status_code == 303, "a refused start leaves the box free"


def test_an_unanswered_start_ends_expired_and_a_pending_one_can_be_cancelled(people, login_as,
                                                                             db_conn):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    sid = _sid(_start(c, athlete))
    with db_conn.cursor() as cur:   # as if the box never answered within the 30 s
        cur.execute("UPDATE session_commands SET issued_at = now() - interval '60 s', "
                    "expires_at = now() - interval '30 s' WHERE session_id = %s", (sid,))
    db_conn.commit()
    page = _page(c, f"/sessions/{sid}/control")
    assert 'id="state">expired' in page and "no answer from the box" in page
    assert [r[2] for r in _commands(db_conn, sid)] == ["expired"]

    second = _sid(_start(c, athlete))
    page = _page(c, f"/sessions/{second}/control")
    assert 'id="state">pending' in page and 'id="cancel"' in page and "live.js" in page
    r = post_form(c, f"/sessions/{second}/cancel", {}, token_from=f"/sessions/{second}/control")
    assert r.status_code == 303
    page = _page(c, f"/sessions/{second}/control")
    assert 'id="state">cancelled' in page and 'id="start-again"' in page
    [(cid, _, status, _)] = _commands(db_conn, second)
    assert status == "cancelled"
    assert post_form(c, f"/sessions/{second}/cancel", {},
                     token_from=f"/sessions/{second}/control").status_code == 409
    assert _ack(db_conn, cid, "done", f"session {second} started", second), \
        "a box that started it anyway is told, not hidden"
    assert 'id="state">active' in _page(c, f"/sessions/{second}/control")


def test_one_pending_end_per_session_and_the_page_says_what_comes_next(people, login_as,
                                                                       db_conn):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    sid, cid = _started(c, db_conn, athlete)
    _ack(db_conn, cid, "done", f"session {sid} started", sid)
    control = f"/sessions/{sid}/control"
    assert 'id="end"' in _page(c, control)
    assert post_form(c, f"/sessions/{sid}/end", {}, token_from=control).status_code == 303
    second = post_form(c, f"/sessions/{sid}/end", {}, token_from=control)
    assert second.status_code == 409
    assert "an end is already waiting" in second.get_data(as_text=True)
    assert [r[1] for r in _commands(db_conn, sid)] == ["start", "end"]
    page = _page(c, control)
    assert "ending: waiting for the box" in page and 'id="end"' not in page
    end_id = _commands(db_conn, sid)[1][0]
    _ack(db_conn, end_id, "done", f"session {sid} ended; analysing it", sid)
    assert 'id="state">ended' in _page(c, control), "ended once the box says so"
    with db_conn.cursor() as cur:   # its session row synced while it recorded, still active
        cur.execute("INSERT INTO sessions (id, athlete, lift_type, status, device_id) VALUES "
                    "(%s, %s, 'squat', 'active', %s)", (sid, athlete["id"], DEVICE))
    db_conn.commit()
    again = _start(c, athlete)
    assert again.status_code == 303, "the box said it ended: it is free for the next start"
    with db_conn.cursor() as cur:
        cur.execute("UPDATE sessions SET status = 'ended' WHERE id = %s", (sid,))
    db_conn.commit()
    page = _page(c, control)
    assert 'id="state">ended' in page and "the analysis appears here" in page


def test_live_part_answers_304_until_something_changes(people, login_as, db_conn):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    sid = _sid(_start(c, athlete))
    live = f"/sessions/{sid}/live"
    first = c.get(live)
    assert first.status_code == 200 and 'id="state">pending' in first.get_data(as_text=True)
    etag = first.headers["ETag"]
    assert c.get(live, headers={"If-None-Match": etag}).status_code == 304
    [(cid, _, _, _)] = _commands(db_conn, sid)
    _ack(db_conn, cid, "done", f"session {sid} started", sid)
    changed = c.get(live, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert f"session {sid} started" in changed.get_data(as_text=True)
    with db_conn.cursor() as cur:   # the box synced its session row and one live rep
        cur.execute("INSERT INTO sessions (id, athlete, lift_type, status, device_id, started_at)"
                    " VALUES (%s, %s, 'squat', 'active', %s, now() AT TIME ZONE 'UTC')",
                    (sid, athlete["id"], DEVICE))
        cur.execute("INSERT INTO live_reps (id, session_id, rep_number, ended_at, "
                    "mean_velocity_mps, velocity_loss_pct, alert) VALUES (gen_random_uuid(), "
                    "%s, 1, now() - interval '4 s', 0.61, NULL, NULL), (gen_random_uuid(), %s, "
                    "2, now() - interval '2 s', 0.49, 19.7, 'the bar drifted 6 cm sideways')",
                    (sid, sid))
    db_conn.commit()
    live_reps = c.get(live, headers={"If-None-Match": changed.headers["ETag"]})
    text = live_reps.get_data(as_text=True)
    assert live_reps.status_code == 200 and 'id="live-rep-2"' in text
    assert "0.49" in text and "20 %" in text and "the bar drifted 6 cm sideways" in text
    lag = re.search(r'id="lag" data-lag="(\d+)"', text)
    assert lag and 1 <= int(lag.group(1)) <= 60, "how long ago the newest rep ended"
    assert "live from the box" in text
    with db_conn.cursor() as cur:   # the analysis arrives: its reps replace the live ones
        cur.execute("INSERT INTO rep_metrics (id, session_id, rep_number, metrics) VALUES "
                    "(gen_random_uuid(), %s, 1, '{\"mean_concentric_velocity_mps\": 0.62, "
                    "\"end_s\": 2.0}')", (sid,))
    db_conn.commit()
    final = c.get(live, headers={"If-None-Match": live_reps.headers["ETag"]})
    text = final.get_data(as_text=True)
    assert final.status_code == 200 and "0.62" in text and 'id="live-rep-2"' not in text


def test_another_trainer_or_the_athlete_can_neither_cancel_nor_end(people, login_as, db_conn):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    sid = _sid(_start(c, athlete))
    other, _ = login_as("trainer")
    token_page = "/profile"
    for path in (f"/sessions/{sid}/control", f"/sessions/{sid}/live"):
        assert other.get(path).status_code == 404
    for action in ("cancel", "end"):
        r = post_form(other, f"/sessions/{sid}/{action}", {}, token_from=token_page)
        assert r.status_code == 404
    own, _ = login_as(user=athlete)   # the athlete may watch, not command
    assert own.get(f"/sessions/{sid}/control").status_code == 200
    assert 'id="cancel"' not in _page(own, f"/sessions/{sid}/control")
    for action in ("cancel", "end"):
        r = post_form(own, f"/sessions/{sid}/{action}", {}, token_from=token_page)
        assert r.status_code == 403
    assert [r[2] for r in _commands(db_conn, sid)] == ["pending"]


@pytest.mark.parametrize("load", ["-1", "500.5", "nan", "inf", "abc", "1e999"])
def test_a_bad_bar_load_is_refused_naming_it_and_stores_nothing(people, login_as, db_conn, load):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    r = post_form(c, "/sessions", {"athlete": athlete["id"], "device": DEVICE, "lift": "squat",
                                   "bar_load": load}, token_from="/sessions/new")
    assert r.status_code == 422 and "bar load" in r.get_data(as_text=True)
    assert _commands_of_device(db_conn) == 0
    ok = post_form(c, "/sessions", {"athlete": athlete["id"], "device": DEVICE, "lift": "squat",
                                    "bar_load": "102.5"}, token_from="/sessions/new")
    assert ok.status_code == 303, "a valid start after a bad one is taken"
    assert _rows(db_conn, "SELECT bar_load_kg FROM session_commands WHERE session_id = %s",
                 (_sid(ok),)) == [(102.5,)]
    assert "bar 102.5 kg" in _page(c, f"/sessions/{_sid(ok)}/control")
    again = _page(c, f"/sessions/new?athlete={athlete['id']}&device={DEVICE}&bar_load=102.5")
    assert 'value="102.5"' in again, "start again keeps the bar load"


def _commands_of_device(conn):
    return _rows(conn, "SELECT count(*) FROM session_commands WHERE device_id = %s",
                 (DEVICE,))[0][0]


HOSTILE_VALUES = st.one_of(
    st.text(max_size=40), st.just(""), st.just("x" * 5000), st.just("a\x00b"),
    st.uuids().map(str), st.sampled_from(["nan", "inf", "-0", "1e999", "500.0001", "squat ",
                                          "bench_press", "box-1/../x", "box-1 ", "NULL"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["athlete", "device", "lift", "bar_load", "csrf_token"]),
       value=HOSTILE_VALUES)
def test_mutated_start_forms_are_refused_naming_why_or_started(people, login_as, db_conn,
                                                               field, value):
    trainer, athlete = people
    c, _ = login_as(user=trainer)
    valid = {"athlete": athlete["id"], "device": DEVICE, "lift": "squat", "bar_load": "80"}
    before = _commands_of_device(db_conn)
    if field == "csrf_token":
        r = c.post("/sessions", data={**valid, "csrf_token": value})
        assert r.status_code == 400 and "form" in r.get_data(as_text=True).lower()
    else:
        r = post_form(c, "/sessions", {**valid, field: value}, token_from="/sessions/new")
    assert r.status_code in (303, 400, 403, 409, 422), (field, value, r.status_code)
    if r.status_code == 303:   # a value that is valid after all: free the box again
        sid = _sid(r)
        assert post_form(c, f"/sessions/{sid}/cancel", {},
                         token_from=f"/sessions/{sid}/control").status_code == 303
    else:
        if field != "csrf_token":
            assert "Not started:" in r.get_data(as_text=True)
        assert _commands_of_device(db_conn) == before, "a refusal stores nothing"
    ok = post_form(c, "/sessions", valid, token_from="/sessions/new")
    assert ok.status_code == 303, "a valid start after a bad one is taken"
    sid = _sid(ok)
    post_form(c, f"/sessions/{sid}/cancel", {}, token_from=f"/sessions/{sid}/control")


def test_whole_set_clean_replaces_only_the_confirmed_faults(people, login_as, db_conn):
    c, sid, url = _labelling(people, login_as, db_conn, 4)
    post_form(c, url, {"verdict_2": "fault", "kind_2": "weight shift", "verdict_4": "fault"})
    assert post_form(c, url, {"whole_set": "clean", "overwrite": "4"}).status_code == 303
    assert rep_labels(db_conn, sid) == [(1, "clean", None), (2, "fault", "weight shift"),
                                        (3, "clean", None), (4, "clean", None)]
    bad = post_form(c, url, {"whole_set": "clean", "overwrite": "2,9"})
    assert bad.status_code == 422 and "overwrite: &#39;9&#39; is not a rep" in bad.get_data(
        as_text=True)
    assert rep_labels(db_conn, sid)[1] == (2, "fault", "weight shift")


def test_a_rep_the_form_does_not_name_keeps_its_label(people, login_as, db_conn):
    c, sid, url = _labelling(people, login_as, db_conn, 2)
    post_form(c, url, {"verdict_1": "fault", "verdict_2": "fault", "kind_2": "tilt"})
    assert post_form(c, url, {"verdict_1": "clean"}).status_code == 303   # page without rep 2
    assert rep_labels(db_conn, sid) == [(1, "clean", None), (2, "fault", "tilt")]


def test_labels_page_names_the_athlete_date_and_session(people, login_as, db_conn):
    c, sid, url = _labelling(people, login_as, db_conn, 1)
    page = c.get(url).get_data(as_text=True)
    athlete = people[1]
    assert athlete["first_name"] in page and "Squat" in page and "squat</span>" not in page
    assert f'href="/sessions/{sid}"' in page and "back to the session" in page
    assert 'for="verdict_1"' in page and 'for="kind_1"' in page


def test_other_trainers_and_athletes_cannot_change_labels(people, login_as, db_conn,
                                                         make_user):
    c, sid, url = _labelling(people, login_as, db_conn, 2)
    athlete = people[1]
    post_form(c, url, {"verdict_1": "fault", "kind_1": "knee cave"})
    before = rep_labels(db_conn, sid)
    intruders = [login_as("trainer")[0], login_as(user=athlete)[0], login_as("athlete")[0]]
    for other in intruders:
        for data in ({"verdict_1": "clean"}, {"whole_set": "clean", "overwrite": "1"}):
            token = csrf_token(other.get("/profile").get_data(as_text=True))
            assert other.post(url, data={**data, "csrf_token": token}).status_code in (403, 404)
    assert rep_labels(db_conn, sid) == before
