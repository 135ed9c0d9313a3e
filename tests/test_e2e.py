"""End to end in real headless Debian Chromium: load pages, click, save screenshots."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ART = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser tests")
    pytest.skip("chromium not installed", allow_module_level=True)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo_db):
    port = _port()
    env = dict(os.environ, HEALTHMAP_DATABASE_URL=demo_db)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                             "--server.port", str(port), "--server.headless", "true",
                             "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def test_map_page_renders_offline_and_filters(server, browser):
    ART.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server)
               or route.request.url.startswith("data:") else route.abort())  # no internet
    page.goto(server + "/")
    page.wait_for_selector(".js-plotly-plot", timeout=90_000)
    page.wait_for_timeout(2500)
    assert page.locator(".js-plotly-plot .choroplethmap, .js-plotly-plot canvas").count() > 0
    page.screenshot(path=str(ART / "map.png"), full_page=False)
    # change the measure to outward referral and look at the funnel and flow charts
    page.locator("[data-testid=stSelectbox]").filter(has_text="指标").locator("input").click()
    page.locator("[role=listbox]").get_by_text("外转率（%）", exact=True).click()
    page.wait_for_timeout(3500)
    page.get_by_text("漏斗图").first.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(ART / "funnel.png"))
    page.get_by_text("患者流向").first.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(ART / "flow.png"))
    assert page.get_by_text("显著偏高").count() > 0


def test_login_roles_and_forbidden_page(server, browser):
    from healthmap.auth import DEMO_PASSWORD
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server + "/data")
    page.wait_for_timeout(4000)
    # anonymous: the data page is not served (Streamlit falls back to the map); no data shown
    assert page.get_by_text("导入日志").count() == 0
    for user, can_see_data in (("demo_leader", False), ("demo_data_manager", True)):
        page.goto(server + "/login")
        page.wait_for_selector("input[type=password]", timeout=60_000)
        if page.get_by_text("退出登录").count():
            page.get_by_text("退出登录").click()
            page.wait_for_timeout(1500)
        page.get_by_label("用户名").fill(user)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_timeout(3000)
        nav = page.locator("[data-testid=stSidebarNav]").inner_text()
        assert ("数据管理" in nav) == can_see_data
        if can_see_data:
            page.get_by_text("数据管理").first.click()
            page.wait_for_timeout(3000)
            page.screenshot(path=str(ART / "data_page.png"))
            assert page.get_by_text("导入日志").count() > 0
        page.goto(server + "/login")
        page.wait_for_timeout(2500)
        if page.get_by_text("退出登录").count():
            page.get_by_text("退出登录").click()
            page.wait_for_timeout(1500)
