"""The coach app in real Chromium (Debian's /usr/bin/chromium driven by Playwright): a trainer
signs in, opens a session that a simulated box recorded through the daemon and synced with
sync.direct, checks the rep table and the charts, downloads the recording CSV and replays it
with ``liftguard replay``. Screenshots are kept in ``$LIFTGUARD_ARTIFACTS_DIR`` (default
``out/browser``), and the path is printed."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coach import create_app
from tests.support.box_sessions import record_simulated_session, sync_box
from tests.support.browser import artifacts_dir
from tests.support.web_server import ServedApp
from tests.support.web_support import PASSWORD, assign, settings_for

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_trainer_reviews_a_box_synced_session_and_replays_its_csv(web_db, db_conn, make_user,
                                                                  browser, tmp_path):
    trainer = make_user("trainer", first_name="Tess", last_name="Coach")
    athlete = make_user("athlete", email="ann@example.org", first_name="Ann", last_name="Lee")
    assign(db_conn, trainer, athlete)
    box = tmp_path / "box"
    session_id = record_simulated_session(box, "gym-box-1", athlete["email"], reps=5,
                                          faults="lateral_sway@3", seed=7)
    sync_box(box, "gym-box-1", web_db.dsn)
    settings = dataclasses.replace(settings_for(web_db), secure_cookies=False)
    app = create_app(settings)
    shots = artifacts_dir()
    print(f"\nbrowser screenshots: {shots}")
    try:
        with ServedApp(app) as served:
            context = browser.new_context(accept_downloads=True, viewport={"width": 1280,
                                                                           "height": 900})
            page = context.new_page()
            page.goto(f"{served.url}/login")
            page.fill("input[name=email]", trainer["email"])
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard")
            assert page.locator("text=Ann Lee").count() >= 1
            page.screenshot(path=str(shots / "dashboard-trainer.png"), full_page=True)

            page.goto(f"{served.url}/sessions/{session_id}")
            rows = page.locator("#rep-table tbody tr")
            assert rows.count() == 5
            assert "drifted" in rows.nth(2).inner_text()
            assert page.locator("#rep-table tbody tr.problem").count() >= 1
            assert page.locator("figure.chart svg.for-wide").count() == 2
            assert page.locator("figure.chart svg.for-phone").count() == 2
            images = page.locator("figure.chart img")
            assert images.count() == 3
            page.wait_for_load_state("networkidle", timeout=120_000)
            for i in range(3):   # each raw-data chart arrived and decoded as an image
                assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            page.screenshot(path=str(shots / "session.png"), full_page=True)

            with page.expect_download() as info:
                page.click("text=Recording CSV (replay)")
            csv_path = tmp_path / "session.csv"
            info.value.save_as(str(csv_path))

            page.goto(f"{served.url}/athletes/{athlete['id']}")
            assert page.locator("text=Load-velocity profile").count() == 1
            page.screenshot(path=str(shots / "athlete.png"), full_page=True)
            page.goto(f"{served.url}/sessions/{session_id}/sensor_data")
            page.screenshot(path=str(shots / "sensor-data.png"), full_page=True)
            context.close()
    finally:
        app.extensions["coach_db"].close()
    replay = subprocess.run(
        [sys.executable, "-m", "liftguard.cli", "replay", str(csv_path), "--lift", "squat"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "LIFTGUARD_DEMO_DIR": str(tmp_path / "r")})
    assert replay.returncode == 0, replay.stderr[-2000:]
    assert "5 reps" in replay.stdout and "frames at 200 Hz" in replay.stdout
