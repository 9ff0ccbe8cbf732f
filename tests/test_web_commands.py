"""Web app -> box session commands and rep labels, on real PostgreSQL (the app as the web
role) and, for the start/end flow, real Mosquitto with the shipped ACL and a daemon on the
simulator that the page's start becomes an active session on."""
from __future__ import annotations

import re

import pytest

from tests.command_support import (DEVICE, add_device, login, mqtt_box, mqtt_server_side,
                                   shipped_broker)
from tests.daemon_helpers import wait_for
from tests.web_support import (assign, client, csrf_token, db_conn, login_as, make_user,  # noqa: F401
                               post_form, rep_labels,
                               web_app, web_db, web_settings)


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


def test_start_and_end_from_the_page_on_a_simulated_box(tmp_path, web_app, web_db, people,
                                                        login_as, mosquitto_factory,
                                                        monkeypatch):
    trainer, athlete = people
    broker = shipped_broker(mosquitto_factory)
    web_app.config["COMMAND_MQTT"] = login(broker, "liftguard-web")
    ing, rec = mqtt_server_side(broker, web_db.dsn)
    box = mqtt_box(tmp_path, broker, monkeypatch, reps=4)
    try:
        c, _ = login_as(user=trainer)
        response = _start(c, athlete)
        assert response.status_code == 303
        control = response.headers["Location"]
        session_id = re.search(r"/sessions/([0-9a-f-]{36})/control", control).group(1)
        wait_for(lambda: box.sessions.active_id == session_id, 10, "the box to start")
        page = wait_for(lambda: (lambda p: p if 'id="state">active' in p else None)(
            _page(c, control)), 10, "the page to say active")
        assert f"session {session_id} started" in page, "the box's acknowledgement is shown"

        busy = _start(c, athlete)
        assert busy.status_code == 409
        assert f"is recording session {session_id}; end it first" in busy.get_data(as_text=True)

        wait_for(box.sources_finished, 60, "the simulated set")
        ended = post_form(c, f"/sessions/{session_id}/end", {}, token_from=control)
        assert ended.status_code == 303
        page = wait_for(lambda: (lambda p: p if 'id="analysis"' in p else None)(
            _page(c, control)), 90, "the analysis on the page")
        assert 'id="state">ended' in page and 'id="feedback">' in page
        assert "<meta http-equiv=\"refresh\"" not in page, "a final page stops refreshing"
    finally:
        box.stop()
        rec.stop()
        ing.request_stop()


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
