"""The ranking page through streamlit's AppTest: who may open it, the workflow in the page."""

import pytest
from streamlit.testing.v1 import AppTest

from healthmap import pagespec

APP = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "app.py")
PAGE = "pages/ranking.py"


# pages through AppTest run on SQLite; the app on PostgreSQL is covered by test_app.py and
# the board's browser test, the data on both back ends by the data tests
pytestmark = pytest.mark.sqlite_only


@pytest.fixture()
def app(demo_copy, monkeypatch):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_copy)
    return AppTest.from_file(APP, default_timeout=240)


def as_role(at, role):
    at.session_state["user"] = {"username": f"demo_{role}", "role": role, "demo": True}
    return at


def test_planner_lands_on_the_ranking_page():
    assert pagespec.landing_page("planner") == "ranking"
    assert all(pagespec.landing_page(r) != "ranking" for r in ("leader", "expert", "admin"))


@pytest.mark.parametrize("role", [None, "screening", "family_doctor", "points", "data_manager"])
def test_refused_roles_see_no_data(app, role):
    if role:
        as_role(app, role)
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception
    warnings = " ".join(w.value for w in app.warning)
    assert ("需要登录" in warnings) if role is None else ("无权" in warnings)
    assert not app.dataframe and not app.get("plotly_chart")


@pytest.mark.parametrize("role", ["leader", "expert"])
def test_allowed_roles_see_the_ranking_but_cannot_draft(app, role):
    as_role(app, role).run()
    app.switch_page(PAGE).run()
    assert not app.exception
    assert any("重点专科" in t.value for t in app.title)
    assert len(app.dataframe) >= 4  # weights, indicators, ranking, specialties
    assert len(app.get("plotly_chart")) >= 3  # stability, comparison, map
    assert not [f for f in app.text_input if f.key == "rk_draft_name"]
    # groups with fewer than 20 new cases are flagged, in the table and in the ranking
    table = app.dataframe[1].value
    flagged = table["病种"].str.endswith("⚠")
    assert flagged.any() and (flagged == (table["新发病例"] < 20)).all()
    ranked = app.dataframe[2].value
    assert ranked["病种"].str.endswith("⚠").sum() == flagged.sum()


def test_planner_ranks_saves_and_expert_decides_then_adopted_is_frozen(app):
    as_role(app, "planner").run()
    app.switch_page(PAGE).run()
    assert not app.exception
    first = app.dataframe[2].value.iloc[0, 2]  # top group, TOPSIS with entropy weights
    app.radio(key="rk_method_zh").set_value("weighted_sum").run()
    assert not app.exception
    app.radio(key="rk_source_zh").set_value("planner").run()
    app.slider(key="rk_w_incidence").set_value(100).run()
    app.slider(key="rk_w_outward_referral").set_value(0).run()
    app.slider(key="rk_w_cost_per_case").set_value(0).run()
    assert not app.exception
    ranking = app.dataframe[2].value
    # with all weight on incidence the top group is the one with the highest incidence
    table = app.dataframe[1].value
    top_by_incidence = table.sort_values("发病率（/10万）", ascending=False).iloc[0, 0]
    assert ranking.iloc[0, 2] == top_by_incidence
    assert isinstance(first, str)
    app.text_input(key="rk_draft_name").input("2025-2027 草案")
    app.button(key="FormSubmitter:rk_save-保存为草案").click().run()
    assert not app.exception
    assert any("已保存草案" in s.value for s in app.success)
    # the new draft's entries have no decision yet: empty cells show a dash, not "None"
    assert app.dataframe[-1].value["决定"].isna().all()
    assert {df.proto.placeholder for df in app.dataframe} == {"—"}
    # a planner may record the panel's decision and adopt
    app.text_input(key="rk_dec_reason").input("外转率高")
    app.radio(key="rk_dec").set_value("include")
    app.button(key="FormSubmitter:rk_decide-记录决定").click().run()
    assert not app.exception
    app.button(key="rk_adopt").click().run()
    assert not app.exception
    assert any("下次评审" in s.value for s in app.success)
    assert any("不能再修改" in i.value for i in app.info)
    assert not [f for f in app.text_input if f.key == "rk_dec_reason"]  # no decision form
    assert not [b for b in app.button if b.key == "rk_adopt"]


def test_english_page_and_choices_kept_across_the_switch(app):
    as_role(app, "expert").run()
    app.switch_page(PAGE).run()
    app.radio(key="rk_method_zh").set_value("weighted_sum").run()
    app.session_state["lang"] = "en"  # the sidebar's language switch
    app.run()
    assert not app.exception
    assert any("Key-specialty" in t.value for t in app.title)
    assert app.radio(key="rk_method_en").value == "weighted_sum"
    assert any("higher = higher priority" in str(df.value.values) for df in app.dataframe)


def test_without_population_the_page_says_why_incidence_is_empty(app, demo_copy):
    """No population for the period: incidence is empty and weighs nothing; the page says
    so (a 10 M bench store without population showed "None" and 0 % unexplained)."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from healthmap import db

    as_role(app, "planner").run()
    app.switch_page(PAGE).run()
    assert not app.exception
    assert not [w for w in app.warning if "人口数" in w.value]  # the demo has population
    with Session(db.make_engine(demo_copy)) as s, s.begin():
        s.execute(text("DELETE FROM population"))
        db.bump_version(s)
    app.run()
    assert not app.exception
    assert [w for w in app.warning if "无法计算发病率" in w.value]
    assert app.dataframe[0].value["熵权"].iloc[0] == "0.0%"  # incidence: no weight
