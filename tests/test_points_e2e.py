"""The public points lookup on a phone-sized window and the planners' points map, in real
headless Chromium; screenshots saved to docs/ (Chinese and English)."""

import datetime as dt
import shutil
from pathlib import Path

import pytest

from points_helpers import ROOT_DIR, add_residents
from tests.e2e_util import CHROMIUM, FLAGS, app_server, have_chromium

# browser behaviour; the data paths run on both back ends elsewhere (board e2e runs on both)
pytestmark = pytest.mark.sqlite_only

ROOT = Path(ROOT_DIR)
DOCS = ROOT / "docs"
if not have_chromium():
    pytest.skip("chromium not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory):
    from sqlalchemy.orm import Session

    from healthmap.access import Actor
    from healthmap.db import make_engine
    from healthmap.points import ledger as L

    path = tmp_path_factory.mktemp("points_e2e") / "demo.db"
    from dbcopy import copy_database

    url = copy_database(demo_db, path)
    engine = make_engine(url)
    people = add_residents(engine, demo=True).set_index("resident_id")
    staff = Actor("demo_points", "points")
    with Session(engine) as s, s.begin():
        for code, day in (("annual_checkup", 3), ("family_doctor_contract", 4),
                          ("health_lecture", 10), ("knowledge_quiz", 12),
                          ("vaccination", 20)):
            L.award(s, staff, "R2", code, f"e2e-{code}", dt.date(2025, 3, day))
        L.redeem(s, staff, "R2", "health_kit", "e2e-kit", dt.date(2025, 4, 1))
    engine.dispose()
    log = path.parent / "server.log"
    with app_server(url, log) as base:
        yield base, people, log


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _offline(page, server):
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server)
               or route.request.url.startswith("data:") else route.abort())


def _english(page, narrow=False):
    """Switch the language to English (on a phone: open the sidebar first, close it after)."""
    if narrow:
        page.locator("[data-testid=stExpandSidebarButton]").first.click()
    page.locator("[data-testid=stSidebar]").get_by_text("English").click()
    if narrow:
        page.locator("[data-testid=stSidebarCollapseButton] button, "
                     "[data-testid=stSidebarCollapseButton]").first.click()


def _scroll_to(page, heading):
    page.get_by_role("heading", name=heading).first.evaluate(
        "e => e.scrollIntoView({block: 'start'})")
    page.wait_for_function("h => { const r = [...document.querySelectorAll('h1,h2,h3')].find("
                           "e => e.innerText.includes(h)); return r && "
                           "r.getBoundingClientRect().top < 200; }", arg=heading)


def _shoot_sections(page, name, headings):
    """A phone screen shows one part of the page: one screenshot per section, the first
    from the page's title (the masked ID number and the balance)."""
    _scroll_to(page, headings[0])
    page.screenshot(path=str(DOCS / f"{name}.png"))
    for i, heading in enumerate(headings[1:], start=2):
        _scroll_to(page, heading)
        page.screenshot(path=str(DOCS / f"{name}-{i}.png"))


def test_public_lookup_on_a_phone(site, browser):
    server, people, log = site
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    _offline(page, server)
    page.goto(server + "/points_lookup")
    page.get_by_label("身份证号").wait_for(timeout=90_000)
    # a wrong name: the one "no match" answer
    page.get_by_label("身份证号").fill(people.loc["R2", "id_number"])
    page.get_by_label("姓名 / 手机号后4位").fill("不是我")
    page.get_by_role("button", name="查询").click()
    page.get_by_text("信息不匹配").wait_for(timeout=30_000)
    page.screenshot(path=str(DOCS / "screenshot-points-lookup-refused.png"))
    page.get_by_label("身份证号").fill(people.loc["R2", "id_number"])
    page.get_by_label("姓名 / 手机号后4位").fill("李四")
    page.get_by_role("button", name="查询").click()
    page.get_by_text("可用积分").wait_for(timeout=30_000)
    page.get_by_text("如何获得更多积分").wait_for()
    assert page.locator("[data-testid=stMetricValue]").first.inner_text() == "35"  # 65 earned, 30 redeemed
    body = page.locator("body").inner_text()
    assert people.loc["R2", "id_number"] not in body and "李四" not in body
    # nothing overflows the phone's width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    masked = people.loc["R2", "id_number"][:4] + "*" * 13 + people.loc["R2", "id_number"][-1]
    assert f"身份证号 {masked}" in body  # decisions §4: region and check character only
    _shoot_sections(page, "screenshot-points-lookup", ["健康积分查询", "可兑换"])
    _english(page, narrow=True)
    page.get_by_text("Points available").wait_for(timeout=30_000)
    _shoot_sections(page, "screenshot-points-lookup-en", ["Check my health points",
                                                          "How to earn more"])
    page.close()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert people.loc["R2", "id_number"] not in text and "不是我" not in text


