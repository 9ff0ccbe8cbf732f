"""The reported takeover and lock-out, repeated as written against the app as deployed:
`liftguard web --config FILE` under gunicorn on a real PostgreSQL, secrets in the environment,
driven over HTTP; and invitation e-mails through a real SMTP server on a loopback port."""
from __future__ import annotations

import pytest

from tests.support.web_process import LiftguardWeb, SmtpSink
from tests.support.web_support import PASSWORD, add_session, rows, seed_user

pytestmark = pytest.mark.integration

ATTACKER_PASSWORD = "trainer owns this now 1"
SMTP_PASSWORD = "smtp-test-only-Pw-7"  # a test value, not a secret of anything real


def state(conn, user_id):
    with conn.cursor() as cur:
        cur.execute("""SELECT u.role, c.password_hash,
                              (SELECT array_agg(trainer_id::text ORDER BY trainer_id)
                                 FROM trainer_athletes WHERE athlete_id = u.id)
                         FROM users u LEFT JOIN credentials c ON c.user_id = u.id
                        WHERE u.id = %s""", (user_id,))
        row = cur.fetchone()
    conn.commit()
    return row


def invite_link(page_text):
    start = page_text.index("/signup?invite=")
    return page_text[start:page_text.index("<", start)]


def sign_up(browser, link, email):
    return browser.post_form(link, {"first_name": "Mal", "last_name": "Ory", "email": email,
                                    "password": ATTACKER_PASSWORD,
                                    "confirm": ATTACKER_PASSWORD, "invite": link.split("=")[1]})


@pytest.mark.parametrize("victim_role", ["admin", "athlete"])
def test_a_trainer_cannot_take_over_a_password_less_account(tmp_path, web_db, db_conn,
                                                            make_user, victim_role):
    """Finding 1 as written: the trainer invites the e-mail of an existing password-less
    account "as an athlete", opens the link the app shows them and sets a password."""
    victim = seed_user(db_conn, f"seed-{victim_role}@example.org", victim_role)
    session_id = add_session(db_conn, victim)
    trainer = make_user("trainer")
    before = state(db_conn, victim["id"])
    with LiftguardWeb(tmp_path, web_db) as web:
        attacker = web.browser()
        assert attacker.login(trainer["email"], PASSWORD).status == 302
        made = attacker.post_form("/invitations", {"email": victim["email"], "role": "athlete"})
        assert made.status == 200
        link = invite_link(made.text)  # no mail server: a trainer sees links
        assert sign_up(web.browser(), link, victim["email"]).status == 302
        thief = web.browser()
        assert thief.login(victim["email"], ATTACKER_PASSWORD).status == 401
        assert thief.get("/admin/users").status == 302  # to the sign-in page
        assert attacker.get(f"/sessions/{session_id}").status == 404
    assert state(db_conn, victim["id"]) == before  # no password, same role, no roster
    assert "/signup?invite=" not in web.output and link.split("=")[1] not in web.output


def test_five_failures_from_one_address_do_not_lock_out_the_owner(tmp_path, web_db, db_conn,
                                                                  make_user):
    """Finding 2 as written, through a trusted proxy (proxy_hops = 1) so that each request
    carries its client's address. Each wait is let pass by moving the attempts back."""
    victim = make_user("admin")
    with LiftguardWeb(tmp_path, web_db, "proxy_hops = 1\n") as web:
        attacker = web.browser(forwarded_for="198.51.100.66")

        def fail():
            answer = attacker.login(victim["email"], "not the password 1")
            if answer.status == 429:
                rows(db_conn, "UPDATE login_attempts SET attempted_at = attempted_at - "
                              "make_interval(secs => %s) RETURNING 1",
                     (int(answer.headers["Retry-After"]),))
                answer = attacker.login(victim["email"], "not the password 1")
            assert answer.status == 401
        for _ in range(5):
            fail()
        owner = web.browser(forwarded_for="203.0.113.10")
        assert owner.login(victim["email"], PASSWORD).status == 302
        assert owner.get("/admin/users").status == 200
        for _ in range(5):  # ten failures: the attacker now waits over two minutes
            fail()
        slowed = attacker.login(victim["email"], PASSWORD)
        assert slowed.status == 429 and int(slowed.headers["Retry-After"]) > 60
    assert "sign-in from 198.51.100.66 refused" in web.output


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback
def test_invitation_e_mail_reaches_the_invitee_who_claims_and_answers_the_roster_request(
        tmp_path, web_db, db_conn, make_user):
    """With SMTP the link goes to the address only; the inviter never sees it. The invitee
    claims their password-less account, and joins the trainer's roster only by accepting."""
    athlete = seed_user(db_conn, "seed-ann@example.org", "athlete")
    trainer = make_user("trainer", first_name="Tess")
    with SmtpSink(login=("liftguard", SMTP_PASSWORD)) as smtp:
        extra = (f'public_url = "https://coach.example.org"\nsmtp_host = "127.0.0.1"\n'
                 f'smtp_port = {smtp.port}\nsmtp_security = "none"\nsmtp_user = "liftguard"\n'
                 f'smtp_from = "liftguard <coach@example.org>"\n')
        with LiftguardWeb(tmp_path, web_db, extra,
                          env={"LIFTGUARD_SMTP_PASSWORD": SMTP_PASSWORD}) as web:
            coach = web.browser()
            assert coach.login(trainer["email"], PASSWORD).status == 302
            sent = coach.post_form("/invitations", {"email": athlete["email"],
                                                    "role": "athlete"})
            assert sent.status == 302
            page = coach.get("/invitations").text
            assert "/signup?invite=" not in page and "e-mailed to seed-ann@example.org" in page
            [link] = smtp.inbox.links()
            assert smtp.inbox.envelopes == [("coach@example.org", ["seed-ann@example.org"])]
            assert smtp.logins == [("liftguard", True)]  # the password from the secrets
            assert link.startswith("https://coach.example.org/signup?invite=")
            path = link.removeprefix("https://coach.example.org")
            ann = web.browser()
            assert sign_up(ann, path, athlete["email"]).status == 302
            assert ann.login(athlete["email"], ATTACKER_PASSWORD).status == 302
            assert state(db_conn, athlete["id"])[2] is None  # not on the roster yet
            profile = ann.get("/profile").text
            assert "Tess Tester" in profile and "asks to add you" in profile
            accepted = ann.post_form("/roster/requests", {
                "id": _request_id(db_conn), "decision": "accept"}, token_from="/profile")
            assert accepted.status == 302
    role, password_hash, trainers = state(db_conn, athlete["id"])
    assert role == "athlete" and password_hash and trainers == [trainer["id"]]
    assert link.split("=")[1] not in web.output  # no token in any log line


def _request_id(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT id::text FROM invitations WHERE used_at IS NULL")
        [(request_id,)] = cur.fetchall()
    conn.commit()
    return request_id
