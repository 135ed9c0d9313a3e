"""The screening pages in real headless Chromium, offline: the high-risk list, the funnel
and the map, in Chinese and English; screenshots saved to docs/."""

import re
import shutil

import pytest

from e2e_util import ROOT, app_server, chromium, have_chromium, log_in

# browser behaviour; the data paths run on both back ends elsewhere (board e2e runs on both)
pytestmark = pytest.mark.sqlite_only

if not have_chromium():
    pytest.skip("chromium not installed", allow_module_level=True)

DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("screening_e2e") / "demo.db"
    from dbcopy import copy_database

    with app_server(copy_database(demo_db, path), path.parent / "server.log") as url:
        yield url, path.parent / "server.log"


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _offline(page, base):
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
               or route.request.url.startswith("data:") else route.abort())


def _english(page):
    from playwright.sync_api import expect

    page.locator("[data-testid=stSidebar]").get_by_text("English", exact=True).click()
    expect(page.get_by_role("heading", level=1).first).to_contain_text(
        re.compile("screening|Screening"), timeout=60_000)


def test_list_funnel_and_map_screenshots(site, browser):
    from playwright.sync_api import expect

    from healthmap.auth import DEMO_PASSWORD

    base, log = site
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    _offline(page, base)
    log_in(page, base, "demo_screening", DEMO_PASSWORD)
    page.goto(base + "/screening")
    grid = page.locator("[data-testid=stDataFrame] >> visible=true").first
    expect(grid).to_be_visible(timeout=90_000)
    expect(page.get_by_text(re.compile(r"共 [\d,]+ 人"))).to_be_visible()
    page.screenshot(path=str(DOCS / "screenshot-screening-list.png"))
    html = page.content()
    assert not re.search(r"3399\d{13}[\dX]", html)  # no full ID number anywhere

    page.goto(base + "/screening_report")
    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=90_000)
    expect(page.get_by_text("乡镇边界为示意图")).to_be_visible(timeout=60_000)
    page.screenshot(path=str(DOCS / "screenshot-screening-map.png"))
    heading = page.get_by_role("heading", name=re.compile("参与率漏斗图")).first
    heading.scroll_into_view_if_needed()
    heading.evaluate("e => e.scrollIntoView({block: 'start'})")
    expect(page.locator(".js-plotly-plot .scatterlayer .point").first).to_be_attached()
    page.screenshot(path=str(DOCS / "screenshot-screening-funnel.png"))

    _english(page)
    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=90_000)
    expect(page.get_by_text("Township boundaries are schematic.")).to_be_visible(
        timeout=60_000)
    page.get_by_role("heading", level=1).first.evaluate(
        "e => e.scrollIntoView({block: 'start'})")
    expect(page.get_by_role("heading", name=re.compile("High-risk share by township"))
           ).to_be_in_viewport()
    page.screenshot(path=str(DOCS / "screenshot-screening-map-en.png"))
    heading = page.get_by_role("heading", name=re.compile("Uptake funnel plot")).first
    heading.evaluate("e => e.scrollIntoView({block: 'start'})")
    expect(page.get_by_text("acceptable").first).to_be_attached()
    page.screenshot(path=str(DOCS / "screenshot-screening-funnel-en.png"))
    page.locator("[data-testid=stSidebar]").get_by_role("link",
                                                         name="High-risk screening").click()
    expect(page.get_by_text(re.compile(r"^[\d,]+ people$"))).to_be_visible(timeout=90_000)
    expect(page.locator("[data-testid=stDataFrame] >> visible=true").first).to_be_visible()
    # the whole page has drawn (the assess button sits above the list), not a skeleton
    expect(page.get_by_role("button", name="Assess residents with this rule set")
           ).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid=stSkeleton]")).to_have_count(0, timeout=60_000)
    expect(page.locator("[data-testid=stStatusWidget]")).to_be_hidden(timeout=90_000)
    page.screenshot(path=str(DOCS / "screenshot-screening-list-en.png"))
    page.close()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Uncaught app exception" not in text and "Traceback" not in text
