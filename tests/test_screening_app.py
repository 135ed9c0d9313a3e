"""The screening pages through Streamlit's AppTest: each role that may open them, and roles
that may not (issue 12)."""

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from healthmap.db import make_engine
from healthmap.models import AuditLog

APP = str(Path(__file__).resolve().parent.parent / "app.py")
WORK = "pages/screening.py"
REPORT = "pages/screening_report.py"


# pages through AppTest run on SQLite; the app on PostgreSQL is covered by test_app.py and
# the board's browser test, the data on both back ends by the data tests
pytestmark = pytest.mark.sqlite_only


@pytest.fixture()
def app(demo_copy, monkeypatch):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_copy)
    return AppTest.from_file(APP, default_timeout=240)


def as_user(at, role, **scope):
    at.session_state["user"] = {"username": f"demo_{role}", "role": role, "demo": True,
                                **scope}
    return at


def audits(url, action):
    e = make_engine(url)
    with Session(e) as s:
        n = s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == action))
    e.dispose()
    return n


@pytest.mark.parametrize("role,scope", [
    ("screening", {"area_code": "331083101"}), ("family_doctor", {"area_code": "331083101",
                                                                  "team": "101-1组"}),
    ("expert", {}), ("admin", {})])
def test_work_page_for_each_role_that_may_open_it(app, demo_copy, role, scope):
    before = audits(demo_copy, "view_personal")
    as_user(app, role, **scope).run()
    app.switch_page(WORK).run()
    assert not app.exception, app.exception
    assert any("高危人群筛查" in t.value for t in app.title)
    lists = [df for df in app.dataframe if "身份证号" in df.value.columns]
    assert lists, "the high-risk list is shown"
    shown = lists[0].value
    assert shown["身份证号"].str.fullmatch(r"3399\*{13}[0-9X]").all()
    # coded values in Chinese too (sex, stage), not the stored codes
    assert set(shown["性别"]) <= {"男", "女"} and not shown["进度"].isin(
        ["flagged", "confirmed", "invited", "screened", "normal"]).any()
    if scope.get("area_code"):
        assert set(shown["乡镇"]) == {"楚门镇"}
    if scope.get("team"):
        assert set(shown["家庭医生团队"]) == {"101-1组"}
    after = audits(demo_copy, "view_personal")
    assert after == before + 2  # the high-risk list and the overdue list, once each
    app.run()  # a rerun of the same lists is not a new opening
    assert audits(demo_copy, "view_personal") == after
    app.switch_page(REPORT).run()  # away and back: a new visit opens the lists again
    app.switch_page(WORK).run()
    assert not app.exception, app.exception
    assert audits(demo_copy, "view_personal") == after + 2


@pytest.mark.parametrize("role", ["leader", "planner", "points", "data_manager"])
def test_work_page_refused_to_other_roles(app, role):
    as_user(app, role).run()
    app.switch_page(WORK).run()
    assert not app.exception
    assert any("无权" in w.value for w in app.warning)
    assert not app.dataframe


@pytest.mark.parametrize("role", ["leader", "planner", "screening", "expert"])
def test_report_page_shows_map_funnel_and_fees(app, role):
    as_user(app, role).run()
    app.switch_page(REPORT).run()
    assert not app.exception, app.exception
    charts = app.get("plotly_chart")
    assert len(charts) >= 3  # tier map, uptake funnel plot, uptake map
    tables = [df.value for df in app.dataframe]
    assert any("参与率 %" in t.columns for t in tables)
    assert any("减免（元）" in t.columns for t in tables)
    assert not any("身份证号" in t.columns or "姓名" in t.columns for t in tables)
    # every header in the user's language: no text key shows through
    assert not [c for t in tables for c in t.columns if str(c).startswith("screening.")]
    assert any({"高危", "无法评估", "非目标人群"} <= set(t.columns) for t in tables)
    if role == "leader":  # and in English, the rule set's name too
        app.session_state["lang"] = "en"
        app.run()
        assert not app.exception, app.exception
        tables = [df.value for df in app.dataframe]
        assert not [c for t in tables for c in t.columns if str(c).startswith("screening.")]
        assert any({"high risk", "cannot assess"} <= set(t.columns) for t in tables)
        assert "Colorectal cancer · v2024.1" in app.selectbox(key="scr_rep_set_en").options


def test_report_page_refused_to_points_staff(app):
    as_user(app, "points").run()
    app.switch_page(REPORT).run()
    assert any("无权" in w.value for w in app.warning) and not app.get("plotly_chart")


def test_expert_confirms_a_person_and_english_switch(app):
    as_user(app, "expert").run()
    app.switch_page(WORK).run()
    app.text_input(key="scr_reason").input("吸烟40包年，未做过低剂量CT")
    [b for b in app.button if "保存" in str(b.label)][0].click()
    app.run()
    assert not app.exception
    assert any("已保存" in s.value for s in app.success), [e.value for e in app.error]
    app.session_state["lang"] = "en"
    app.run()
    assert not app.exception
    assert any("High-risk screening" in t.value for t in app.title)
    shown = [df.value for df in app.dataframe if "ID number" in df.value.columns][0]
    assert set(shown["Sex"]) <= {"M", "F"} and "confirmed" in set(shown["Review"])


def test_staff_record_a_screening_with_its_reduction_and_a_bad_fee(app, demo_copy):
    as_user(app, "admin").run()
    app.switch_page(WORK).run()
    assert not app.exception
    saves = [b for b in app.button if "保存" in str(b.label)]
    app.text_input(key="scr_fee").input("abc")
    saves[-1].click()
    app.run()
    assert not app.exception
    assert any("费用应为非负金额" in e.value for e in app.error)
    app.text_input(key="scr_fee").input("260.00")
    [b for b in app.button if "保存" in str(b.label)][-1].click()
    app.run()
    assert not app.exception
    assert any("已保存" in s.value for s in app.success), [e.value for e in app.error]
