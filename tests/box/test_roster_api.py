"""The local API's athlete lookup over the roster file that `liftguard sync roster` writes:
users with first_name, last_name and role (admin included), by e-mail or id."""
from __future__ import annotations

import types
import uuid

import pytest

from edge_agent.daemon.api import LocalApi
from sync.roster import Roster, RosterEntry
from tests.support.daemon_helpers import call

ANN = RosterEntry(str(uuid.uuid4()), "Ann@Gym.example", "Ann", "Lifter", "athlete")
ADA = RosterEntry(str(uuid.uuid4()), "ada@gym.example", "Ada", "Boss", "admin")
TESS = RosterEntry(str(uuid.uuid4()), "tess@gym.example", "Tess", "Coach", "trainer")


@pytest.fixture
def api(tmp_path):
    path = tmp_path / "roster.json"
    Roster([ANN, ADA, TESS], 1700000000.0).save(path)
    local = LocalApi(types.SimpleNamespace(store=None), dict, port=0,
                     roster=lambda: Roster.load(path))
    local.start()
    yield local, path
    local.close()


def test_athlete_looked_up_by_email_or_id_with_names_and_role(api):
    local, _ = api
    status, body = call(local.url, "GET", "/athletes/ann@gym.example")
    assert status == 200
    assert body == {"id": ANN.id, "email": ANN.email, "first_name": "Ann",
                    "last_name": "Lifter", "name": "Ann Lifter", "role": "athlete"}
    assert call(local.url, "GET", f"/athletes/{ADA.id.upper()}")[1]["role"] == "admin"
    assert call(local.url, "GET", "/athletes/ada@gym.example?role=athlete")[0] == 404
    status, body = call(local.url, "GET", "/athletes?role=admin")
    assert status == 200 and [u["email"] for u in body["users"]] == ["ada@gym.example"]
    assert len(call(local.url, "GET", "/athletes")[1]["users"]) == 3


def test_unknown_user_bad_role_and_unreadable_roster_are_clear_errors(api):
    local, path = api
    status, body = call(local.url, "GET", "/athletes/walk-in@gym.example")
    assert status == 404 and "sync roster" in body["error"]
    status, body = call(local.url, "GET", "/athletes?role=coach")
    assert status == 400 and "admin, trainer, athlete" in body["error"]
    assert call(local.url, "POST", "/athletes", {})[0] == 405
    path.write_text("{not json")
    status, body = call(local.url, "GET", "/athletes/ann@gym.example")
    assert status == 503 and "roster.json" in body["error"]
    assert call(local.url, "GET", "/athletes?role=trainer")[0] == 503
