"""``python -m healthmap bench --browser``: the map page as a user waits for it.

Starts the real app (``streamlit run app.py``) on the demo data, drives headless Chromium
(Playwright, Debian's ``chromium``), logged in as a demo planner, through :data:`STEPS`
(typical widget changes on the map page) and measures, for each, the time from the input
that makes the change (the click on the option, the radio or the toggle; opening a
dropdown or typing into its search box comes before and is not waited for) until the page
has settled: Streamlit's "running" indicator gone, no element left stale and the page
unchanged for :data:`QUIET_MS`. Prints each step, then median and p95.

It counts finished script runs by decoding Streamlit's ``ForwardMsg`` protobuf, so it lives
outside ``healthmap`` (which never imports streamlit); the CLI imports it only for
``bench --browser``.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

# (what the user does, kind, widget label, value): labels as the Chinese page shows them
STEPS = [
    ("measure: outward referral", "select", "指标", "外转率（按人次，%）"),
    ("disease group: stomach cancer", "multi", "病种", "胃癌"),
    ("sex: men", "radio", "性别", "男"),
    ("setting: outpatient", "radio", "就诊类型", "门诊"),
    ("legend: natural breaks", "select", "分级方法", "自然断点"),
    ("show counts", "toggle", "显示例数", None),
    ("show rates again", "toggle", "显示例数", None),
    ("age group: 60-64", "multi", "年龄组", "60-64"),
    ("measure: cost per case", "select", "指标", "均次费用（元）"),
    ("second year: 2023", "multi", "年份", "2023"),
    ("insurance: resident", "multi", "险种", "城乡居民医保"),
    ("measure: crude incidence", "select", "指标", "发病率（粗率，/10万）"),
    # sections below the fold are drawn on demand: open them, then use one
    ("open the breakdowns", "expand", "构成分析", None),
    ("open the patient flow", "expand", "患者流向", None),
    ("patient flow of one township", "select", "选择区域", "玉城街道"),
]

# The page has settled when no script run is going on, no element is stale and the DOM
# has been quiet for QUIET_MS; the time of the last DOM change (MutationObserver) minus
# the time of the input is the step's duration, so the quiet window is not counted.
# The input's time is the timestamp of the first pointer or key event after ARM (the
# event that commits the change), else the time OBSERVE was called.
OBSERVE = """() => {
  window.__lastMut = performance.now();
  window.__t0 = null;
  if (!window.__obs) {
    window.__obs = new MutationObserver(() => { window.__lastMut = performance.now(); });
    window.__obs.observe(document.body, {subtree: true, childList: true, attributes: true,
                                         characterData: true});
    for (const type of ['pointerdown', 'keydown']) {
      document.addEventListener(type, (e) => {
        if (window.__armed) { window.__armed = false; window.__t0 = e.timeStamp; }
      }, true);
    }
  }
  return performance.now();
}"""
ARM = "() => { window.__armed = true; window.__t0 = null; }"
QUIET_MS = 400
SETTLED = """(quiet) => {
  const running = document.querySelector('[data-testid="stStatusWidgetRunningIcon"],'
      + '[data-testid="stStatusWidgetRunningManIcon"]');
  return !running && !document.querySelector('[data-stale="true"]')
      && performance.now() - window.__lastMut > quiet;
}"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _act(page, kind: str, label: str, value: str | None) -> bool:
    """Make one change; ``False`` when the page has no such control (an "expand" step on
    a page that draws the section without an expander: nothing to wait for)."""
    side = page.locator("[data-testid=stSidebar]")
    if kind == "expand":
        box = page.locator("[data-testid=stExpander]").filter(has_text=label)
        if not box.count():
            return False
        page.evaluate(ARM)
        box.first.locator("summary").click()
    elif kind == "select":
        box = page.locator("[data-testid=stSelectbox]").filter(has_text=label).first
        box.scroll_into_view_if_needed()
        box.locator("input").click()
        option = page.locator("[role=listbox]").get_by_text(value, exact=True)
        if not option.is_visible():  # the list did not open on the first click
            box.locator("input").click()
        option.wait_for()
        page.evaluate(ARM)
        option.click()
    elif kind == "multi":
        box = side.locator("[data-testid=stMultiSelect]").filter(has_text=label).first
        box.locator("input").fill(value)
        option = page.locator("[role=listbox] [role=option]").filter(has_text=value).first
        option.wait_for()
        page.evaluate(ARM)
        option.click()
        page.keyboard.press("Escape")
    elif kind == "radio":
        page.evaluate(ARM)
        side.locator("[data-testid=stRadio]").filter(has_text=label).first.get_by_text(
            value, exact=True).click()
    else:
        page.evaluate(ARM)
        side.locator("[data-testid=stCheckbox], [data-testid=stToggle]").filter(
            has_text=label).first.locator("label").click()
    return True


