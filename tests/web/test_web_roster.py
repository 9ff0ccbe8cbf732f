"""Roster management, invitations and the admin's user pages, on a real PostgreSQL."""
from __future__ import annotations

import pytest

from tests.support.web_support import add_session, assign, login, post_form, rows

pytestmark = pytest.mark.integration


def pairs(conn):
    return set(rows(conn, "SELECT trainer_id::text, athlete_id::text FROM trainer_athletes"))


@pytest.mark.parametrize("trainer_id", [" ", "\t", "not-an-id"])
def test_admin_unassign_refuses_a_blank_or_malformed_trainer(login_as, make_user, db_conn, trainer_id):
    c, _ = login_as("admin")
    trainer, athlete = make_user("trainer"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    response = post_form(c, "/roster/unassign", {"trainer_id": trainer_id, "athlete_id": athlete["id"]},
                         token_from="/roster")
    assert response.status_code == 400
    assert "is not a valid id" in response.get_data(as_text=True)
    assert (trainer["id"], athlete["id"]) in pairs(db_conn)


def test_admin_assigns_and_removes(login_as, make_user, db_conn):
    c, _ = login_as("admin")
    trainer, athlete = make_user("trainer"), make_user("athlete")
    page = c.get("/roster").get_data(as_text=True)
    assert trainer["email"] in page and athlete["email"] in page  # in the pickers
    response = post_form(c, "/roster/assign", {"trainer_id": trainer["id"],
                                               "athlete_id": athlete["id"]}, token_from="/roster")
    assert response.status_code == 302
    assert pairs(db_conn) == {(trainer["id"], athlete["id"])}
    assert athlete["email"] in c.get("/roster").get_data(as_text=True)
    response = post_form(c, "/roster/unassign", {"trainer_id": trainer["id"],
                                                 "athlete_id": athlete["id"]}, token_from="/roster")
    assert response.status_code == 302 and pairs(db_conn) == set()


def test_assign_refuses_wrong_roles_and_unknown_ids(login_as, make_user, db_conn):
    c, admin = login_as("admin")
    trainer, athlete = make_user("trainer"), make_user("athlete")
    for trainer_id, athlete_id in ((athlete["id"], trainer["id"]), (admin["id"], athlete["id"]),
                                   (trainer["id"], "00000000-0000-0000-0000-000000000000"),
                                   ("junk", athlete["id"])):
        response = post_form(c, "/roster/assign", {"trainer_id": trainer_id,
                                                   "athlete_id": athlete_id}, token_from="/roster")
        assert response.status_code == 400, (trainer_id, athlete_id)
        assert "Not a valid choice" in response.get_data(as_text=True) or \
            "not a valid id" in response.get_data(as_text=True)
    assert pairs(db_conn) == set()


def test_trainer_sees_and_removes_only_their_athletes(login_as, make_user, db_conn):
    c, trainer = login_as("trainer")
    mine, theirs = make_user("athlete"), make_user("athlete")
    other_trainer = make_user("trainer")
    assign(db_conn, trainer, mine)
    assign(db_conn, other_trainer, theirs)
    page = c.get("/roster").get_data(as_text=True)
    assert mine["email"] in page and theirs["email"] not in page
    # naming another trainer does not help: a trainer only ever edits their own roster
    response = post_form(c, "/roster/unassign", {"trainer_id": other_trainer["id"],
                                                 "athlete_id": theirs["id"]}, token_from="/roster")
    assert response.status_code == 302
    assert (other_trainer["id"], theirs["id"]) in pairs(db_conn)
    post_form(c, "/roster/unassign", {"athlete_id": mine["id"]}, token_from="/roster")
    assert pairs(db_conn) == {(other_trainer["id"], theirs["id"])}


def test_trainer_invites_athletes_only(login_as, db_conn):
    c, trainer = login_as("trainer")
    page = c.get("/invitations").get_data(as_text=True)
    assert 'value="athlete"' in page and 'value="admin"' not in page
    refused = post_form(c, "/invitations", {"email": "boss@example.org", "role": "admin"})
    assert refused.status_code == 400
    assert rows(db_conn, "SELECT count(*) FROM invitations")[0][0] == 0
    made = post_form(c, "/invitations", {"email": "Kid@Example.org", "role": "athlete"})
    assert made.status_code == 200 and "/signup?invite=" in made.get_data(as_text=True)
    assert rows(db_conn, "SELECT email, role, invited_by::text FROM invitations") == [
        ("kid@example.org", "athlete", trainer["id"])]
    token = rows(db_conn, "SELECT token_sha256 FROM invitations")[0][0]
    assert token not in made.get_data(as_text=True)  # only the digest is stored, never shown


def test_revoke_own_invitation_not_others(login_as, db_conn):
    c1, _ = login_as("trainer")
    c2, _ = login_as("trainer")
    post_form(c1, "/invitations", {"email": "a@example.org", "role": "athlete"})
    invitation_id = rows(db_conn, "SELECT id::text FROM invitations")[0][0]
    other = post_form(c2, "/invitations/revoke", {"id": invitation_id}, token_from="/invitations")
    assert other.status_code == 302
    assert rows(db_conn, "SELECT revoked_at FROM invitations")[0][0] is None
    own = post_form(c1, "/invitations/revoke", {"id": invitation_id}, token_from="/invitations")
    assert own.status_code == 302
    assert rows(db_conn, "SELECT revoked_at FROM invitations")[0][0] is not None
    assert "revoked" in c1.get("/invitations").get_data(as_text=True)


def test_admin_lists_users_and_changes_roles(login_as, make_user, db_conn):
    c, admin = login_as("admin")
    trainer, athlete = make_user("trainer"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    add_session(db_conn, athlete)
    page = c.get("/admin/users").get_data(as_text=True)
    assert trainer["email"] in page and athlete["email"] in page and "(you)" in page
    response = post_form(c, "/admin/users/role", {"id": trainer["id"], "role": "athlete"},
                         token_from="/admin/users")
    assert response.status_code == 302
    assert rows(db_conn, "SELECT role FROM users WHERE id = %s", (trainer["id"],)) == [("athlete",)]
    assert pairs(db_conn) == set()  # a former trainer keeps no roster
    self_demote = post_form(c, "/admin/users/role", {"id": admin["id"], "role": "athlete"},
                            token_from="/admin/users")
    assert self_demote.status_code == 400 and "own role" in self_demote.get_data(as_text=True)
    bad_role = post_form(c, "/admin/users/role", {"id": athlete["id"], "role": "superuser"},
                         token_from="/admin/users")
    assert bad_role.status_code == 400
    assert rows(db_conn, "SELECT role FROM users WHERE id = %s", (athlete["id"],)) == [("athlete",)]


def test_admin_disables_and_enables_an_account(login_as, make_user, client, db_conn):
    c, admin = login_as("admin")
    victim_client, victim = login_as("trainer")
    post_form(c, "/admin/users/disable", {"id": victim["id"]}, token_from="/admin/users")
    assert victim_client.get("/profile").status_code == 302  # signed out at once
    assert login(client, victim["email"]).status_code == 401
    post_form(c, "/admin/users/enable", {"id": victim["id"]}, token_from="/admin/users")
    assert login(client, victim["email"]).status_code == 302
    me = post_form(c, "/admin/users/disable", {"id": admin["id"]}, token_from="/admin/users")
    assert me.status_code == 400
    assert c.get("/admin/users").status_code == 200


def test_users_page_is_paginated(login_as, make_user, web_settings):
    c, _ = login_as("admin")
    for _ in range(web_settings.page_size + 1):
        make_user("athlete")
    first = c.get("/admin/users").get_data(as_text=True)
    assert "page 1 of 2" in first
    assert "page 2 of 2" in c.get("/admin/users?page=2").get_data(as_text=True)
    assert c.get("/admin/users?page=-4").status_code == 200  # falls back to page 1
