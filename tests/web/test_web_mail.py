"""Invitation e-mail settings and failures: mail needs public_url (links are never built on the
request's Host header) and a sender; an SMTP failure withdraws the invitation and says so; a
forged Host header does not reach the e-mailed link."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from coach import create_app
from coach.settings import SettingsError
from liftguard.cli import main
from tests.support.services import free_port
from tests.support.web_process import SmtpSink
from tests.support.web_support import TEST_SECRET_KEY, login, post_form, settings_for

MAIL = {"public_url": "https://coach.example.org", "smtp_host": "127.0.0.1",
        "smtp_security": "none", "smtp_from": "coach@example.org"}


@pytest.mark.parametrize("changes, named", [
    ({"public_url": ""}, "public_url"),
    ({"smtp_from": ""}, "smtp_from"),
    ({"smtp_user": "mailer"}, "smtp_password"),
    ({"public_url": "coach.example.org"}, "public_url must look like"),
    ({"public_url": "javascript://x"}, "public_url must look like"),
    ({"smtp_security": "maybe"}, "smtp_security")])
def test_mail_settings_that_cannot_work_are_refused_by_name(changes, named):
    with pytest.raises(SettingsError, match=named):
        settings_for(_NoDb(), **{**MAIL, **changes})


class _NoDb:
    def dsn_for(self, user, password):
        return "host=127.0.0.1 dbname=x"


def test_liftguard_web_exits_2_naming_the_missing_public_url(tmp_path: Path, monkeypatch,
                                                             capsys):
    monkeypatch.setenv("LIFTGUARD_WEB_SECRET_KEY", TEST_SECRET_KEY)
    secrets = tmp_path / "secrets.toml"
    secrets.touch(mode=0o600)
    cfg = tmp_path / "web.toml"
    cfg.write_text(f'[device]\nsecrets_file = "{secrets}"\n[database]\n'
                   f'dsn = "host=127.0.0.1 dbname=x"\n[web]\nsmtp_host = "127.0.0.1"\n'
                   f'smtp_from = "coach@example.org"\n')
    assert main(["--config", str(cfg), "web"]) == 2
    assert "public_url" in capsys.readouterr().err


@pytest.mark.integration
def test_an_unsent_invitation_is_withdrawn_and_says_so(web_db, db_conn, make_user, caplog):
    app = create_app(settings_for(web_db, **MAIL, smtp_port=free_port()), TESTING=True)
    c = app.test_client()
    trainer = make_user("trainer")
    assert login(c, trainer["email"]).status_code == 302
    with caplog.at_level(logging.INFO):
        response = post_form(c, "/invitations", {"email": "new@example.org", "role": "athlete"})
    page = response.get_data(as_text=True)
    assert response.status_code == 502 and "could not be sent" in page
    assert "/signup?invite=" not in page
    with db_conn.cursor() as cur:
        cur.execute("SELECT delivery, revoked_at IS NOT NULL FROM invitations")
        assert cur.fetchall() == [("mailed", True)]
    db_conn.commit()
    assert "invitation e-mail not sent through 127.0.0.1" in caplog.text
    assert "invite=" not in caplog.text
    app.extensions["coach_db"].close()


@pytest.mark.integration
def test_a_forged_host_header_does_not_reach_the_e_mailed_link(web_db, make_user):
    with SmtpSink() as smtp:
        app = create_app(settings_for(web_db, **MAIL, smtp_port=smtp.port), TESTING=True)
        c = app.test_client()
        trainer = make_user("trainer")
        assert login(c, trainer["email"]).status_code == 302
        c.environ_base["HTTP_HOST"] = "evil.example"
        sent = post_form(c, "/invitations", {"email": "new@example.org", "role": "athlete"})
        assert sent.status_code == 302
        [link] = smtp.inbox.links()
        assert link.startswith("https://coach.example.org/signup?invite=")
        app.extensions["coach_db"].close()
