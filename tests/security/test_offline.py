"""§7 Nothing leaves the machine: every request of a session through every page, in both
languages, as the public and as the administrator (a map with a Latin area name included),
goes to the app's own host; the server asks nobody for its address either.

Browser requests are listed with Playwright (and stopped before they leave); the server's
own outgoing HTTP(S) requests are caught by pointing its proxy settings at a local
listener that records every connection.
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from tests.e2e_util import english_words

# network behaviour of the app and the browser, not of the database
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
LATIN_AREA = "New Town 1"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser tests")
    pytest.skip("chromium not installed", allow_module_level=True)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """A 'proxy' that records the first line of every connection and closes it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(conn.recv(300).split(b"\r\n")[0].decode("latin-1"))
                except OSError:
                    self.seen.append("?")

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def latin_db(tmp_path_factory, demo_db):
    from healthmap.db import make_engine

    from dbcopy import copy_database

    dst = tmp_path_factory.mktemp("offline") / "offline.db"
    url = copy_database(demo_db, dst)
    e = make_engine(url)
    with e.begin() as c:  # a map label with Latin letters and digits
        code = c.execute(text("SELECT code FROM areas WHERE level='township' ORDER BY code "
                              "LIMIT 1")).scalar()
        c.execute(text("UPDATE areas SET name=:n WHERE code=:c"), {"n": LATIN_AREA, "c": code})
    e.dispose()
    return url


@pytest.fixture(scope="module")
def server(latin_db):
    rec = Recorder()
    port = _port()
    proxy = f"http://127.0.0.1:{rec.port}"
    env = dict(os.environ, HEALTHMAP_DATABASE_URL=latin_db, HTTP_PROXY=proxy,
               HTTPS_PROXY=proxy, http_proxy=proxy, https_proxy=proxy, ALL_PROXY=proxy,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    # no --server.address: the project's .streamlit/config.toml must set it
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                             "--server.port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", rec, out
    proc.terminate()
    proc.wait(timeout=20)
    rec.close()


def _idle(page):
    """Wait until Streamlit has finished the run (no 'running' status) and, on a map,
    until MapLibre has loaded everything it wants (glyphs included)."""
    page.wait_for_selector("[data-testid=stMain] h1", timeout=120_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget] "
        "[data-testid=stStatusWidgetRunningIcon]')", timeout=120_000)
    if page.locator(".js-plotly-plot").count():
        page.wait_for_function("""() => [...document.querySelectorAll('.js-plotly-plot')]
            .every(gd => !gd._fullLayout || !gd._fullLayout.map
                   || (gd._fullLayout.map._subplot && gd._fullLayout.map._subplot.map
                       && gd._fullLayout.map._subplot.map.loaded()
                       && gd._fullLayout.map._subplot.map.areTilesLoaded()))""",
                               timeout=120_000)


def _english(page):
    page.locator("[data-testid=stSidebar]").get_by_text("English", exact=True).click()
    page.wait_for_function("() => document.documentElement.innerText.includes('Language')",
                           timeout=60_000)
    _idle(page)


def test_no_request_leaves_the_machine(server):
    from playwright.sync_api import sync_playwright

    from healthmap import pagespec, sessions
    from healthmap.auth import DEMO_PASSWORD, DEMO_USERS

    url, rec, log = server
    host = urlsplit(url).netloc
    requests: list[str] = []

    def route(r):
        requests.append(r.request.url)
        u = urlsplit(r.request.url)
        if u.scheme in ("data", "blob") or u.netloc == host:
            r.continue_()
        else:
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("request", lambda r: requests.append(r.url))
        # the public: every public page in both languages (the map first)
        for spec in pagespec.pages_for(None):
            page.goto(f"{url}/{'' if spec.key == pagespec.DEFAULT else spec.path}")
            _idle(page)
            if spec.key == pagespec.DEFAULT:  # the map (drawn after the heading)
                page.wait_for_selector(".js-plotly-plot", timeout=120_000)
            _english(page)
        # log in as the administrator, then every page the role may open, both languages
        page.goto(url + "/login")
        _idle(page)
        page.get_by_label("用户名").fill(DEMO_USERS["admin"])
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        deadline = time.monotonic() + 60  # logged in once the session cookie is set
        while not any(c["name"] == sessions.COOKIE for c in ctx.cookies()):
            assert time.monotonic() < deadline, "no session cookie after login"
            page.wait_for_timeout(200)
        page.wait_for_url(lambda u: "/api/" not in u and "/login" not in u, timeout=60_000)
        _idle(page)  # the role's landing page after the redirect
        visited, untranslated = [], {}
        for spec in pagespec.pages_for("admin"):
            page.goto(f"{url}/{'' if spec.key == pagespec.DEFAULT else spec.path}")
            _idle(page)
            assert "demo_admin" in page.locator("[data-testid=stSidebar]").inner_text()
            # Chinese mode shows no untranslated English (issue 15 §3.9), on every page
            untranslated[spec.key] = english_words(page, names=(LATIN_AREA,))
            _english(page)
            visited.append(spec.key)
        browser.close()
    assert {"map", "data", "admin", "login"} <= set(visited)
    assert not any(untranslated.values()), {k: v for k, v in untranslated.items() if v}
    foreign = sorted({urlsplit(u).netloc for u in requests
                      if urlsplit(u).scheme not in ("data", "blob")} - {host})
    assert not foreign, foreign
    assert len(requests) > 20
    assert not rec.seen, rec.seen  # the server asked nobody (checkip.amazonaws.com)
    assert "External URL" not in "".join(log)
