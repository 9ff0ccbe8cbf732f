"""A 2-hour session (160 reps in 20 sets, synced before boxes built display-series records) on
a phone in real Chromium, served by ``liftguard web`` (gunicorn) from a config file:

- the session page says it is preparing its charts and reloads itself until the web app has
  computed the record once in the background (one row, ``source = 'web'``);
- then, from a new web process and with every raw chunk of the session made undecodable, the
  page and all its charts still render: they are drawn from the record alone;
- the reps are grouped into 20 collapsible sets (only the last open), nothing is wider than
  the 390 px screen, chart text stays at least 11 CSS px, axe finds nothing serious.

How fast this is on a loaded machine is measured by ``scripts/bench-web``
(``web_cold_session_s``), not asserted here."""
from __future__ import annotations

import pytest

from tests.support.phone import (
    CHART_TEXT_JS,
    MIN_CHART_TEXT_PX,
    PHONE,
    WIDE_JS,
    LiftguardWeb,
    axe_counts,
    sign_in,
)
from tests.support.review_support import insert_long_session
from tests.support.web_support import WEB_ROLE, WEB_ROLE_PASSWORD, assign

pytestmark = pytest.mark.integration

IMAGES_JS = """() => [...document.querySelectorAll('figure.chart img')].map(
  img => [img.alt, img.complete && img.naturalWidth > 0, img.currentSrc])"""


def test_two_hour_session_renders_from_its_series_record_on_a_phone(web_db, db_conn, make_user,
                                                                     browser, tmp_path):
    trainer = make_user("trainer", first_name="Tess", last_name="Coach")
    athlete = make_user("athlete", first_name="Ann", last_name="Lee")
    assign(db_conn, trainer, athlete)
    sid, reps = insert_long_session(db_conn, athlete["id"], trainer["id"], 7200)
    assert reps == 160
    dsn = web_db.dsn_for(WEB_ROLE, WEB_ROLE_PASSWORD)

    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    web = LiftguardWeb(tmp_path / "first", dsn)
    try:
        context = browser.new_context(**PHONE)
        page = context.new_page()
        sign_in(page, web.url, trainer)
        page.goto(f"{web.url}/sessions/{sid}")
        assert page.locator("#series-preparing").count() == 1
        page.wait_for_selector("#series-preparing", state="detached", timeout=300_000)
        context.close()
    finally:
        web.stop()
    with db_conn.cursor() as cur:
        cur.execute("SELECT source, final, jsonb_array_length(series->'reps') FROM "
                    "session_series WHERE session = %s", (sid,))
        assert cur.fetchall() == [("web", True, 160)]
        cur.execute("UPDATE sensor_data SET raw_data = '{\"v\": 9}' WHERE session = %s", (sid,))
    db_conn.commit()

    web = LiftguardWeb(tmp_path / "second", dsn)     # a new process: nothing cached
    try:
        context = browser.new_context(**PHONE)
        page = context.new_page()
        sign_in(page, web.url, trainer)
        response = page.goto(f"{web.url}/sessions/{sid}")
        assert response.ok and page.locator("#series-preparing").count() == 0
        for img in page.locator("figure.chart img").all():
            img.scroll_into_view_if_needed()
        page.wait_for_load_state("networkidle")
        images = page.evaluate(IMAGES_JS)
        assert len(images) == 3 and all(ok for _, ok, _ in images), images
        assert all("size=phone" in src for _, _, src in images)
        for _, _, src in images:
            svg = page.request.get(src).text()
            assert "<path" in svg and "preparing" not in svg and "no reps" not in svg, src
        height = page.request.get(f"{web.url}/sessions/{sid}/charts/displacement.svg").text()
        assert "bar height from the rep" in height
        sets = page.locator("details.rep-set")
        assert sets.count() == 20
        assert page.locator("details.rep-set[open]").count() == 1
        assert page.locator("#set-20[open] tbody tr").count() == 8
        assert "Set 20" in page.inner_text("#set-20 summary")
        page.click("#set-1 summary")
        assert page.locator("#set-1[open] tbody tr").count() == 8
        wide = page.evaluate(WIDE_JS, 390)
        assert wide["scroll"] <= 390, wide
        sizes = page.evaluate(CHART_TEXT_JS)
        assert sizes and min(s[2] for s in sizes) >= MIN_CHART_TEXT_PX - 0.05, \
            sorted(sizes, key=lambda s: s[2])[:4]
        counts, bad = axe_counts(page)
        assert not bad, bad
        context.close()
    finally:
        web.stop()
