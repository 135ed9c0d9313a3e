"""End to end in real headless Debian Chromium: load pages, click, save screenshots."""

from pathlib import Path

import pytest

from tests.e2e_util import ART, app_server, chromium, english_words, have_chromium, log_in

# browser behaviour; the data paths run on both back ends elsewhere (board e2e runs on both)
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent
SERVER_LOG = ART / "server.log"  # the application log, scanned for personal data below

if not have_chromium():
    pytest.skip("chromium not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def server(demo_db):
    with app_server(demo_db, SERVER_LOG) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_map_page_renders_offline_and_filters(server, browser):
    """Waits for conditions only (the page settled: no script run, nothing stale, the DOM
    quiet), never for fixed times, so it passes on a loaded machine."""
    from benchmarks.browser import OBSERVE, _act, _settle

    ART.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server)
               or route.request.url.startswith("data:") else route.abort())  # no internet
    page.goto(server + "/")
    page.wait_for_selector(".js-plotly-plot", timeout=180_000)
    _settle(page, page.evaluate(OBSERVE), timeout_ms=180_000)
    # the areas are filled SVG polygons (no WebGL map, no tile server)
    assert page.locator(".js-plotly-plot .scatterlayer .js-fill").count() >= 11
    page.screenshot(path=str(ART / "map.png"), full_page=False)
    # Chinese mode shows no English words (issue 15 §3.9; every page: security/test_offline)
    english = english_words(page)
    assert not english, english
    # the public chooses a published table: men only
    metric = page.locator("[data-testid=stMetricValue]").first
    all_sexes = metric.inner_text()
    _act(page, "select", "人群", "男")
    page.wait_for_function(
        "v => document.querySelector('[data-testid=stMetricValue]').innerText !== v",
        arg=all_sexes, timeout=120_000)
    _settle(page, page.evaluate(OBSERVE), timeout_ms=120_000)
    assert metric.inner_text() != all_sexes
    page.get_by_role("heading", name="漏斗图").first.evaluate(
        "e => e.scrollIntoView({block: 'start'})")
    _settle(page, page.evaluate(OBSERVE))
    page.screenshot(path=str(ART / "funnel.png"))
    # no free filters and no staff panels for the public (decisions.md §10)
    side = page.locator("[data-testid=stSidebar]")
    assert side.get_by_text("月份范围").count() == 0
    assert page.get_by_role("heading", name="患者流向").count() == 0
    # switching the language keeps the chosen value shown, translated (issue 15 §3.2)
    side.get_by_text("English", exact=True).click()
    page.wait_for_selector("text=Health map", timeout=120_000)
    _settle(page, page.evaluate(OBSERVE), timeout_ms=120_000)
    margin = side.locator("[data-testid=stSelectbox]").filter(has_text="Population").first
    assert "Men" in margin.text_content() + (margin.locator("input").first.input_value() or "")
    assert side.get_by_text("男", exact=True).count() == 0  # not left in Chinese


def _login(page, server, user):
    from healthmap.auth import DEMO_PASSWORD

    log_in(page, server, user, DEMO_PASSWORD)


def _settled(page):
    """Wait until the page has settled after an action (no fixed times)."""
    from benchmarks.browser import OBSERVE, _settle

    _settle(page, page.evaluate(OBSERVE), timeout_ms=120_000)


def test_login_roles_and_forbidden_page(server, browser):
    for user, can_see_data in (("demo_leader", False), ("demo_data_manager", True)):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # a forbidden page opened by its address: a login prompt and no data
        page.goto(server + "/data")
        page.get_by_text("此页面需要登录").wait_for(timeout=60_000)
        assert page.get_by_text("导入日志").count() == 0
        assert page.locator("[data-testid=stDataFrame]").count() == 0
        if user == "demo_leader":
            _settled(page)
            page.screenshot(path=str(ART / "forbidden.png"))
        page.get_by_text("前往登录").click()
        page.wait_for_selector("input[type=password]", timeout=60_000)
        _login(page, server, user)
        page.locator("[data-testid=stSidebar]").get_by_text("健康地图").wait_for(
            timeout=60_000)
        _settled(page)
        nav = page.locator("[data-testid=stSidebar]").inner_text()
        assert "退出登录" not in nav and "健康地图" in nav
        assert ("数据管理" in nav) == can_see_data
        assert "用户与审计" not in nav
        if can_see_data:
            page.locator("[data-testid=stSidebar]").get_by_role("link", name="数据管理").click()
            page.get_by_text("导入日志").first.wait_for(timeout=60_000)
            _settled(page)
            page.screenshot(path=str(ART / "data_page.png"))
        page.close()


def _bad_residents_file(tmp_path):
    """Two residents with problems: a wrong check digit, and an unknown area."""
    import datetime as dt

    from healthmap.ids import make_id

    good = make_id("331021", dt.date(1960, 3, 4), 17)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows = [("R-E2E-1", bad, "测试居民甲", "M", "1960-03-04", "331083001"),
            ("R-E2E-2", good, "测试居民乙", "F", "1960-03-04", "999999999")]
    path = tmp_path / "residents_bad.csv"
    path.write_text("resident_id,id_number,name,sex,birth_date,area_code\n"
                    + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    return path, [bad, good], ["测试居民甲", "测试居民乙"]


def test_bad_resident_upload_reports_masked_and_logs_nothing_personal(server, browser,
                                                                       tmp_path):
    path, ids, names = _bad_residents_file(tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server + "/login")
    page.wait_for_selector("input[type=password]", timeout=60_000)
    _login(page, server, "demo_data_manager")
    page.locator("[data-testid=stSidebar]").get_by_role("link", name="数据管理").click()
    page.get_by_text("导入日志").first.wait_for(timeout=60_000)
    page.locator("[data-testid=stSelectbox]").filter(has_text="数据类型").locator(
        "input").click()
    page.locator("[role=listbox]").get_by_text("居民", exact=False).first.click()
    # the residents' uploader (its key names the file type) has replaced the previous one
    uploader = page.locator(".st-key-upload_residents input[type=file]")
    uploader.wait_for(state="attached", timeout=60_000)
    _settled(page)
    uploader.set_input_files(str(path))
    page.get_by_role("button", name="导入", exact=True).wait_for(timeout=60_000)
    _settled(page)
    page.get_by_role("button", name="导入", exact=True).click()
    page.get_by_text("未写入任何数据").wait_for(timeout=60_000)
    _settled(page)
    page.screenshot(path=str(ART / "import_problems.png"))
    html = page.content()
    for secret in ids + names:
        assert secret not in html
    page.close()
    logged = SERVER_LOG.read_text(encoding="utf-8", errors="replace")
    assert "Uncaught app exception" not in logged
    for secret in ids + names:
        assert secret not in logged, "personal data in the application log"


