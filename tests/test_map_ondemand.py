"""Issue 15 §1: the map page draws its sections below the fold (breakdowns, patient flows,
clusters) only while they are open, so a filter change redraws what is in view; opened,
they show the same figures as before."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PANELS = {"top", "pyramid", "insurance_pie", "trend"}
# pages through AppTest run on SQLite; the app on PostgreSQL is covered by test_app.py and
# the board's browser test, the data on both back ends by the data tests
pytestmark = pytest.mark.sqlite_only


def _charts(at) -> dict[str, dict]:
    """The page's plotly charts by their key (the element id ends with it)."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec)
            for c in at.get("plotly_chart")}


def _planner(demo_db, monkeypatch) -> AppTest:
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_db)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["user"] = {"username": "demo_planner", "role": "planner", "demo": True}
    return at


def test_sections_below_the_fold_are_drawn_only_when_opened(demo_db, monkeypatch):
    from healthmap import mapmodel, queries
    from healthmap.db import make_engine

    at = _planner(demo_db, monkeypatch)
    at.run()
    assert not at.exception
    assert set(_charts(at)) == {"map", "funnel"}
    labels = [e.label for e in at.expander]
    assert {"构成分析", "患者流向", "空间聚集（局部 Moran's I）"} <= set(labels)
    # a filter change with the sections closed computes and sends only what is in view
    at.sidebar.multiselect(key="groups").set_value(["C_STOMACH"]).run()
    assert not at.exception and set(_charts(at)) == {"map", "funnel"}

    # opened: the four breakdowns, exactly the figures the page model draws for the filters
    at.session_state["open_panels_zh"] = True  # the expander's key (one per language)
    at.run()
    charts = _charts(at)
    assert PANELS <= set(charts) and "sankey" not in charts
    engine = make_engine(demo_db)
    year = max(queries.periods(engine))
    f = queries.Filters(years=(year,), month_from=1, month_to=12, groups=("C_STOMACH",),
                        setting="inpatient")
    aset = queries.area_set(engine, "township")
    figs = mapmodel.panel_figures(engine, queries.resolve(engine, f),
                                  queries.load_cells_frame(engine, f.years), aset, False,
                                  None, "zh")
    for key in PANELS:
        assert charts[key]["data"] == json.loads(figs[key].to_json())["data"], key

    # the patient flow: the county, then one township (a rerun of that section only)
    at.session_state["open_flow_zh"] = True
    at.run()
    assert "sankey" in _charts(at)
    town = aset.areas["code"].iloc[0]
    at.selectbox(key="flow_area").set_value(town).run()
    assert not at.exception and "sankey" in _charts(at)
    assert PANELS <= set(_charts(at))  # the open breakdowns stay

    # closed again: gone from the page, and a filter change leaves them alone
    at.session_state["open_panels_zh"] = False
    at.session_state["open_flow_zh"] = False
    at.sidebar.radio(key="sex_zh").set_value("F").run()
    assert not at.exception and set(_charts(at)) == {"map", "funnel"}

    # switching the language keeps an open section open
    at.session_state["open_panels_zh"] = True
    at.run()
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception and PANELS <= set(_charts(at))
    assert "Breakdowns" in {e.label for e in at.expander}


def test_the_public_gets_no_on_demand_sections(demo_db, monkeypatch):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_db)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    assert not {"构成分析", "患者流向"} & {e.label for e in at.expander}
    at.session_state["open_panels_zh"] = True  # even asked for, nothing is drawn
    at.run()
    assert not PANELS & set(_charts(at))
