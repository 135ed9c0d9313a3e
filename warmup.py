"""What the server reads when it starts, before any visitor arrives.

A fresh server process has nothing in memory: its first visitor waited for the page
modules to import and for the latest year's cells to be read from the episode store (at
10,000,000 episodes the map page's first view took 4.6-5.3 s server side in a fresh
process, 2.4 s of it the cells; 0.5-0.7 s once this warm-up has run). ``app.py``'s lifespan calls
:func:`start` as the server starts; it runs :func:`warm` in a background thread, which
imports every page's modules and fills the caches the pages' first views read, through
the same cached functions of :mod:`ui` the pages call (so the pages find them):

* the data version, the years held and the latest year's cell frame (the map, ranking
  and board pages' default period);
* the townships and the population (every page with a map or a rate);
* what the leaders' board reads whatever its inputs (its cells, screening cases and
  aggregate indicators);
* the episode store's query database (:func:`healthmap.store.query.connect`).

It reads only: a database that is missing, not yet filled (the first start loads the demo
data for its first visitor), waiting for a migration (the first visitor applies it) or
unreadable is left alone, and any failure is logged, never raised; the pages then read
as before. The server log gets one line with what was read and how long it took.
"""

from __future__ import annotations

import ast
import importlib
import logging
import threading
import time
from pathlib import Path

from streamlit.logger import get_logger

ROOT = Path(__file__).resolve().parent
log = get_logger("healthmap.warmup")  # the server log, at Streamlit's level (logger.level)
THREAD = "healthmap-warm-start"
#: how every line of the warm-up in the server log begins (``bench --browser --warm`` waits
#: for it)
LOG_PREFIX = "warm-up at start"


def logged_line(server_log: Path, timeout_s: float = 600) -> str:
    """The first line of the warm-up in a server's log file, waited for (re-read every
    0.2 s until it is there; ``TimeoutError`` after ``timeout_s``). For the browser bench
    and the end-to-end tests, which start servers with their output in a file."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = server_log.read_text(errors="replace") if server_log.exists() else ""
        line = next((ln for ln in text.splitlines() if LOG_PREFIX in ln), None)
        if line is not None:
            return line
        if time.monotonic() > deadline:
            raise TimeoutError(f"no warm-up line in {server_log} after {timeout_s:.0f} s")
        time.sleep(0.2)  # polling a file for a condition, bounded by the deadline


class _NoContextNote(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" note for the warm-up thread: it calls
    the pages' cached functions outside any visitor's script run on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD


def page_modules() -> list[str]:
    """The modules the pages import at their top (read from the page files of
    :data:`healthmap.pagespec.PAGES`), first seen first; ``from a import b`` gives ``a``
    and ``a.b`` (``b`` may be a module).

    >>> mods = page_modules()
    >>> "ui" in mods and "healthmap.mapview" in mods and "plotly.express" in mods
    True
    """
    from healthmap import pagespec

    names: list[str] = []
    for spec in pagespec.PAGES:
        tree = ast.parse((ROOT / spec.file).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return [n for n in dict.fromkeys(names) if n != "__future__"]


def _import(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:  # a module that is there but failed: the page will say so
            raise
        # ``from a import b`` where ``b`` is not a module: ``a`` is imported already


def warm(url: str) -> dict | None:
    """Import the pages' modules and read what their first views need (module docstring)
    for the database at ``url``; returns what was read with the seconds it took, or
    ``None`` when the database is left alone (nothing read from it)."""
    t0 = time.perf_counter()
    from healthmap import db, dbhealth

    if dbhealth.diagnose(url, must_exist=True, need_write=False) is not None:
        return None  # missing (the first start makes it), damaged, in a blocked folder
    import ui

    engine = ui.engine(url)
    if db.ready_kind(engine) is None or not db.is_current(engine):
        return None
    for name in page_modules():
        _import(name)
    imported = time.perf_counter() - t0

    from healthmap import queries
    from healthmap.store.query import connect

    version = queries.data_version(engine)
    years = ui.periods(version, url)
    if years:
        ui.cells_frame((years[-1],), version, url)
    ui.area_set("township", version, url)
    ui.population_rows(version, url)
    ui.board_cells(version, url)
    ui.board_screening(version, url)
    ui.indicator_values(version, url)
    connect(engine).close()
    return {"imports s": round(imported, 1), "year": years[-1] if years else None,
            "total s": round(time.perf_counter() - t0, 1)}


def _run(url: str) -> None:
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    try:
        done = warm(url)
    # a warm-up only: the pages read for themselves (and show any problem); StopException:
    # ui.engine's stop on a database problem, outside any visitor's run
    except (Exception, StopException) as exc:  # noqa: BLE001
        log.warning("%s stopped (the pages read for themselves): %r", LOG_PREFIX, exc)
        return
    if done is None:
        log.info("%s: the database is missing, not yet filled, waiting for a migration or "
                 "unreadable; nothing read", LOG_PREFIX)
    else:
        log.info("%s done in %.1f s: page modules imported in %.1f s, then the cells of %s, "
                 "the reference data and the board's data read", LOG_PREFIX, done["total s"],
                 done["imports s"], done["year"])


def start(url: str) -> threading.Thread:
    """Run :func:`warm` for ``url`` in a background (daemon) thread; returns the thread."""
    from streamlit.runtime.scriptrunner_utils import script_run_context

    notes = logging.getLogger(script_run_context.__name__)
    if not any(isinstance(f, _NoContextNote) for f in notes.filters):
        notes.addFilter(_NoContextNote())
    thread = threading.Thread(target=_run, args=(url,), name=THREAD, daemon=True)
    thread.start()
    return thread
