"""Sign-in, sign-out and sign-up of the coach web app, on a real PostgreSQL, CSRF on."""
from __future__ import annotations

import pytest

from coach import create_app
from coach.auth import LOGIN_FAILED, SIGNUP_DONE
from tests.support.web_support import (
    PASSWORD,
    csrf_token,
    form_token,
    home_path,
    login,
    post_form,
    settings_for,
)

pytestmark = pytest.mark.integration


def count(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        value = cur.fetchone()[0]
    conn.commit()
    return value


def signup_data(email, **changes):
    data = {"first_name": "Ada", "last_name": "Lift", "email": email, "password": PASSWORD,
            "confirm": PASSWORD}
    data.update(changes)
    return data


def test_login_then_profile_then_logout(client, make_user):
    user = make_user("athlete", email="Mixed.Case@Example.org")
    assert client.get("/profile").status_code == 302
    response = login(client, "  mixed.case@example.org ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == home_path(client.application)
    page = client.get("/profile").get_data(as_text=True)
    assert user["first_name"] in page and "athlete" in page
    token = csrf_token(page)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/profile").status_code == 302


def test_session_cookie_is_httponly_lax_and_secure(client, make_user):
    user = make_user("trainer")
    response = login(client, user["email"])
    cookie = next(h for h in response.headers.getlist("Set-Cookie")
                  if h.startswith("liftguard_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_secure_flag_follows_the_config_key(web_db, make_user):
    app = create_app(settings_for(web_db, secure_cookies=False), TESTING=True)
    user = make_user("athlete")
    response = login(app.test_client(), user["email"])
    cookie = next(h for h in response.headers.getlist("Set-Cookie")
                  if h.startswith("liftguard_session="))
    assert "Secure" not in cookie and "HttpOnly" in cookie
    app.extensions["coach_db"].close()


def test_unknown_email_and_wrong_password_get_the_same_answer(client, make_user, db_conn):
    user = make_user("athlete")
    wrong = login(client, user["email"], "not the password at all")
    unknown = login(client, "nobody-here@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert LOGIN_FAILED in response.get_data(as_text=True)
    strip = lambda r: r.get_data(as_text=True).replace(user["email"], "X").replace(
        "nobody-here@example.org", "X")
    body_wrong, body_unknown = strip(wrong), strip(unknown)
    token_w, token_u = csrf_token(body_wrong), csrf_token(body_unknown)
    assert body_wrong.replace(token_w, "T") == body_unknown.replace(token_u, "T")
    assert count(db_conn, "SELECT count(*) FROM login_attempts WHERE NOT succeeded") == 2


def test_login_without_csrf_token_is_refused_and_records_nothing(client, make_user, db_conn):
    user = make_user("admin")
    response = client.post("/login", data={"email": user["email"], "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert count(db_conn, "SELECT count(*) FROM login_attempts") == 0


def test_logout_needs_post_and_a_token_and_ends_every_session(login_as, web_app):
    c1, user = login_as("trainer")
    c2, _ = login_as(user=user)
    assert c1.get("/logout").status_code == 405
    assert c1.post("/logout").status_code == 400  # no CSRF token: still signed in
    assert c1.get("/profile").status_code == 200
    token = form_token(c1, "/profile")
    assert c1.post("/logout", data={"csrf_token": token}).status_code == 302
    assert c2.get("/profile").status_code == 302  # the other browser is signed out too


def test_disabled_account_cannot_sign_in(client, make_user, db_conn):
    user = make_user("athlete")
    with db_conn.cursor() as cur:
        cur.execute("UPDATE credentials SET disabled_at = now() WHERE user_id = %s", (user["id"],))
    db_conn.commit()
    response = login(client, user["email"])
    assert response.status_code == 401 and LOGIN_FAILED in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_next_never_leaves_the_site(client, make_user, target):
    user = make_user("athlete")
    token = form_token(client, "/login")
    response = client.post("/login", query_string={"next": target},
                           data={"email": user["email"], "password": PASSWORD,
                                 "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == home_path(client.application)


def test_next_brings_the_user_back(client, make_user):
    user = make_user("admin")
    assert client.get("/admin/users").headers["Location"] == "/login?next=/admin/users"
    token = form_token(client, "/login?next=/admin/users")
    response = client.post("/login?next=/admin/users",
                           data={"email": user["email"], "password": PASSWORD,
                                 "csrf_token": token})
    assert response.headers["Location"] == "/admin/users"


def test_first_user_of_an_empty_database_becomes_admin(client, db_conn):
    page = client.get("/signup").get_data(as_text=True)
    assert "admin" in page
    response = post_form(client, "/signup", signup_data("first@example.org"))
    assert response.status_code == 302
    assert count(db_conn, "SELECT count(*) FROM users WHERE role = 'admin'") == 1
    assert login(client, "first@example.org").status_code == 302
    assert "admin" in client.get("/profile").get_data(as_text=True)


def test_after_the_first_user_signup_needs_an_invitation(client, make_user, db_conn):
    make_user("admin")
    page = client.get("/signup")
    assert page.status_code == 200 and "needs an invitation" in page.get_data(as_text=True)
    token = form_token(client, "/login")  # any form's token works for the session
    response = client.post("/signup", data={**signup_data("x@example.org"), "csrf_token": token})
    assert response.status_code == 403
    assert count(db_conn, "SELECT count(*) FROM users") == 1


def test_open_signup_makes_athletes_and_does_not_tell_which_emails_exist(web_db, make_user,
                                                                        db_conn):
    app = create_app(settings_for(web_db, signup="open"), TESTING=True)
    c = app.test_client()
    existing = make_user("trainer")
    answers = []
    for data in (signup_data("new-athlete@example.org"),
                 signup_data(existing["email"], password="another pass 99",
                             confirm="another pass 99")):
        response = post_form(c, "/signup", data)
        assert response.status_code == 302 and response.headers["Location"] == "/login"
        page = c.get("/login").get_data(as_text=True)
        answers.append(page.replace(csrf_token(page), "T"))
    assert answers[0] == answers[1] and SIGNUP_DONE.split(".")[0] in answers[0]
    assert count(db_conn, "SELECT count(*) FROM users WHERE email = 'new-athlete@example.org' "
                          "AND role = 'athlete'") == 1
    assert login(c, existing["email"], "another pass 99").status_code == 401  # unchanged
    assert login(c, existing["email"]).status_code == 302
    app.extensions["coach_db"].close()


def _invite(c, email, role):
    page = post_form(c, "/invitations", {"email": email, "role": role})
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    html = page.get_data(as_text=True)
    start = html.index("/signup?invite=")
    return html[start:html.index("<", start)]


def test_trainer_invitation_makes_an_assigned_athlete_once(login_as, client, db_conn):
    trainer_client, trainer = login_as("trainer")
    link = _invite(trainer_client, "invited@example.org", "athlete")
    page = client.get(link).get_data(as_text=True)
    assert "invited@example.org" in page and "athlete" in page
    response = post_form(client, link, signup_data("ignored@example.org"))
    assert response.status_code == 302
    assert count(db_conn, """SELECT count(*) FROM trainer_athletes ta JOIN users u
                             ON u.id = ta.athlete_id WHERE u.email = 'invited@example.org'
                             AND ta.trainer_id = %s""", (trainer["id"],)) == 1
    assert count(db_conn, "SELECT count(*) FROM users WHERE email = 'ignored@example.org'") == 0
    again = client.get(link)
    assert "not valid" in again.get_data(as_text=True)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    reuse = client.post(link, data={**signup_data("x@example.org"), "csrf_token": token,
                                    "invite": link.split("=", 1)[1]})
    assert reuse.status_code == 403


def test_invitation_claims_a_seed_user_without_credentials(login_as, client, db_conn):
    with db_conn.cursor() as cur:
        cur.execute("INSERT INTO users (first_name, last_name, email, role) "
                    "VALUES ('Old', 'Seed', 'seed@example.org', 'athlete')")
    db_conn.commit()
    admin_client, _ = login_as("admin")
    link = _invite(admin_client, "seed@example.org", "trainer")
    assert post_form(client, link, signup_data("seed@example.org")).status_code == 302
    assert login(client, "seed@example.org").status_code == 302
    assert count(db_conn, "SELECT count(*) FROM users WHERE email = 'seed@example.org' "
                          "AND role = 'athlete'") == 1  # the role it had stays


def test_expired_invitation_is_refused(login_as, client, db_conn):
    trainer_client, _ = login_as("trainer")
    link = _invite(trainer_client, "late@example.org", "athlete")
    with db_conn.cursor() as cur:
        cur.execute("UPDATE invitations SET expires_at = now() - interval '1 minute'")
    db_conn.commit()
    assert "not valid" in client.get(link).get_data(as_text=True)


def test_two_first_sign_ups_at_once_make_one_admin(web_settings, db_conn):
    import threading

    apps = [create_app(web_settings, TESTING=True) for _ in range(2)]
    clients = [app.test_client() for app in apps]
    tokens = [form_token(c, "/signup") for c in clients]
    barrier, results = threading.Barrier(2), []

    def sign_up(i):
        barrier.wait()
        results.append(clients[i].post("/signup", data={
            **signup_data(f"racer{i}@example.org"), "csrf_token": tokens[i]}).status_code)

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [302, 403]  # the second found the database no longer empty
    assert count(db_conn, "SELECT count(*) FROM users") == 1
    assert count(db_conn, "SELECT count(*) FROM users WHERE role = 'admin'") == 1
    for app in apps:
        app.extensions["coach_db"].close()
