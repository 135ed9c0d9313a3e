"""The board in headless Debian Chromium on the demo data: a leader logs in and lands on
it; screenshots of the tiles in Chinese and English are saved to docs/; the key maps and
the trends are opened on demand (closed by default) and their charts checked."""

from pathlib import Path

import pytest

from tests.e2e_util import app_server, chromium, have_chromium, log_in

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# the headline tiles' sparklines have been drawn (each tile with two or more years)
SPARKLINES = ("document.querySelectorAll('[data-testid=stMetricChart] canvas, "
              "[data-testid=stMetricChart] svg').length >= 8")

if not have_chromium():
    pytest.skip("chromium not installed", allow_module_level=True)


def test_leader_lands_on_the_board_zh_en(demo_db, tmp_path, backend):
    """Runs on both back ends (the whole app in a browser over PostgreSQL too); the
    screenshots in docs/ come from the SQLite run."""
    from healthmap.auth import DEMO_PASSWORD

    shots = DOCS if backend == "sqlite" else tmp_path

    with app_server(demo_db, tmp_path / "server.log") as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1150})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base)
                   or r.request.url.startswith("data:") else r.abort())  # no internet
        log_in(page, base, "demo_leader", DEMO_PASSWORD)
        page.get_by_role("heading", name="改革指标看板").wait_for(timeout=120_000)
        assert "/board" in page.url
        page.get_by_text("县域就诊率（住院）", exact=True).first.wait_for(timeout=120_000)
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=stMetric]').length >= 10",
            timeout=120_000)
        page.get_by_text("未达标").first.wait_for(timeout=60_000)
        page.wait_for_function(SPARKLINES, timeout=120_000)  # drawn, not an empty box
        page.screenshot(path=str(shots / "screenshot-board.png"))
        page.get_by_role("heading", name="乡镇比较（与全市值比较，漏斗图）").evaluate(
            "e => e.scrollIntoView({block: 'start'})")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length"
                               " >= 1", timeout=120_000)
        page.screenshot(path=str(shots / "screenshot-board-townships.png"))
        # the key maps are drawn on demand: closed, no map; opened, the four maps
        assert page.locator(".js-plotly-plot").count() == 1  # the funnel only
        page.locator("[data-testid=stExpander] summary").filter(
            has_text="关键指标地图（点开查看）").click()
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 5",
                               timeout=120_000)
        page.get_by_text("筛查癌种发病率（/10万）").first.wait_for(timeout=60_000)
        expand = page.locator("[data-testid=stExpandSidebarButton], "
                              "[data-testid=stSidebarCollapsedControl] button")
        if expand.count() and not page.locator("[data-testid=stSidebar]").is_visible():
            expand.first.click()
        page.locator("[data-testid=stSidebar]").get_by_text("English", exact=True).click()
        page.get_by_role("heading", name="Reform indicator board").wait_for(timeout=120_000)
        page.get_by_text("In-county treatment rate (inpatient)", exact=True).first.wait_for(
            timeout=120_000)
        page.evaluate("window.scrollTo(0, 0)")
        page.get_by_role("heading", name="Reform indicator board").evaluate(
            "e => e.scrollIntoView({block: 'start'})")
        page.get_by_text("Missed").first.wait_for(timeout=60_000)
        page.wait_for_function(SPARKLINES, timeout=120_000)
        page.screenshot(path=str(shots / "screenshot-board-en.png"))
        # the open maps stay open in English; the trends open on demand, with the policy
        # start marked
        page.get_by_text("Screening cancers, incidence (per 100,000)").first.wait_for(
            timeout=120_000)
        page.locator("[data-testid=stExpander] summary").filter(
            has_text="Trends over the years (open").click()
        page.get_by_text("Policy start 2024").first.wait_for(timeout=120_000)
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 10",
                               timeout=120_000)
        assert page.get_by_text("Traceback").count() == 0
        page.close()
