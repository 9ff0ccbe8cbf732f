"""The start form's velocity-loss limit: stored with the command and read back by a box in
direct mode; hostile values are refused naming the field, store nothing, and a valid start
after them still goes through; only a trainer of the athlete may start."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.session_command_store import pending_commands
from tests.support.command_support import DEVICE, add_device
from tests.support.web_support import assign, post_form


def _start(c, athlete, limit):
    return post_form(c, "/sessions", {"athlete": athlete["id"], "device": DEVICE,
                                      "lift": "squat", "velocity_loss_limit_pct": limit},
                     token_from="/sessions/new")


def _clear(conn):
    with conn.cursor() as cur:
        cur.execute("DELETE FROM session_commands")
    conn.commit()


@pytest.fixture
def trainer_client(db_conn, make_user, login_as):
    trainer, athlete = make_user("trainer"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    add_device(db_conn)
    c, _ = login_as(user=trainer)
    return c, athlete


@pytest.mark.integration
def test_limit_reaches_the_box_with_the_start(trainer_client, db_conn, login_as, make_user):
    c, athlete = trainer_client
    assert 'name="velocity_loss_limit_pct"' in c.get("/sessions/new").get_data(as_text=True)
    assert _start(c, athlete, "20").status_code == 303
    [cmd] = pending_commands(db_conn, DEVICE)
    assert cmd.kind == "start" and cmd.velocity_loss_limit_pct == 20.0
    _clear(db_conn)
    assert _start(c, athlete, "").status_code == 303      # empty: the box's default
    [cmd] = pending_commands(db_conn, DEVICE)
    assert cmd.velocity_loss_limit_pct is None
    _clear(db_conn)
    other, _ = login_as(user=make_user("trainer"))        # not this athlete's trainer
    response = _start(other, athlete, "20")
    assert response.status_code == 403
    assert pending_commands(db_conn, DEVICE) == []


@pytest.mark.integration
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.sampled_from(["0", "0.99", "90.5", "-20", "nan", "inf", "1e999", "20 %%",
                                  "twenty", "2,5", "1" * 30, "\x00", "é"]),
                 st.text(max_size=12)))
def test_hostile_limits_are_refused_by_name_and_store_nothing(trainer_client, db_conn, text):
    c, athlete = trainer_client
    _clear(db_conn)
    response = _start(c, athlete, text)
    body = response.get_data(as_text=True)
    try:
        value = float(text.strip().rstrip("%").strip()) if text.strip().rstrip("%").strip() else None
    except ValueError:
        value = "bad"
    if value is None or (value != "bad" and 1 <= value <= 90):
        assert response.status_code == 303, body[:500]
    else:
        assert response.status_code in (400, 422), body[:500]
        assert response.status_code == 422 and "velocity loss limit" in body
        assert pending_commands(db_conn, DEVICE) == []
        _clear(db_conn)
        assert _start(c, athlete, "25").status_code == 303   # a valid start after a bad one
        assert pending_commands(db_conn, DEVICE)[0].velocity_loss_limit_pct == 25.0
    _clear(db_conn)
