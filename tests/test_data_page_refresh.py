"""The data page's refresh button (issue 8): the page passes its user as the actor to
``summary.rebuild``, which checks ``refresh`` inside; the rebuild is audited and moves the
cache version."""

from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from healthmap import queries
from healthmap.db import make_engine

APP = str(Path(__file__).resolve().parent.parent / "app.py")
pytestmark = pytest.mark.sqlite_only  # pages through AppTest run on SQLite


def test_refresh_button_rebuilds_as_the_page_user(demo_copy, monkeypatch):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_copy)
    engine = make_engine(demo_copy)
    before = queries.data_version(engine)
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["user"] = {"username": "demo_data_manager", "role": "data_manager",
                                "demo": True}
    at.run()
    at.switch_page("pages/data_management.py").run()
    at.button(key="refresh").click().run()
    assert not at.exception and not at.error
    assert at.success and "2024" in at.success[0].value
    assert queries.data_version(engine) > before
    with engine.connect() as c:
        assert c.execute(text("select actor, role from audit_log where action = "
                              "'refresh_summaries'")).all() == [("demo_data_manager",
                                                                 "data_manager")]
    engine.dispose()
