"""The ranking page in headless Debian Chromium: a planner logs in, lands on it, and the
ranking and the stability chart are saved as screenshots to docs/ (Chinese and English)."""

from pathlib import Path

import pytest

from tests.e2e_util import app_server, chromium, have_chromium

# browser behaviour; the data paths run on both back ends elsewhere (board e2e runs on both)
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

if not have_chromium():
    pytest.skip("chromium not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def server(demo_db, tmp_path_factory):
    with app_server(demo_db, tmp_path_factory.mktemp("rk") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _scroll_to(page, heading):
    page.get_by_role("heading", name=heading).first.evaluate(
        "e => e.scrollIntoView({block: 'start'})")


def test_planner_lands_on_ranking_and_screenshots(server, browser):
    from healthmap.auth import DEMO_PASSWORD

    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server)
               or route.request.url.startswith("data:") else route.abort())  # no internet
    page.goto(server + "/login")
    page.wait_for_selector("input[type=password]", timeout=90_000)
    page.get_by_label("用户名").fill("demo_planner")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    # the planner's landing page: the ranking, with its charts drawn
    page.get_by_role("heading", name="重点专科优先排序与目录草案").wait_for(timeout=120_000)
    page.get_by_role("heading", name="排名稳定性").wait_for(timeout=120_000)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
                           timeout=120_000)
    assert page.get_by_text("越高越优先").count() > 0
    assert page.get_by_role("radio", name="住院").is_checked()
    page.screenshot(path=str(DOCS / "screenshot-ranking.png"))
    _scroll_to(page, "排名稳定性")
    page.wait_for_function("document.querySelector('.js-plotly-plot .scatterlayer .trace')",
                           timeout=60_000)
    page.screenshot(path=str(DOCS / "screenshot-ranking-stability.png"))
    # English (open the sidebar first if it is collapsed)
    expand = page.locator("[data-testid=stExpandSidebarButton], "
                          "[data-testid=stSidebarCollapsedControl] button")
    if expand.count() and not page.locator("[data-testid=stSidebar]").is_visible():
        expand.first.click()
    page.locator("[data-testid=stSidebar]").get_by_text("English", exact=True).click()
    page.get_by_role("heading", name="Rank stability").wait_for(timeout=120_000)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
                           timeout=120_000)
    page.get_by_text("higher = higher priority").first.wait_for(timeout=30_000)
    # the radios still show their choice in the other language
    page.get_by_role("radio", name="Inpatient").wait_for(state="attached", timeout=30_000)
    assert page.get_by_role("radio", name="Inpatient").is_checked()
    assert page.get_by_role("radio", name="TOPSIS (closeness to the ideal)").is_checked()
    _scroll_to(page, "Key-specialty priority ranking and catalogue drafts")
    page.screenshot(path=str(DOCS / "screenshot-ranking-en.png"))
    _scroll_to(page, "Rank stability")
    page.screenshot(path=str(DOCS / "screenshot-ranking-stability-en.png"))
    assert page.get_by_text("Traceback").count() == 0
    page.close()
