"""Shared pieces of the browser tests: start the real app, launch Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ART = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def have_chromium() -> bool:
    if Path(CHROMIUM).exists():
        return True
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser tests")
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(db_url: str, log_path: Path, **env_extra: str):
    """``streamlit run app.py`` on a free loopback port; yields its base URL once it
    answers its health check."""
    import urllib.request

    port = free_port()
    env = dict(os.environ, HEALTHMAP_DATABASE_URL=db_url, **env_extra)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
             "--server.port", str(port), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--logger.level", "debug"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:  # wait for the condition (health check answers), bounded
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the app did not start; see {log_path}")
                time.sleep(0.2)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page, base: str, username: str, password: str) -> None:
    """Log in through the login page (sets the session cookie) and wait for the landing
    page."""
    from playwright.sync_api import expect

    page.goto(base + "/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda u: "/login" not in u, timeout=90_000)
    expect(page.get_by_text(f"当前用户：{username}").first).to_be_visible(timeout=90_000)


# Words allowed on a page in Chinese mode (issue 15 §3.9): method and standard names, file
# formats and a package name, Streamlit's own widget text that the app cannot translate
# (the uploader's "Drag and drop file here / per file", a date input's "YYYY"), the icon
# font's ligature names, screen-reader texts, and user names.
ALLOWED_LATIN = {
    "CSV", "Excel", "English", "Language", "ICD-", "Fay-Feuer", "Garwood", "gamma",
    "Voronoi", "Wilson", "Moran", "init", "SIR", "TOPSIS", "APCS", "CDRS", "PDF", "Spearman",
    "NHS", "England", "Debian", "fonts-noto-cjk", "GeoJSON", "GEOJSON", "GPKG", "GeoPackage",
    "JSON", "Shapefile", "XLS", "XLSX", "ZIP",
    "Upload", "upload", "file", "per", "yyyy", "Drag", "and", "drop", "here", "Limit",
    "Skip", "main", "content", "available", "options",
}
# the page's text without Material icons (ligature names are not words) and without
# Streamlit's running-status widget ("Stop")
_VISIBLE_TEXT = """() => {
    const hide = document.createElement('style');
    hide.textContent = '[data-testid=stIconMaterial], .material-icons, [data-testid=stStatusWidget] '
        + '{display: none !important}';
    document.head.appendChild(hide);
    const text = document.body.innerText;
    hide.remove();
    return text;
}"""


def english_words(page, names: tuple[str, ...] = ()) -> set[str]:
    """Latin words shown on the page (SVG chart text included, icons left out) that are
    not in :data:`ALLOWED_LATIN`, a demo user name or one of ``names`` (data, such as a
    place name written in Latin letters)."""
    import re

    text = page.evaluate(_VISIBLE_TEXT) + " " + " ".join(
        t or "" for t in page.locator("svg text").all_text_contents())
    allowed = ALLOWED_LATIN | {w for n in names for w in n.split()}
    words = set(re.findall(r"[A-Za-z][A-Za-z_\-]{2,}", text))
    return {w for w in words - allowed if not w.startswith("demo_")}