class RunWatch:
    """Counts the script runs the server reports finished (its ``script_finished``
    messages on the page's websocket), so a step waits for the run it started: Streamlit
    shows its "running" indicator only after 500 ms, and a fragment run (an expander
    opened) can leave the page unchanged for longer than the quiet window."""

    def __init__(self, page) -> None:
        self.finished = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        msg = ForwardMsg.FromString(payload)
        if (msg.WhichOneof("type") == "script_finished"
                and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN):
            self.finished += 1


def _settle(page, t0: float, timeout_ms: int = 60_000, ran=None) -> float:
    """Wait until the page has settled (and, with ``ran``, until ``ran()`` says the run
    the change started has finished); milliseconds from the committing input (or ``t0``
    when there was none) to the page's last change."""
    deadline = time.monotonic() + timeout_ms / 1000
    while ran is not None and not ran():
        if time.monotonic() > deadline:
            raise TimeoutError("the script run did not finish")
        page.wait_for_timeout(10)  # the benchmark's poll; websocket events arrive meanwhile
    page.wait_for_function(SETTLED, arg=QUIET_MS, timeout=timeout_ms, polling=25)
    last, start = page.evaluate("() => [window.__lastMut, window.__t0]")
    return max(last - (t0 if start is None else start), 0.0)


def _login(page, url: str, user: str) -> None:
    """Log in through the login page (the public map offers only the published tables,
    so the changes are made as staff)."""
    from healthmap.auth import DEMO_PASSWORD

    page.goto(url + "/login")
    page.wait_for_selector("input[type=password]", timeout=120_000)
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_function("() => !document.querySelector('input[type=password]')",
                           timeout=120_000)


def run_browser_bench(db_url: str | None = None, rounds: int = 1,
                      screenshot: str | None = None, app: Path = ROOT / "app.py",
                      user: str | None = "demo_planner") -> dict[str, float]:
    """Time :data:`STEPS` in Chromium against the real app; returns median and p95 (ms).

    Without ``db_url`` a throw-away demo database is built first (about 20 s). ``app``
    may point at another checkout (to measure a before/after pair).
    """
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    tmp = tempfile.mkdtemp(prefix="healthmap-browser-bench-")
    own_db = db_url is None
    if db_url is None:
        from healthmap.db import make_engine
        from healthmap.demo import load_demo

        db_url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        print("loading the demo data …")
        e = make_engine(db_url)
        load_demo(e)
        from healthmap import auth

        auth.ensure_demo_accounts(e)
        e.dispose()
    port = _port()
    env = dict(os.environ, HEALTHMAP_DATABASE_URL=db_url)
    log = open(Path(tmp) / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app),
                             "--server.port", str(port), "--server.headless", "true",
                             "--server.address", "127.0.0.1"],
                            cwd=app.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    times: list[float] = []
    by_step: dict[str, list[float]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            runs = RunWatch(page)
            for _ in range(240):  # the server is up when it answers
                try:
                    page.goto(url + "/", timeout=5_000)
                    break
                except Exception:
                    time.sleep(0.5)
            if user:
                _login(page, url, user)
            for r in range(rounds):
                if r or user:
                    page.goto(url + "/")
                page.wait_for_selector(".js-plotly-plot", timeout=120_000)
                _settle(page, page.evaluate(OBSERVE), timeout_ms=120_000)
                for name, kind, label, value in STEPS:
                    t0, before = page.evaluate(OBSERVE), runs.finished
                    try:
                        if not _act(page, kind, label, value):
                            continue
                    except Exception:
                        page.screenshot(path=str(Path(tempfile.gettempdir())
                                                  / "healthmap-browser-bench-failed.png"))
                        raise
                    ms = _settle(page, t0, ran=lambda: runs.finished > before)
                    times.append(ms)
                    by_step.setdefault(name, []).append(ms)
                    print(f"  {name:<32} {ms:7.0f} ms")
            if screenshot:
                page.screenshot(path=screenshot, full_page=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if own_db:  # its key file goes with it
            from healthmap.config import forget_key

            forget_key(db_url)
    med, p95 = statistics.median(times), float(np.percentile(times, 95))
    print(f"map page in Chromium, {len(times)} widget changes: click to settled median "
          f"{med:,.0f} ms   p95 {p95:,.0f} ms   target median < 600 ms, p95 < 1,200 ms")
    return {"browser median ms": med, "browser p95 ms": p95, "changes": len(times),
            "steps": by_step}
