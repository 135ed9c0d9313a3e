"""What the points pages read: open screening invitations (through the screening module),
resident summaries, staff search in scope, planners' aggregates."""

import datetime as dt

from sqlalchemy.orm import Session

from healthmap.access import Actor, PermissionDenied
from healthmap.db import make_engine
from healthmap.points import ledger as L
from healthmap.points import views
from points_helpers import add_residents


def test_open_invitations_come_from_the_screening_records(demo_copy):
    from healthmap.screening import demo as screening_demo
    from healthmap.screening.records import states

    engine = make_engine(demo_copy)
    screening_demo.load(engine)
    with Session(engine) as s:
        st = states(s, "colorectal")
        waiting = st[st["invited_on"].notna() & st["screened_on"].isna()]["resident_id"]
        done = st[st["screened_on"].notna()]["resident_id"]
        assert len(waiting) and len(done)
        inv = views.open_invitations(s, waiting.iloc[0])
        assert "结直肠癌" in set(inv["target"]) and set(inv["fee_percent"]) == {30}
        screened = views.open_invitations(s, done.iloc[0], "en")
        assert "Colorectal cancer" not in set(screened["target"])
    engine.dispose()


def test_resident_summary_search_and_scope(engine):
    people = add_residents(engine).set_index("resident_id")
    staff = Actor("wang", "points")
    with Session(engine) as s, s.begin():
        L.award(s, staff, "R2", "annual_checkup", "a", dt.date(2024, 5, 1))
        L.award(s, staff, "R2", "vaccination", "b", dt.date(2024, 5, 1))
    with Session(engine) as s:
        me = views.resident_points(s, "R2", today=dt.date(2024, 6, 1))
    assert me.balance == 30 and me.earned_this_year == 30 and me.level.code == "member"
    r2 = people.loc["R2", "id_number"]
    assert me.id_masked == r2[:4] + "*" * 13 + r2[-1]  # decisions §4
    assert me.redeem.set_index("code").loc["health_kit", "can_redeem"]
    assert me.earn.set_index("code").loc["annual_checkup", "left_this_year"] == 0
    assert list(me.history["points"]) == [10, 20]  # newest first
    found = views.search_residents(engine, staff, "李四")
    assert list(found["resident_id"]) == ["R2"] and found["balance"].iloc[0] == 30
    assert "*" in found["phone"].iloc[0]  # points staff see a masked phone
    by_phone = views.search_residents(engine, staff, people.loc["R4", "phone"][-4:])
    assert list(by_phone["resident_id"]) == ["R4"]
    number = people.loc["R5", "id_number"]
    by_id = views.search_residents(engine, staff, number.lower())  # the whole number
    assert list(by_id["resident_id"]) == ["R5"]
    # shown only in the display form of decisions §4: region, 13 stars, check character
    assert list(by_id["id_masked"]) == [number[:4] + "*" * 13 + number[-1]]
    # the hidden sequence digits cannot be probed by searching a fragment of them
    assert views.search_residents(engine, staff, number[-4:]).empty
    assert views.search_residents(engine, staff, number[:17]).empty
    scoped = Actor("t", "points", area_code="331083001")  # R3 and R6 live there
    assert set(views.search_residents(engine, scoped, "张三")["resident_id"]) == set()
    assert set(views.search_residents(engine, scoped, "王五")["resident_id"]) == {"R3"}
    try:
        views.search_residents(engine, Actor("p", "planner"), "李四")
    except PermissionDenied:
        pass
    else:
        raise AssertionError("a planner may not search residents")


def test_planners_aggregates_hide_small_counts(engine):
    add_residents(engine, n=15)
    staff = Actor("wang", "points")
    with Session(engine) as s, s.begin():
        for i in range(1, 16):
            L.award(s, staff, f"R{i}", "health_lecture", f"l{i}", dt.date(2024, 5, 1))
    e = views.participation(engine, 2024)
    table = views.summarise(e, ["area_code"])
    assert table["suppressed"].sum() == 0 and list(table["residents"]) == [5, 5, 5]
    e2 = e[e["resident_id"].isin(["R1", "R2", "R3", "R4", "R5", "R6", "R7"])]
    t2 = views.summarise(e2, ["area_code"])
    assert t2["suppressed"].all()  # 2-3 residents per township: every cell hidden
    assert t2["residents"].isna().all() and t2["points"].isna().all()
