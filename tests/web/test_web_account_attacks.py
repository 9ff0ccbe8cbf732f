"""Every flow that changes an account, a role or a roster, tried over HTTP (Flask's test client,
CSRF on, valid tokens) by a stranger, an athlete, a trainer and an admin against accounts they
do not own. Nothing may change: users, credentials, assignments and other people's invitations
are compared before and after.

The admin's own job (changing other people's roles, disabling, assigning, answering requests,
revoking, giving a password-less account its first password through a link they hand over) is
not an attack and is left out for the admin; taking over an account that has a password, and
demoting or disabling themselves, are tried.

tests/web/test_web_account_attacks_served.py repeats the reported takeover and lock-out against
`liftguard web` as deployed.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from coach import create_app
from tests.support.web_support import assign, csrf_token, login, seed_user, settings_for

pytestmark = pytest.mark.integration

NEW_PASSWORD = "attacker chose this 1"
ATTACKERS = ("stranger", "athlete", "trainer", "admin")


def snapshot(conn, attacker_id):
    """Everything an attack could change, without the attacker's own rows."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT u.id::text, u.email, u.role, u.first_name, u.last_name, c.password_hash,
                   c.disabled_at, c.session_epoch
              FROM users u LEFT JOIN credentials c ON c.user_id = u.id
             WHERE u.id::text IS DISTINCT FROM %s ORDER BY u.email""", (attacker_id,))
        users = cur.fetchall()
        cur.execute("SELECT trainer_id::text, athlete_id::text FROM trainer_athletes ORDER BY 1, 2")
        roster = cur.fetchall()
        cur.execute("""SELECT id::text, used_at, used_by::text, revoked_at FROM invitations
                        WHERE invited_by::text IS DISTINCT FROM %s ORDER BY 1""", (attacker_id,))
        invitations = cur.fetchall()
    conn.commit()
    return users, roster, invitations


@pytest.fixture
def world(web_app, db_conn, make_user):
    """Victims with and without passwords, an assignment, a disabled account, and a pending
    roster request (a trainer's invitation to an existing athlete)."""
    w: dict[str, Any] = {
        "admin": make_user("admin"), "trainer": make_user("trainer"),
        "athlete": make_user("athlete"), "other_athlete": make_user("athlete"),
        "disabled": make_user("athlete"),
        "seed_admin": seed_user(db_conn, "seed-admin@example.org", "admin"),
        "seed_athlete": seed_user(db_conn, "seed-athlete@example.org", "athlete"),
        "seed_roleless": seed_user(db_conn, "seed-none@example.org", None),
    }
    assign(db_conn, w["trainer"], w["athlete"])
    with db_conn.cursor() as cur:
        cur.execute("UPDATE credentials SET disabled_at = now() WHERE user_id = %s",
                    (w["disabled"]["id"],))
    db_conn.commit()
    c = web_app.test_client()
    assert login(c, w["trainer"]["email"]).status_code == 302
    token = csrf_token(c.get("/invitations").get_data(as_text=True))
    assert c.post("/invitations", data={"email": w["other_athlete"]["email"], "role": "athlete",
                                        "csrf_token": token}).status_code == 200
    with db_conn.cursor() as cur:
        cur.execute("SELECT id::text FROM invitations")
        w["request_id"] = cur.fetchone()[0]
    db_conn.commit()
    return w


def victims(w):
    return [w[k] for k in ("admin", "trainer", "athlete", "other_athlete", "disabled",
                           "seed_admin", "seed_athlete", "seed_roleless")]


def post(c, url, data):
    token = csrf_token(c.get("/login").get_data(as_text=True))
    return c.post(url, data={**data, "csrf_token": token})


def sign_up(c, link, email):
    return post(c, link, {"first_name": "Mal", "last_name": "Ory", "email": email,
                          "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                          "invite": link.split("=", 1)[1]})


def attack_sign_up(app, c, me, w):
    for v in victims(w):
        sign_up(c, "/signup?invite=", v["email"])
        post(c, "/signup", {"first_name": "Mal", "last_name": "Ory", "email": v["email"],
                            "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})


def attack_invite_and_claim(app, c, me, w):
    """Invite each victim's address as every role one may, open the link, set a password."""
    roles = {"trainer": ["athlete"], "admin": ["athlete", "trainer", "admin"]}.get(me["role"], [])
    for v in victims(w):
        if me["role"] == "admin" and v["password"] is None:
            continue  # an admin giving a link to a password-less account is the design
        for role in roles or ["athlete"]:
            made = post(c, "/invitations", {"email": v["email"], "role": role})
            page = made.get_data(as_text=True)
            if "/signup?invite=" not in page:
                assert made.status_code in (302, 403), made.status_code
                continue
            start = page.index("/signup?invite=")
            sign_up(app.test_client(), page[start:page.index("<", start)], v["email"])


def attack_password_change(app, c, me, w):
    for v in victims(w):
        post(c, "/profile/password", {"current": me.get("password") or "x" * 12,
                                      "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                      "id": v["id"], "user_id": v["id"], "email": v["email"]})


def attack_role_change(app, c, me, w):
    targets = [me] if me["role"] == "admin" else victims(w)
    for v in targets:
        for role in ("admin", "trainer", "athlete"):
            post(c, "/admin/users/role", {"id": v["id"], "role": role})


def attack_disable(app, c, me, w):
    targets = [me] if me["role"] == "admin" else victims(w)
    for v in targets:
        post(c, "/admin/users/disable", {"id": v["id"]})
    if me["role"] != "admin":
        post(c, "/admin/users/enable", {"id": w["disabled"]["id"]})


def attack_roster(app, c, me, w):
    if me["role"] == "admin":
        return
    mine = me["id"] if me["role"] == "trainer" else w["trainer"]["id"]
    for athlete in (w["other_athlete"], w["seed_athlete"]):
        post(c, "/roster/assign", {"trainer_id": mine, "athlete_id": athlete["id"]})
    post(c, "/roster/unassign", {"trainer_id": w["trainer"]["id"],
                                 "athlete_id": w["athlete"]["id"]})
    for decision in ("accept", "decline"):
        post(c, "/roster/requests", {"id": w["request_id"], "decision": decision})
    post(c, "/invitations/revoke", {"id": w["request_id"]})


FLOWS: dict[str, Callable[..., None]] = {
    "sign-up": attack_sign_up, "invitation and claim": attack_invite_and_claim,
    "password change": attack_password_change, "role change": attack_role_change,
    "disable and enable": attack_disable, "roster": attack_roster}


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("attacker", ATTACKERS)
def test_nothing_changes_for_accounts_the_attacker_does_not_own(web_app, db_conn, make_user,
                                                                world, attacker, flow):
    me = {"id": None, "role": "stranger"} if attacker == "stranger" else make_user(attacker)
    c = web_app.test_client()
    if attacker != "stranger":
        assert login(c, me["email"]).status_code == 302
    before = snapshot(db_conn, me["id"])
    FLOWS[flow](web_app, c, me, world)
    assert snapshot(db_conn, me["id"]) == before
    for v in victims(world):  # and nobody signs in with the attacker's password
        assert login(web_app.test_client(), v["email"], NEW_PASSWORD).status_code in (401, 429)


def test_open_sign_up_with_existing_addresses_changes_nothing(web_db, db_conn, make_user, world):
    app = create_app(settings_for(web_db, signup="open"), TESTING=True)
    before = snapshot(db_conn, None)
    attack_sign_up(app, app.test_client(), {"role": "stranger"}, world)
    assert snapshot(db_conn, None) == before
    app.extensions["coach_db"].close()


def test_an_admin_link_claims_a_password_less_account_and_keeps_its_role(login_as, client,
                                                                         db_conn, world):
    """Without mail, an admin hands the link over: that is the admin making the claim."""
    admin_client, _ = login_as("admin")
    made = post(admin_client, "/invitations", {"email": "seed-admin@example.org",
                                               "role": "athlete"})
    page = made.get_data(as_text=True)
    assert "whoever opens this link sets its password" in page
    start = page.index("/signup?invite=")
    assert sign_up(client, page[start:page.index("<", start)],
                   "seed-admin@example.org").status_code == 302
    assert login(client, "seed-admin@example.org", NEW_PASSWORD).status_code == 302
    assert client.get("/admin/users").status_code == 200  # the role it had: admin


def test_a_trainer_invitation_to_an_existing_athlete_is_a_request_they_answer(
        web_app, db_conn, world):
    athlete = world["other_athlete"]
    c = web_app.test_client()
    assert login(c, athlete["email"]).status_code == 302
    page = c.get("/profile").get_data(as_text=True)
    assert "asks to add you to their roster" in page
    assert post(c, "/roster/requests", {"id": world["request_id"],
                                        "decision": "decline"}).status_code == 302
    assert "asks to add you" not in c.get("/profile").get_data(as_text=True)
    with db_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM trainer_athletes WHERE athlete_id = %s",
                    (athlete["id"],))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT revoked_at IS NOT NULL FROM invitations WHERE id = %s",
                    (world["request_id"],))
        assert cur.fetchone()[0]
    db_conn.commit()


def test_an_admin_confirms_a_roster_request_from_the_roster_page(login_as, db_conn, world):
    admin_client, _ = login_as("admin")
    page = admin_client.get("/roster").get_data(as_text=True)
    assert "Roster requests awaiting the athlete" in page and world["other_athlete"]["email"] in page
    assert post(admin_client, "/roster/requests", {"id": world["request_id"],
                                                   "decision": "accept"}).status_code == 302
    with db_conn.cursor() as cur:
        cur.execute("SELECT trainer_id::text FROM trainer_athletes WHERE athlete_id = %s",
                    (world["other_athlete"]["id"],))
        assert cur.fetchall() == [(world["trainer"]["id"],)]
    db_conn.commit()


@pytest.mark.parametrize("data, problem", [
    ({"id": "not-a-uuid", "decision": "accept"}, "request: is not a valid id"),
    ({"id": "6f1c2d4e-0000-4000-8000-000000000001", "decision": "maybe"}, "Answer:"),
    ({"decision": "accept"}, "request:")])
def test_a_malformed_roster_answer_is_a_400_naming_the_field(login_as, db_conn, world, data,
                                                             problem):
    c, _ = login_as("athlete")
    before = snapshot(db_conn, None)
    response = post(c, "/roster/requests", data)
    assert response.status_code == 400 and problem in response.get_data(as_text=True)
    assert snapshot(db_conn, None) == before


def test_a_trainers_invitation_page_does_not_tell_which_addresses_have_accounts(login_as,
                                                                               world):
    c, _ = login_as("trainer")
    answers = []
    for email in (world["athlete"]["email"], "seed-athlete@example.org", "seed-admin@example.org",
                  "nobody-yet@example.org"):
        made = post(c, "/invitations", {"email": email, "role": "athlete"})
        page = made.get_data(as_text=True)
        start = page.index("/signup?invite=")
        page = page.replace(page[start:page.index("<", start)], "LINK")
        page = page.replace(csrf_token(page), "TOKEN")
        page = page[:page.index("<table")]  # the list below names each invited address
        answers.append((made.status_code, page))
    assert len(set(answers)) == 1