def _login(browser, server, user):
    from healthmap.auth import DEMO_PASSWORD

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _offline(page, server)
    page.goto(server + "/login")
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    return page


def test_staff_bulk_import_names_every_bad_row_then_records(site, browser, tmp_path):
    server, _, _ = site
    page = _login(browser, server, "demo_points")  # lands on the points desk
    page.get_by_role("tab", name="批量导入").wait_for(timeout=60_000)
    page.get_by_role("tab", name="批量导入").click()
    bad = tmp_path / "活动记录.csv"
    bad.write_text("居民编号,活动代码,来源编号,日期\nR1,health_lecture,imp-1,2025-05-06\n"
                   "R1,health_lecture,imp-2,2025-05-06\nR404,vaccination,imp-3,2025-05-06\n"
                   "R2,jogging,imp-4,2025-05-06\n", encoding="utf-8")
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(bad))
    page.get_by_text("发现 3 个问题").wait_for(timeout=60_000)
    page.get_by_text("已达每日上限").wait_for(state="attached")  # a canvas grid cell
    page.locator("[data-testid=stDataFrame]").first.wait_for()
    page.screenshot(path=str(DOCS / "screenshot-points-import.png"))
    good = tmp_path / "good.csv"
    good.write_text("resident_id,activity,source_id,date\nR1,health_lecture,imp-1,2025-05-06\n"
                    "R5,vaccination,imp-5,2025-05-06\n", encoding="utf-8")
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(good))
    page.get_by_text("新登记 2 条").wait_for(timeout=60_000)
    # the same refusals in English (the bad file again: line 2 is now already recorded)
    _english(page)
    page.get_by_role("tab", name="Bulk import").click()
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(bad))
    page.get_by_text("3 problem(s) found").wait_for(timeout=60_000)
    page.get_by_text("daily cap reached").wait_for(state="attached")
    page.locator("[data-testid=stStatusWidget]").wait_for(state="detached", timeout=60_000)
    page.screenshot(path=str(DOCS / "screenshot-points-import-en.png"))
    page.close()


# the township map is drawn: SVG area polygons (or a MapLibre canvas with a tile basemap)
MAP_DRAWN = ("document.querySelectorAll('.js-plotly-plot .js-fill, "
             ".js-plotly-plot canvas').length >= 11")


def test_planners_points_map(site, browser):
    server, _, _ = site
    page = _login(browser, server, "demo_planner")
    page.locator("[data-testid=stSidebar]").get_by_text("积分统计").wait_for(timeout=60_000)
    page.locator("[data-testid=stSidebar]").get_by_role("link", name="积分统计").click()
    page.wait_for_selector(".js-plotly-plot", timeout=90_000)
    page.get_by_text("参与居民").first.wait_for()
    page.wait_for_function(MAP_DRAWN, timeout=60_000)
    page.screenshot(path=str(DOCS / "screenshot-points-map.png"))
    _english(page)
    page.get_by_text("Residents credited").first.wait_for(timeout=30_000)
    # the map redrawn in English (its legend title), and the rerun finished
    page.locator(".js-plotly-plot").get_by_text("Residents credited per 1,000").first.wait_for(
        timeout=60_000)
    page.wait_for_function(MAP_DRAWN, timeout=60_000)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="detached", timeout=60_000)
    page.screenshot(path=str(DOCS / "screenshot-points-map-en.png"))
    page.close()
