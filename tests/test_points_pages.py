"""The health-points pages through Streamlit's AppTest: staff desk, planners' overview and
the public self-lookup."""

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from healthmap.access import Actor
from healthmap.db import make_engine
from healthmap.points import ledger as L
from points_helpers import ROOT_DIR, add_residents

APP = f"{ROOT_DIR}/app.py"


# pages through AppTest run on SQLite; the app on PostgreSQL is covered by test_app.py and
# the board's browser test, the data on both back ends by the data tests
pytestmark = pytest.mark.sqlite_only


@pytest.fixture()
def db(demo_copy):
    """The demo database plus residents R1-R6 with known ID numbers; R2 has 40 points."""
    engine = make_engine(demo_copy)
    people = add_residents(engine, demo=True).set_index("resident_id")
    staff = Actor("demo_points", "points")
    with Session(engine) as s, s.begin():
        L.award(s, staff, "R2", "annual_checkup", "t-chk", dt.date(2025, 3, 1))
        L.award(s, staff, "R2", "family_doctor_contract", "t-fdc", dt.date(2025, 3, 2))
    engine.dispose()
    return demo_copy, people


def app_for(url, monkeypatch, role=None, page=None):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", url)
    at = AppTest.from_file(APP, default_timeout=180)
    if role:
        at.session_state["user"] = {"username": f"demo_{role}", "role": role, "demo": True}
    at.run()
    assert not at.exception, at.exception
    at.links = {link.value for link in at.sidebar.page_link}
    if page:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def texts(at):
    return " ".join(e.value for kind in ("error", "success", "info", "warning", "caption",
                                         "text") for e in getattr(at, kind))


def test_public_lookup_same_answer_for_unknown_id_and_wrong_name(db, monkeypatch):
    url, people = db
    at = app_for(url, monkeypatch, page="pages/points_lookup.py")
    assert "健康积分查询" in at.links and "积分登记" not in at.links

    def attempt(id_number, second, way="name"):
        at.text_input(key="pl_id").set_value(id_number)
        at.radio(key="pl_way").set_value(way)
        at.text_input(key="pl_second").set_value(second)
        at.button[0].click().run()
        assert not at.exception
        return [e.value for e in at.error]

    wrong_name = attempt(people.loc["R2", "id_number"], "不是我")
    from healthmap import ids

    unknown = attempt(ids.make_id("331083", dt.date(1980, 1, 1), 555), "李四")
    assert wrong_name == unknown and "不匹配" in wrong_name[0]
    assert attempt("123456", "李四") != unknown  # a malformed ID says so
    assert not at.metric  # nothing shown
    attempt(people.loc["R2", "id_number"], people.loc["R2", "phone"][-4:], way="phone")
    assert not at.error
    assert [m.value for m in at.metric][:1] == ["40"]
    assert "**" in texts(at)  # the masked ID number
    assert people.loc["R2", "id_number"] not in texts(at)
    assert len(at.table) == 2 and not at.dataframe  # history, what can be redeemed
    assert "每次" in texts(at)  # how to earn more


def test_public_lookup_is_throttled_across_reloads(db, monkeypatch):
    url, people = db
    number = people.loc["R3", "id_number"]
    for _ in range(5):
        at = app_for(url, monkeypatch, page="pages/points_lookup.py")  # a fresh session each time
        at.text_input(key="pl_id").set_value(number)
        at.text_input(key="pl_second").set_value("错误")
        at.button[0].click().run()
    at = app_for(url, monkeypatch, page="pages/points_lookup.py")
    at.text_input(key="pl_id").set_value(number)
    at.text_input(key="pl_second").set_value("王五")
    at.button[0].click().run()
    assert any("秒后再试" in e.value for e in at.error)
    assert not at.metric


def test_staff_search_record_redeem_reverse(db, monkeypatch):
    url, people = db
    at = app_for(url, monkeypatch, role="points", page="pages/points_staff.py")
    at.text_input(key="pts_query").set_value("李四").run()
    assert not at.exception
    assert at.selectbox(key="pts_resident").value == "R2"
    assert at.metric[0].value == "40"
    at.text_input(key="pts_query").set_value(people.loc["R2", "phone"][-4:]).run()
    assert at.selectbox(key="pts_resident").value == "R2"
    # record a lecture, then the same form again with the same source id: one entry
    at.button(key="FormSubmitter:pts_award-登记积分").click().run()
    assert not at.exception and any("已登记" in s.value for s in at.success)
    assert at.metric[0].value == "45"
    at.button(key="FormSubmitter:pts_redeem-确认兑换").click().run()  # bp_monitor costs 200
    assert any("积分不足" in e.value for e in at.error) and at.metric[0].value == "45"
    at.text_input(key="pts_query").set_value("李四").run()
    boxes = [b for b in at.selectbox if b.label == "兑换项目"]
    boxes[0].set_value("health_kit")
    at.button(key="FormSubmitter:pts_redeem-确认兑换").click().run()
    assert at.metric[0].value == "15"
    at.button(key="FormSubmitter:pts_reverse-确认冲正").click().run()  # no reason: refused
    assert any("冲正需要填写原因" in e.value for e in at.error)
    [t for t in at.text_input if t.label == "冲正原因（必填）"][0].set_value("未领取")
    at.button(key="FormSubmitter:pts_reverse-确认冲正").click().run()
    assert not at.exception and at.metric[0].value == "45"  # the redemption reversed
    with make_engine(url).connect() as conn:
        kinds = [k for (k,) in conn.execute(text(
            "SELECT kind FROM points_ledger WHERE resident_id='R2' ORDER BY id"))]
        audited = conn.execute(text("SELECT count(*) FROM audit_log WHERE action="
                                    "'view_personal' AND target='resident:R2'")).scalar()
    assert kinds[:4] == ["award", "award", "award", "redeem"] and kinds[-1] == "reversal"
    assert audited >= 1


