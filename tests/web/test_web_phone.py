"""Every page of the coach app, for each role, on a phone in real Chromium (Debian's
/usr/bin/chromium driven by Playwright), served by ``liftguard web`` (gunicorn) from a config
file: nothing is wider than a 360 or 390 px screen (tables scroll inside their own box), touch
targets are at least 24 px and actions 44 px, chart text is at least 11 CSS px at 390 px, no
request answers 404 (the favicon included), and axe-core (axe-playwright-python's copy,
injected by the test through the DevTools protocol, the app's CSP untouched) finds no
critical or serious violation. The axe counts of each page are printed (``pytest -s``).

The session control page follows its session by polling (static/live.js), without
``<meta http-equiv=refresh>``; its own test checks axe's ``meta-refresh`` rule on a pending
one."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sync.session_command_store import insert_command
from tests.support.box_sessions import record_simulated_session, sync_box
from tests.support.command_support import start_command
from tests.support.phone import (
    ACTION_PX,
    CHART_TEXT_JS,
    MIN_CHART_TEXT_PX,
    MIN_TARGET_PX,
    PHONE,
    WIDE_JS,
    LiftguardWeb,
    axe_counts,
    sign_in,
)
from tests.support.web_support import (
    WEB_ROLE,
    WEB_ROLE_PASSWORD,
    assign,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
NARROW = (360, 390)

TARGETS_JS = """() => {
  const small = [];
  for (const el of document.querySelectorAll('a[href], button, select, input:not([type=hidden]), summary')) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    if (el.closest('p, li, dd') && el.tagName === 'A') continue;   // a link inside a sentence
    const action = el.matches('button, a.button, input, select');
    const need = action ? %d : %d;
    if (r.height < need - 0.5) small.push(`${el.tagName} "${(el.textContent || el.name || '').trim().slice(0, 30)}" ${r.width.toFixed(0)}x${r.height.toFixed(0)}`);
  }
  return small;
}""" % (ACTION_PX, MIN_TARGET_PX)


@pytest.fixture
def world(web_db, db_conn, make_user, tmp_path):
    admin = make_user("admin", first_name="Ada", last_name="Admin")
    trainer = make_user("trainer", first_name="Tess", last_name="Coach")
    athlete = make_user("athlete", email="ann@example.org", first_name="Ann", last_name="Lee")
    assign(db_conn, trainer, athlete)
    session_id = record_simulated_session(tmp_path / "box", "gym-box-1", athlete["email"],
                                          reps=5, faults="weight_shift@3", seed=7)
    sync_box(tmp_path / "box", "gym-box-1", web_db.dsn)
    pending = start_command(athlete, trainer, device="gym-box-1", ttl_s=3600)
    insert_command(db_conn, pending, trainer["id"])
    db_conn.commit()
    web = LiftguardWeb(tmp_path, web_db.dsn_for(WEB_ROLE, WEB_ROLE_PASSWORD))
    yield {"admin": admin, "trainer": trainer, "athlete": athlete, "session": session_id,
           "pending": pending.session_id, "url": web.url}
    web.stop()


def pages_of(role: str, w: dict) -> list[str]:
    s, a = w["session"], w["athlete"]["id"]
    mine = ["/dashboard", f"/athletes/{a}", f"/sessions/{s}", f"/sessions/{s}/sensor_data",
            f"/sessions/{s}/labels", f"/sessions/{s}/control", f"/sessions/{w['pending']}/control",
            "/profile"]
    if role == "athlete":
        return mine
    coach = mine + ["/athletes", "/roster", "/invitations", "/sessions/new"]
    return coach + ["/admin/users"] if role == "admin" else coach


def check_page(page, url: str, path: str, width: int) -> list[str]:
    """What is wrong with one page at the current viewport (empty when nothing is)."""
    response = page.goto(f"{url}{path}")
    problems = [] if response.ok else [f"HTTP {response.status}"]
    for img in page.locator("img[loading=lazy]").all():
        img.scroll_into_view_if_needed()
    page.wait_for_load_state("networkidle")
    # against the width asked for: a phone's browser zooms out to fit a wider page, so
    # window.innerWidth grows with the page
    wide = page.evaluate(WIDE_JS, width)
    if wide["scroll"] > width:
        problems.append(f"{wide['scroll']} px wide at {width}: {wide['culprits']}")
    small = page.evaluate(TARGETS_JS)
    if small:
        problems.append(f"small touch targets: {small[:5]}")
    return problems


def test_every_page_fits_a_phone_and_passes_axe(world, browser, capsys):
    probe = browser.new_page()     # axe itself works: it finds a missing alt text
    probe.set_content('<html lang="en"><title>t</title><main><img src="x.png"></main></html>')
    assert axe_counts(probe)[0]["critical"] == 1
    probe.close()
    anonymous = [("anonymous", None, ["/login", "/signup"])]
    roles = anonymous + [(r, world[r], pages_of(r, world)) for r in ("admin", "trainer", "athlete")]
    problems: dict[str, list[str]] = {}
    missing: list[str] = []
    chart_pages = 0
    report: list[str] = []
    for role, user, paths in roles:
        context = browser.new_context(**PHONE)
        page = context.new_page()
        page.on("response", lambda r: r.status == 404 and missing.append(r.url))
        if user:
            sign_in(page, world["url"], user)
        for width in NARROW:
            page.set_viewport_size({"width": width, "height": 844})
            for path in paths:
                found = check_page(page, world["url"], path, width)
                if width == 390:
                    counts, bad = axe_counts(page)
                    report.append(f"axe {role:9} {path:58} "
                                  + " ".join(f"{k}={v}" for k, v in counts.items()))
                    found += bad
                    sizes = page.evaluate(CHART_TEXT_JS)
                    chart_pages += bool(sizes)
                    tiny = [s for s in sizes if s[2] < MIN_CHART_TEXT_PX - 0.05]
                    if tiny:
                        found.append(f"chart text below {MIN_CHART_TEXT_PX} px: {tiny[:4]}")
                if found:
                    problems[f"{role} {path} @{width}"] = found
        context.close()
    context = browser.new_context(**PHONE)   # the small things of the session header
    page = context.new_page()
    sign_in(page, world["url"], world["trainer"])
    page.goto(f"{world['url']}/sessions/{world['session']}")
    header = page.inner_text(".page-head .meta")
    assert "ended on the box" in header and " api" not in header
    # the span of the recorded data, not the wall time of the fast replay (about a second)
    seconds = int(re.search(r"· (\d+) s ·", header)[1])
    assert 15 <= seconds <= 60, header
    assert page.request.get(f"{world['url']}/favicon.ico").ok
    context.close()
    with capsys.disabled():
        print("\n" + "\n".join(report))
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
    assert not missing, f"404s: {missing}"
    assert chart_pages >= 9, "the chart pages were measured (session, sensor data, athlete x 3)"


def test_control_page_updates_without_meta_refresh(world, browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    sign_in(page, world["url"], world["trainer"])
    page.goto(f"{world['url']}/sessions/{world['pending']}/control")
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page, options={"runOnly": ["meta-refresh"]}).response
    context.close()
    assert [v["id"] for v in results["violations"]] == []
