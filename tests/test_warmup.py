"""The server's warm-up at start (``warmup.py``): it fills the very caches the pages read,
and leaves a database that is not ready alone."""

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

import warmup
from healthmap import queries
from healthmap.bootstrap import init_database
from healthmap.db import make_engine

APP = str(Path(__file__).resolve().parent.parent / "app.py")

# the caches are the app's (SQLite is enough); the data paths run on both back ends elsewhere
pytestmark = pytest.mark.sqlite_only


def test_page_modules_are_what_the_pages_import():
    mods = warmup.page_modules()
    assert {"ui", "healthmap.mapview", "healthmap.ranking_data", "plotly.express",
            "healthmap.queries"} <= set(mods)
    assert "__future__" not in mods and len(mods) == len(set(mods))


def test_the_map_page_finds_its_year_already_read(demo_copy, monkeypatch):
    """After the warm-up, the public map page's first view (the latest year) reads no
    cells of that year: they come from the cache the warm-up filled."""
    calls = []
    real = queries.load_cells_frame

    def counting(engine, years):
        calls.append(tuple(years))
        return real(engine, years)

    monkeypatch.setattr(queries, "load_cells_frame", counting)
    done = warmup.warm(demo_copy)
    assert done is not None and done["year"] == 2024, done
    assert calls == [(2024,)]
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_copy)
    at = AppTest.from_file(APP, default_timeout=240).run()  # the public map page
    assert not at.exception
    assert at.get("plotly_chart")  # the map was drawn ...
    assert calls.count((2024,)) == 1  # ... from the year the warm-up read


def test_a_missing_database_is_left_alone(tmp_path):
    path = tmp_path / "none.db"
    assert warmup.warm(f"sqlite:///{path}") is None
    assert not path.exists()  # the first start makes it, for its first visitor


def test_a_database_waiting_for_its_demo_data_or_a_migration_is_left_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = make_engine(url)
    init_database(engine, kind="demo")  # no demo data yet: the first visitor loads them
    assert warmup.warm(url) is None
    url = f"sqlite:///{tmp_path / 'real.db'}"
    engine = make_engine(url)
    init_database(engine)
    with engine.begin() as conn:  # as if the code were newer than the database
        conn.execute(text("UPDATE alembic_version SET version_num = '0011'"))
    assert warmup.warm(url) is None


def test_a_failing_warm_up_is_logged_not_raised(monkeypatch):
    raised = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args))

    def broken(url):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(warmup, "warm", broken)
    warmup.start("sqlite:///nowhere.db").join(timeout=60)
    assert raised == []