def test_family_doctor_records_but_cannot_redeem_and_others_are_refused(db, monkeypatch):
    url, _ = db
    at = app_for(url, monkeypatch, role="family_doctor", page="pages/points_staff.py")
    at.text_input(key="pts_query").set_value("王五").run()
    assert not at.exception
    labels = {b.label for b in at.selectbox}
    assert "活动" in labels and "兑换项目" not in labels
    at = app_for(url, monkeypatch, role="planner", page="pages/points_staff.py")
    assert any("无权" in w.value for w in at.warning) and not at.metric


def test_import_tab_offers_the_template(db, monkeypatch):
    """The import itself is tested through the same function in test_points_cli."""
    url, _ = db
    at = app_for(url, monkeypatch, role="points", page="pages/points_staff.py")
    assert any(b.label == "下载模板" for b in at.get("download_button"))


def test_planners_page_map_and_tables_are_aggregates_only(db, monkeypatch):
    url, _ = db
    at = app_for(url, monkeypatch, role="planner", page="pages/points_planning.py")
    assert len(at.get("plotly_chart")) == 2
    assert at.metric[0].label == "参与居民"
    frames = [d.value for d in at.dataframe]
    assert frames and "姓名" not in " ".join(str(c) for f in frames for c in f.columns)
    at.selectbox(key="pp_year").set_value(2024).run()
    assert not at.exception
    at = app_for(url, monkeypatch, role="family_doctor", page="pages/points_planning.py")
    assert any("无权" in w.value for w in at.warning) and not at.get("plotly_chart")


def _attempt(url, monkeypatch, id_number, second):
    """One look-up from a fresh page load (a new browser session: a reload)."""
    at = app_for(url, monkeypatch, page="pages/points_lookup.py")
    at.text_input(key="pl_id").set_value(id_number)
    at.text_input(key="pl_second").set_value(second)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_public_lookup_counts_the_client_address_across_reloads(db, monkeypatch):
    """Five failures from one address on five different ID numbers, each after a reload:
    the sixth attempt from that address waits, even with the right name for a fresh ID;
    another address is not affected."""
    import ui

    url, people = db
    monkeypatch.setattr(ui, "client_address", lambda: "203.0.113.9")
    for rid in ("R1", "R3", "R4", "R5", "R6"):
        at = _attempt(url, monkeypatch, people.loc[rid, "id_number"], "错误")
        assert any("不匹配" in e.value for e in at.error)
    at = _attempt(url, monkeypatch, people.loc["R2", "id_number"], "李四")
    assert any("秒后再试" in e.value for e in at.error) and not at.metric
    monkeypatch.setattr(ui, "client_address", lambda: "198.51.100.4")
    at = _attempt(url, monkeypatch, people.loc["R2", "id_number"], "李四")
    assert not at.error and [m.value for m in at.metric][:1] == ["40"]


def test_public_lookup_shows_an_open_screening_invitation_with_the_reduction(db, monkeypatch):
    """The page shows what :func:`views.open_invitations` (tested on the screening records
    in test_points_views) returns: target, date and the fee reduction."""
    import pandas as pd

    from healthmap.points import views

    url, people = db
    seen = []

    def invitations(session, resident_id, lang="zh"):
        seen.append(resident_id)
        return pd.DataFrame([{"target": "结直肠癌", "invited_on": dt.date(2025, 7, 2),
                              "fee_percent": 30}])

    monkeypatch.setattr(views, "open_invitations", invitations)
    at = _attempt(url, monkeypatch, people.loc["R2", "id_number"], "李四")
    assert seen == ["R2"]  # asked only about the person who proved who they are
    info = " ".join(i.value for i in at.info)
    assert "结直肠癌" in info and "2025-07-02" in info and "30%" in info
    number = people.loc["R2", "id_number"]
    assert f"{number[:4]}{'*' * 13}{number[-1]}" in texts(at)  # decisions §4 display form
    assert number[-4:] not in texts(at)
