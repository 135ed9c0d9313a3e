"""The data page as a data manager meets it (issue 15 §3.11): the codes an import may use
are listed, a refused file's problem list stays on screen after a rerun (a download click),
and imports check the actor's permission inside the import function (issue 8)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from healthmap.access import Actor, PermissionDenied
from healthmap.db import make_engine
from healthmap.ingest import import_file

APP = str(Path(__file__).resolve().parent.parent / "app.py")


# pages through AppTest run on SQLite; the app on PostgreSQL is covered by test_app.py and
# the board's browser test, the data on both back ends by the data tests
pytestmark = pytest.mark.sqlite_only


def test_codes_listed_and_problem_list_survives_a_rerun(demo_copy, monkeypatch):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_copy)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["user"] = {"username": "demo_data_manager", "role": "data_manager",
                                "demo": True}
    at.run()
    at.switch_page("pages/data_management.py").run()
    shown = [set(d.value.iloc[:, 0].astype(str)) for d in at.dataframe if len(d.value.columns)]
    assert any("YH001" in col for col in shown) and any("331083001" in col for col in shown)
    at.selectbox(key="data_kind").set_value("institutions").run()
    bad = "code,name,level,in_county\nH9,某医院,castle,maybe\n".encode()
    at.file_uploader[0].set_value(("bad.csv", bad, "text/csv")).run()
    at.button(key="do_import").click().run()
    assert not at.exception
    assert at.error and "问题" in at.error[0].value
    before = [d.value for d in at.dataframe if "原因" in d.value.columns]
    assert len(before) == 1 and len(before[0]) >= 2
    at.run()  # what a click on the download button does: a rerun without the import click
    after = [d.value for d in at.dataframe if "原因" in d.value.columns]
    assert len(after) == 1 and after[0].equals(before[0])


@pytest.mark.parametrize("role", ["leader", "planner", "screening", "points", "expert"])
def test_import_checks_the_actor_inside(demo_copy, role):
    engine = make_engine(demo_copy)
    with pytest.raises(PermissionDenied):
        import_file(engine, "institutions", b"code,name,level,in_county\n", "x.csv",
                    actor=Actor("x", role))
