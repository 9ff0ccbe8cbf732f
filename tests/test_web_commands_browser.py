"""The session command flow in real Chromium (Debian's /usr/bin/chromium via Playwright): a
trainer starts a session on a simulated box from the page, the page follows it to active (the
box's acknowledgement), the trainer ends it, the page shows the analysis once the box synced
it over MQTT, and the trainer marks the whole set clean."""
from __future__ import annotations

import dataclasses
import re

import pytest

from coach import create_app
from tests.command_support import (DEVICE, add_device, login, mqtt_box, mqtt_server_side,
                                   shipped_broker)
from tests.daemon_helpers import wait_for
from tests.test_web_browser import browser  # noqa: F401
from tests.web_server import ServedApp
from tests.web_support import PASSWORD, assign, db_conn, make_user, settings_for, web_db  # noqa: F401


@pytest.mark.integration
def test_trainer_starts_ends_and_labels_a_session_in_chromium(web_db, db_conn, make_user,
                                                              browser, tmp_path,
                                                              mosquitto_factory, monkeypatch):
    trainer = make_user("trainer", first_name="Tess", last_name="Coach")
    athlete = make_user("athlete", email="ann@example.org", first_name="Ann", last_name="Lee")
    assign(db_conn, trainer, athlete)
    add_device(db_conn)
    broker = shipped_broker(mosquitto_factory)
    app = create_app(dataclasses.replace(settings_for(web_db), secure_cookies=False),
                     COMMAND_MQTT=login(broker, "liftguard-web"))
    ing, rec = mqtt_server_side(broker, web_db.dsn)
    box = mqtt_box(tmp_path, broker, monkeypatch, reps=8)   # the set plays on while signing in
    try:
        with ServedApp(app) as served:
            page = browser.new_page()
            page.goto(f"{served.url}/login")
            page.fill("input[name=email]", trainer["email"])
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            page.goto(f"{served.url}/profile")
            page.click("#new-session")
            page.select_option("select[name=athlete]", athlete["id"])
            page.select_option("select[name=device]", DEVICE)
            page.select_option("select[name=lift]", "squat")
            page.click("#start")
            page.wait_for_url(re.compile(r".*/sessions/[0-9a-f-]{36}/control$"))
            session_id = page.url.rsplit("/", 2)[-2]
            wait_for(lambda: box.sessions.active_id == session_id, 10, "the box to start")
            page.wait_for_selector("#state:text('active')", timeout=15000)
            assert f"session {session_id} started" in page.inner_text("#commands")

            wait_for(box.sources_finished, 60, "the simulated set")
            page.click("#end")
            page.wait_for_selector("#analysis", timeout=90000)
            assert page.inner_text("#state") == "ended"
            assert page.inner_text("#feedback").strip()

            def reps_synced():
                with db_conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM rep_metrics WHERE session_id = %s",
                                (session_id,))
                    n = cur.fetchone()[0]
                db_conn.rollback()
                return n
            wait_for(reps_synced, 60, "the session's reps in PostgreSQL")
            page.click("text=Label the reps")
            page.click("#set-clean")
            page.wait_for_load_state()
            with db_conn.cursor() as cur:
                cur.execute("SELECT count(*), count(*) FILTER (WHERE verdict = 'clean') FROM "
                            "rep_labels WHERE session_id = %s", (session_id,))
                total, clean = cur.fetchone()
            db_conn.rollback()
            assert total == clean >= 1
    finally:
        box.stop()
        rec.stop()
        ing.request_stop()
