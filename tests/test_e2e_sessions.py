"""Sessions in a real browser (issue 8): log in, reload, open a page by URL, new tab, logout
in one tab ends the other; the cookie is HttpOnly and SameSite=Strict; the server's very
first request may be a page URL; security headers, no public metrics, no anonymous uploads
(issue 18 §6); the warm-up at start (issue 14)."""

import re
import urllib.error
import urllib.request

import pytest

import warmup
from healthmap import auth
from tests.e2e_util import ART, app_server, chromium, english_words, have_chromium, log_in

# browser behaviour; the data paths run on both back ends elsewhere (board e2e runs on both)
pytestmark = pytest.mark.sqlite_only

if not have_chromium():
    pytest.skip("chromium not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def server(demo_db):
    with app_server(demo_db, ART / "server_sessions.log") as url:
        yield url


def test_first_request_is_a_page_url_and_login_survives_reload_url_and_new_tab(server):
    from playwright.sync_api import expect

    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        page = ctx.new_page()
        # the server's first visitor opens /admin directly: the frame (sidebar) is there
        page.goto(server + "/admin")
        expect(page.get_by_text("此页面需要登录").first).to_be_visible(timeout=90_000)
        expect(page.get_by_text("语言 / Language").first).to_be_visible()
        log_in(page, server, "demo_admin", auth.DEMO_PASSWORD)
        assert re.search(r"/admin$", page.url)  # the administrator's landing page
        cookie = next(c for c in ctx.cookies() if c["name"] == "hm_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert "hm_session" not in page.evaluate("document.cookie")
        page.reload()
        expect(page.get_by_text("当前用户：demo_admin").first).to_be_visible(timeout=90_000)
        page.goto(server + "/data")  # typed URL
        expect(page.get_by_text("当前用户：demo_admin").first).to_be_visible(timeout=90_000)
        expect(page.locator("h1").filter(has_text="数据管理")).to_be_visible()
        other = ctx.new_page()  # a new tab
        other.goto(server + "/admin")
        expect(other.get_by_text("当前用户：demo_admin").first).to_be_visible(timeout=90_000)
        page.screenshot(path=str(ART / "session_logged_in.png"))
        # log out in the first tab ...
        page.goto(server + "/login")
        page.get_by_role("button", name="退出登录").click()
        # logged out once the login form is back (exact: "退出登录" contains "登录") and
        # /api/logout has cleared the cookie
        expect(page.get_by_role("button", name="登录", exact=True)).to_be_visible(
            timeout=90_000)
        expect(page.get_by_label("用户名")).to_be_visible(timeout=90_000)
        assert not [c for c in ctx.cookies() if c["name"] == "hm_session" and c["value"]]
        # ... and the other tab shows the login state on its next interaction
        other.bring_to_front()
        other.locator("[data-testid=stSidebar]").get_by_text("English", exact=True).click()
        expect(other.get_by_text("Public access").first).to_be_visible(timeout=90_000)
        other.goto(server + "/data")
        expect(other.get_by_text("This page needs a login").first.or_(
            other.get_by_text("此页面需要登录").first)).to_be_visible(timeout=90_000)
        other.screenshot(path=str(ART / "session_other_tab_after_logout.png"))


def _status(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"x" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def test_the_server_warms_the_first_views_at_start(server):
    """On a ready database the server reads the pages' first views as it starts."""
    line = warmup.logged_line(ART / "server_sessions.log", timeout_s=180)
    assert "done in" in line and "cells of 2024" in line, line


def test_security_headers_metrics_and_anonymous_upload(server):
    code, headers = _status(server + "/")
    assert code == 200
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in lower["content-security-policy"]
    assert lower["x-content-type-options"] == "nosniff"
    assert lower["referrer-policy"] == "no-referrer"
    assert _status(server + "/_stcore/metrics")[0] == 404
    assert _status(server + "/_stcore/upload_file/s/f", "PUT")[0] == 403
    # a made-up ticket sets no cookie and goes back to the login page
    code, headers = _status(server + "/api/session?ticket=made-up")
    assert "hm_session=" not in str(headers.get("set-cookie", ""))


def test_first_start_loads_the_demo_with_progress_and_never_replays_it(tmp_path):
    """The README's run command on a machine with no database (issue 15 §3.1, §3.16)."""
    from playwright.sync_api import expect

    url = f"sqlite:///{tmp_path / 'first.db'}"
    # no key given: the first start makes the database's own key file, outside the project
    with app_server(url, ART / "server_first_start.log", HEALTHMAP_SECRET_KEY="",
                    HEALTHMAP_KEY_DIR=str(tmp_path / "keys")) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(base + "/")
        expect(page.get_by_text("首次启动").first).to_be_visible(timeout=90_000)
        # the steps are named in Chinese too (they were "population", "episodes", …)
        expect(page.get_by_text("正在生成并载入人口数据").first).to_be_visible(timeout=90_000)
        assert english_words(page) == set(), english_words(page)
        page.wait_for_selector(".js-plotly-plot", timeout=600_000)
        later = browser.new_page(viewport={"width": 1400, "height": 900})
        later.goto(base + "/")  # a later visitor: no first-start box
        later.wait_for_selector(".js-plotly-plot", timeout=120_000)
        assert later.get_by_text("首次启动").count() == 0
        later.locator("[data-testid=stSidebar]").get_by_text("English", exact=True).click()
        expect(later.get_by_text("Public access").first).to_be_visible(timeout=90_000)
        assert later.get_by_text("First start").count() == 0
    # the warm-up at start found no database and left it to the first visitor
    line = warmup.logged_line(ART / "server_first_start.log", timeout_s=180)
    assert "nothing read" in line, line
    keys = list((tmp_path / "keys").iterdir())
    assert len(keys) == 1 and oct(keys[0].stat().st_mode & 0o777) == "0o600"
