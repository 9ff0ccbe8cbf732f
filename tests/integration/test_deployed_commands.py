"""Coach <-> box as deployed (issue 21): every process started by its own command
(tests/support/deployed.py), Chromium driving the web app. A trainer's admin starts a session from the
dashboard on a box that announced itself (no devices row made by the test), the control page
follows it to active with the box's acknowledgement and lists the reps as the box syncs them
while it records, the admin ends it, and the page shows each acknowledgement, ended, and the
analysis; the stopped box then shows offline; in MQTT mode (ingest + web +
box over Mosquitto with the shipped ACL) and in direct mode (web + box on PostgreSQL)."""
from __future__ import annotations

import re

import pytest

from tests.support.deployed import USER_PASSWORD, Deployment

pytestmark = pytest.mark.integration

ADMIN, ATHLETE = "head@example.org", "ann@example.org"


def _session_flow(d: Deployment, page, mode: str) -> str:
    page.goto(f"{d.web_url}/login")
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", USER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.click("#start-session")                       # from the dashboard
    for _ in range(300):                               # the box announces itself as it starts
        if page.locator("select[name=device] option", has_text="box-1 (online)").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    else:
        raise AssertionError("box-1 never showed online in the start form")
    page.select_option("select[name=athlete]", label=f"Ann Athlete ({ATHLETE})")
    page.select_option("select[name=device]", "box-1")
    page.select_option("select[name=lift]", "squat")
    page.fill("input[name=bar_load]", "100")
    page.click("#start")
    page.wait_for_url(re.compile(r".*/sessions/[0-9a-f-]{36}/control$"))
    session_id = page.url.rsplit("/", 2)[-2]
    page.wait_for_selector("#state:text('active')", timeout=30000)
    start_row = page.inner_text("#commands tr.command-start")
    assert "done" in start_row and f"session {session_id} started" in start_row

    page.wait_for_selector("#reps #live-rep-2", timeout=60000)   # live, while recording
    assert page.inner_text("#state") == "active"
    assert "live from the box" in page.inner_text("#live-reps")
    assert re.search(r"\d+ s ago", page.inner_text("#lag"))
    page.click("#end")
    page.wait_for_selector("#commands tr.command-end .status:text('done')", timeout=30000)
    assert "ended; analysing it" in page.inner_text("#commands tr.command-end")
    page.wait_for_selector("#state:text('ended')", timeout=60000)
    page.wait_for_selector("#reps tr[id^=live-rep-]", timeout=90000)
    page.wait_for_selector("#analysis", timeout=90000)
    assert page.inner_text("#feedback").strip()
    assert page.locator("#reps tbody tr").count() >= 1
    assert page.locator("meta[http-equiv=refresh]").count() == 0, mode
    return session_id


def _rep_loads(pg_db, session_id: str) -> set:
    conn = pg_db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT metrics->>'bar_load_kg' FROM rep_metrics "
                        "WHERE session_id = %s", (session_id,))
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["mqtt", "direct"])
def test_start_follow_and_end_a_session_as_deployed(mode, pg_db, mosquitto_factory, tmp_path,
                                                    browser):
    d = Deployment.install(pg_db, mosquitto_factory, tmp_path)
    d.create_user("admin", ADMIN, "Head")
    d.create_user("athlete", ATHLETE, "Ann")
    try:
        if mode == "mqtt":
            d.start_ingest()
        d.start_web().wait_log("coach web app on")
        if mode == "mqtt":
            d.processes[-1].wait_log("session commands are published to MQTT broker")
        box = d.start_box(mode)
        page = browser.new_page()
        session_id = _session_flow(d, page, mode)
        assert _rep_loads(pg_db, session_id) == {"100.0"}, "the bar load reached the box"
        assert box.stop() == 0
        page.goto(f"{d.web_url}/sessions/new")
        for _ in range(150):                           # the box says it is going
            if page.locator("select[name=device] option",
                            has_text="box-1 (offline since").count():
                break
            page.wait_for_timeout(200)
            page.reload()
        else:
            raise AssertionError("box-1 never showed offline after it stopped")
    finally:
        codes = d.stop()
    assert all(code == 0 for code in codes.values()), (
        codes, {p.name: p.text()[-1500:] for p in d.processes})
