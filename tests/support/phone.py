"""The web app on a phone in Chromium: the phone's viewport, the page-width and chart-text
probes, the axe-core sweep, ``liftguard web`` as deployed and signing in."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.services import free_port, port_accepts
from tests.support.web_support import (
    PASSWORD,
    TEST_SECRET_KEY,
    write_config,
)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

REPO = Path(__file__).resolve().parents[2]


MIN_TARGET_PX, ACTION_PX, MIN_CHART_TEXT_PX = 24, 44, 11


WIDE_JS = """(w) => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > w + 0.5 && !el.closest('.table-wrap') && r.width)
      out.push(`${el.tagName}.${el.className && el.className.baseVal === undefined ? el.className : ''} right=${r.right.toFixed(0)}`);
  }
  return {scroll: document.documentElement.scrollWidth, culprits: out.slice(0, 5)};
}"""


CHART_TEXT_JS = """async () => {
  const sizes = [];
  const measure = (svg, name) => {
    for (const t of svg.querySelectorAll('text')) {
      if (!t.textContent.trim() || !t.getBoundingClientRect().width) continue;
      const m = t.getScreenCTM();
      sizes.push([name, t.textContent.trim().slice(0, 30),
                  parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b)]);
    }
  };
  for (const svg of document.querySelectorAll('figure.chart svg'))
    if (svg.getBoundingClientRect().width) measure(svg, svg.getAttribute('aria-label'));
  for (const img of document.querySelectorAll('figure.chart img')) {
    const w = img.getBoundingClientRect().width;
    if (!w) continue;
    const box = document.createElement('div');
    box.style.cssText = `position:absolute;left:0;top:0;width:${w}px`;
    box.innerHTML = await (await fetch(img.currentSrc || img.src)).text();
    const svg = box.querySelector('svg');
    svg.style.width = '100%'; svg.style.height = 'auto';
    document.body.appendChild(box);
    measure(svg, img.alt);
    box.remove();
  }
  return sizes;
}"""


class LiftguardWeb:
    """``liftguard web`` on a free loopback port, from a config file, as an operator runs it."""

    def __init__(self, tmp_path: Path, dsn: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = write_config(tmp_path, dsn, "secure_cookies = false\n")
        env = {**os.environ, "PYTHONPATH": str(REPO), "LIFTGUARD_WEB_SECRET_KEY": TEST_SECRET_KEY}
        self.log = open(tmp_path / "web.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "liftguard.cli", "--config",
                                      str(cfg), "web", "--port", str(self.port)], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not port_accepts(self.port):
            assert self.proc.poll() is None and time.monotonic() < deadline, "web did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=40)
        self.log.close()


def sign_in(page, url: str, user: dict) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=email]", user["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")


def axe_counts(page, disable: tuple[str, ...] = ()) -> tuple[dict[str, int], list[str]]:
    from axe_playwright_python.sync_playwright import Axe
    options = {"resultTypes": ["violations"],
               "rules": {rule: {"enabled": False} for rule in disable}}
    results = Axe().run(page, options=options).response
    counts = {k: 0 for k in ("critical", "serious", "moderate", "minor")}
    bad = []
    for v in results["violations"]:
        counts[v["impact"]] += len(v["nodes"])
        if v["impact"] in ("critical", "serious"):
            bad.append(f"{v['id']} x{len(v['nodes'])}: {v['nodes'][0]['html'][:120]}")
    return counts, bad
