"""Screening storage (issue 12 step 4): assessments with version and input snapshot,
append-only events, state transitions, permissions and scope, audited lists and exports,
bulk result import, funnel and fee totals. On a private copy of the demo database."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from healthmap import access, ledger
from healthmap.db import make_engine
from healthmap.models import AuditLog, Resident
from healthmap.screening import records, views
from healthmap.screening.models import ScreeningAssessment, ScreeningEvent, ScreeningRun
from healthmap.screening.records import TransitionError
from healthmap.screening.results_import import import_results

AS_OF = dt.date(2025, 6, 30)
TODAY = dt.date(2025, 9, 1)
ADMIN = access.Actor("t_admin", "admin")
STAFF = access.Actor("t_staff", "screening")
EXPERT = access.Actor("t_expert", "expert")
LEADER = access.Actor("t_leader", "leader")


@pytest.fixture()
def db(demo_copy):
    engine = make_engine(demo_copy)
    with Session(engine) as s, s.begin():
        records.run_assessment(s, STAFF, "lung", as_of=AS_OF)
    yield engine
    engine.dispose()


def flagged(engine, n=3, township=None):
    with Session(engine) as s:
        st = records.states(s, "lung")
        people = records.residents_frame(s, township)
    # flagged by the test's assessment and untouched by the demo's screening events
    st = st[st["eligible"].map(records.is_true) & st["review"].isna()].merge(
        people, on="resident_id")
    return st.sort_values("resident_id").head(n).to_dict("records")


def audit_count(engine, action):
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == action))


def test_assessment_stores_version_and_snapshot_of_inputs(db):
    with Session(db) as s:
        run = s.scalars(select(ScreeningRun).where(ScreeningRun.ruleset_id == "lung",
                                                   ScreeningRun.as_of == AS_OF)).one()
        n_res = s.scalar(select(func.count()).select_from(Resident))
        a = s.scalars(select(ScreeningAssessment).where(
            ScreeningAssessment.eligible.is_(True),
            ScreeningAssessment.run_id == run.run_id)).first()
    assert (run.ruleset_id, run.ruleset_version, run.as_of) == ("lung", "2024.1", AS_OF)
    assert run.n_assessed == n_res and run.ruleset_fingerprint
    assert a.ruleset_version == "2024.1" and set(a.inputs) >= {"birth_date", "copd"}
    assert "birth_date" in a.inputs and "name" not in a.inputs
    # a later import overwrites risk factors in place; the snapshot keeps what was used
    before = dict(a.inputs)
    with Session(db) as s, s.begin():
        r = s.get(Resident, a.resident_id)
        r.risk_factors = {**(r.risk_factors or {}), "copd": not r.risk_factors.get("copd")}
    with Session(db) as s:
        assert s.get(ScreeningAssessment, a.id).inputs == before


def test_scoped_staff_assess_only_their_township(db):
    nurse = access.Actor("t_nurse", "screening", area_code="331083003")
    with Session(db) as s, s.begin():
        out = records.run_assessment(s, nurse, "diabetes", as_of=AS_OF)
    assert out["scope"] == "township=331083003"
    with Session(db) as s:
        areas = set(s.scalars(select(ScreeningAssessment.area_code).where(
            ScreeningAssessment.run_id == out["run_id"])))
    assert areas == {"331083003"}
    with Session(db) as s, pytest.raises(access.PermissionDenied):
        records.run_assessment(s, nurse, "diabetes", township="331083001")
    with Session(db) as s, pytest.raises(access.PermissionDenied):
        records.run_assessment(s, LEADER, "diabetes")


def test_the_whole_path_and_the_fee_reduction(db):
    p = flagged(db, 1)[0]
    rid = p["resident_id"]
    with Session(db) as s, s.begin():
        records.record_review(s, EXPERT, "lung", rid, "confirmed", "40 pack-years, no CT yet",
                              date=dt.date(2025, 7, 1))
        records.record_invitation(s, STAFF, "lung", rid, date=dt.date(2025, 7, 2))
        records.record_screening(s, STAFF, "lung", rid, dt.date(2025, 7, 20), "YH001",
                                 "123.45", source_id="LDCT-1")
        records.record_reduction(s, STAFF, "lung", rid, "LDCT-1", date=dt.date(2025, 7, 20))
        records.record_result(s, STAFF, "lung", rid, "abnormal", date=dt.date(2025, 7, 25))
        records.record_result(s, STAFF, "lung", rid, "diagnosed", date=dt.date(2025, 8, 10))
    with Session(db) as s:
        st = records.states(s, "lung", [rid]).iloc[0]
        fees = views.fee_totals(s, LEADER, "lung")
    fees = fees[fees["month"] == "2025-07"]  # the demo's own screenings are earlier
    assert (st["review"], st["result"], st["fee_fen"]) == ("confirmed", "diagnosed", 12345)
    # 30 % of 123.45 yuan = 37.035 → 37.04 yuan (3704 fen, half up), owed to YH001 for July
    assert st["reduction_fen"] == 3704
    row = fees.iloc[0]
    assert (row["institution_code"], row["month"], row["reductions"]) == ("YH001", "2025-07", 1)
    assert (row["fee_fen"], row["reduction_fen"]) == (12345, 3704)
    assert str(row["reduction_yuan"]) == "37.04"
    assert records.stage(st.to_dict()) == "diagnosed"


@pytest.mark.parametrize("steps,bad,reason", [
    ([], ("invited", {}), "not_confirmed"),
    ([("review", {"decision": "confirmed", "reason": "ok"})],
     ("result", {"result": "diagnosed"}), "not_screened"),  # no diagnosed without screening
    ([("review", {"decision": "confirmed", "reason": "ok"}), ("invited", {})],
     ("result", {"result": "diagnosed"}), "not_screened"),  # invited → diagnosed: refused
    ([("review", {"decision": "confirmed", "reason": "ok"})],
     ("screened", {"institution_code": "YH001", "fee_fen": 100}), "not_invited"),
    ([("review", {"decision": "excluded", "reason": "already had a CT in 2024"})],
     ("invited", {}), "not_confirmed"),
    ([], ("review", {"decision": "confirmed", "reason": " "}), "reason_required"),
    ([], ("review", {"decision": "maybe", "reason": "x"}), "bad_decision"),
    ([("review", {"decision": "confirmed", "reason": "ok"}), ("invited", {})],
     ("screened", {"institution_code": "NOPE", "fee_fen": 100}), "unknown_institution"),
])
def test_transitions_are_validated(db, steps, bad, reason):
    rid = flagged(db, 1)[0]["resident_id"]
    with Session(db) as s, s.begin():
        for i, (kind, fields) in enumerate(steps):
            records.record_events(s, ADMIN, [dict(kind=kind, ruleset_id="lung",
                                                  resident_id=rid, date=dt.date(2025, 7, 1 + i),
                                                  source_id=f"s{i}", **fields)], today=TODAY)
    with Session(db) as s, pytest.raises(TransitionError) as err:
        records.record_events(s, ADMIN, [dict(kind=bad[0], ruleset_id="lung", resident_id=rid,
                                              date=dt.date(2025, 7, 20), source_id="bad",
                                              **bad[1])], today=TODAY)
    assert [p["reason"] for p in err.value.problems] == [reason]


def test_review_only_for_flagged_and_reduction_only_once_for_confirmed(db):
    with Session(db) as s:
        st = records.states(s, "lung")
    not_flagged = st[~st["eligible"].map(records.is_true)]["resident_id"].iloc[0]
    with Session(db) as s, pytest.raises(TransitionError, match="not flagged"):
        records.record_review(s, EXPERT, "lung", not_flagged, "confirmed", "x")
    rid = flagged(db, 1)[0]["resident_id"]
    with Session(db) as s, s.begin():
        records.record_review(s, EXPERT, "lung", rid, "confirmed", "ok", date=AS_OF)
        records.record_invitation(s, STAFF, "lung", rid, date=AS_OF)
        records.record_screening(s, STAFF, "lung", rid, AS_OF, "YH001", 200, source_id="S1")
        records.record_reduction(s, STAFF, "lung", rid, "S1")
        # the same reduction again (same source id): an idempotent no-op
        again = records.record_reduction(s, STAFF, "lung", rid, "S1")
    assert (again.inserted, again.unchanged) == (0, 1)
    with Session(db) as s, pytest.raises(TransitionError, match="already has its fee"):
        records.record_reduction(s, STAFF, "lung", rid, "S1", source_id="other-id")
    with Session(db) as s, pytest.raises(TransitionError, match="not recorded"):
        records.record_reduction(s, STAFF, "lung", rid, "S-unknown")
    # an expert excludes the person later: no further reduction
    with Session(db) as s, s.begin():
        records.record_review(s, EXPERT, "lung", rid, "excluded", "CT last year")
        records.record_screening(s, STAFF, "lung", rid, AS_OF, "YH001", 200, source_id="S2")
    with Session(db) as s, pytest.raises(TransitionError, match="not confirmed"):
        records.record_reduction(s, STAFF, "lung", rid, "S2")


def test_events_are_append_only(db):
    rid = flagged(db, 1)[0]["resident_id"]
    with Session(db) as s, s.begin():
        records.record_review(s, EXPERT, "lung", rid, "confirmed", "ok", source_id="R-1")
    with Session(db) as s, pytest.raises(ledger.LedgerConflict):
        records.record_review(s, EXPERT, "lung", rid, "excluded", "changed", source_id="R-1")
    for table in ("screening_events", "screening_assessments", "screening_runs"):
        with db.begin() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(text(f"UPDATE {table} SET id = id"))
        with db.begin() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(text(f"DELETE FROM {table}"))


def test_permissions_and_scope(db):
    p = flagged(db, 1)[0]
    rid, town, team = p["resident_id"], p["township"], p["doctor_team"]
    other = "331083001" if town != "331083001" else "331083002"
    with Session(db) as s, pytest.raises(TransitionError, match="may not record"):
        records.record_review(s, STAFF, "lung", rid, "confirmed", "ok")  # staff ≠ expert
    with Session(db) as s, pytest.raises(TransitionError, match="may not record"):
        records.record_review(s, LEADER, "lung", rid, "confirmed", "ok")
    with Session(db) as s, s.begin():
        records.record_review(s, EXPERT, "lung", rid, "confirmed", "ok")
    far_nurse = access.Actor("t_far", "screening", area_code=other)
    with Session(db) as s, pytest.raises(TransitionError, match="outside the user's township"):
        records.record_invitation(s, far_nurse, "lung", rid)
    other_team = access.Actor("t_doc2", "family_doctor", area_code=town, team="no-such-team")
    with Session(db) as s, pytest.raises(TransitionError, match="outside the user's township"):
        records.record_invitation(s, other_team, "lung", rid)
    own_doc = access.Actor("t_doc", "family_doctor", area_code=town, team=team)
    with Session(db) as s, s.begin():
        assert records.record_invitation(s, own_doc, "lung", rid).inserted == 1


def test_personal_list_is_scoped_masked_and_audited(db):
    nurse = access.Actor("t_nurse", "screening", area_code="331083101")
    before = audit_count(db, "view_personal")
    with Session(db) as s, s.begin():
        lst = views.person_list(s, nurse, "lung", lang="en", today=TODAY)
    assert audit_count(db, "view_personal") == before + 1
    assert len(lst) and set(lst["township"]) == {"楚门镇"}
    assert lst["id_number"].str.fullmatch(r"3399\*{13}[0-9X]").all()
    assert lst["reasons"].str.contains("China 2021 lung").all()
    with Session(db) as s:
        full = records.residents_frame(s)
    # stored in the display form too: no sequence digits anywhere (decisions §4)
    assert full["id_masked"].str.fullmatch(r"3399\*{13}[0-9X]").all()
    p = flagged(db, 1, "331083101")[0]
    doc = access.Actor("t_doc", "family_doctor", area_code="331083101", team=p["doctor_team"])
    with Session(db) as s, s.begin():
        mine = views.person_list(s, doc, "lung", today=TODAY)
    assert set(mine["doctor_team"]) == {p["doctor_team"]}
    with Session(db) as s, pytest.raises(access.PermissionDenied):
        views.person_list(s, LEADER, "lung")
    with Session(db) as s, pytest.raises(access.PermissionDenied):
        views.person_list(s, nurse, "lung", township="331083001")


def test_export_for_a_team_is_excel_masked_and_audited(db):
    p = flagged(db, 1)[0]
    doc = access.Actor("t_doc", "family_doctor", area_code=p["township"], team=p["doctor_team"])
    before = audit_count(db, "export")
    with Session(db) as s, s.begin():
        data, name = views.export_list(s, doc, "lung", today=TODAY)
    assert audit_count(db, "export") == before + 1
    assert name.endswith(".xlsx") and p["doctor_team"] in name
    book = pd.read_excel(io.BytesIO(data), sheet_name=None)
    sheet = book["lung"]
    assert p["resident_id"] in set(sheet["resident_id"])
    assert sheet["id_number"].str.fullmatch(r"3399\*{13}[0-9X]").all()
    assert "导出信息" in book  # stamped: who exported it and when


def _results_csv(rows):
    head = "source_id,resident_id,ruleset,screened_date,institution_code,fee,result,reduction\n"
    return (head + "".join(",".join(map(str, r)) + "\n" for r in rows)).encode("utf-8")


def test_bulk_import_all_or_nothing_every_bad_row_named_and_idempotent(db):
    ps = flagged(db, 3)
    with Session(db) as s, s.begin():
        for p in ps:
            records.record_review(s, EXPERT, "lung", p["resident_id"], "confirmed", "ok",
                                  date=AS_OF)
            records.record_invitation(s, STAFF, "lung", p["resident_id"], date=AS_OF)
    good = [("X1", ps[0]["resident_id"], "lung", "2025-07-10", "YH001", "150.00", "normal",
             "true"),
            ("X2", ps[1]["resident_id"], "lung", "2025-07-11", "YH002", "99.99", "异常", "")]
    bad = good + [("X3", "R-NOBODY", "lung", "2025-07-12", "YH001", "10", "", ""),
                  ("X4", ps[2]["resident_id"], "lung", "2025-07-12", "YH001", "-5", "", ""),
                  ("X5", ps[2]["resident_id"], "lung", "2025-13-01", "YH001", "5", "", ""),
                  ("X1", ps[2]["resident_id"], "lung", "2025-07-12", "YH001", "5", "", "")]
    with Session(db) as s, s.begin():
        out = import_results(s, STAFF, _results_csv(bad), "results.csv", lang="en",
                             today=TODAY)
    assert not out.ok
    assert out.problems["line"].tolist() == [4, 5, 6, 7]
    assert "no such resident" in out.problems["reason"].iloc[0]
    with Session(db) as s:
        assert s.scalar(select(func.count()).select_from(ScreeningEvent).where(
            ScreeningEvent.source_id.like("X%"))) == 0  # nothing written
    with Session(db) as s, s.begin():
        first = import_results(s, STAFF, _results_csv(good), "results.csv", today=TODAY)
    with Session(db) as s, s.begin():
        second = import_results(s, STAFF, _results_csv(good), "results.csv", today=TODAY)
    assert first.ok and first.inserted == 5  # 2 screenings, 2 results, 1 reduction
    assert second.ok and (second.inserted, second.unchanged) == (0, 5)
    with Session(db) as s:
        fees = views.fee_totals(s, LEADER)
    assert fees.loc[fees["month"] == "2025-07", "reduction_fen"].sum() == 4500  # 30 % of 150
    # an unconfirmed person's reduction is refused by line
    rid = flagged(db, 4)[3]["resident_id"]
    with Session(db) as s, s.begin():
        out = import_results(s, STAFF, _results_csv(
            [("X9", rid, "lung", "2025-07-10", "YH001", "10", "", "true")]), "r.csv",
            lang="en", today=TODAY)
    assert not out.ok
    assert set(out.problems["reason"]) == {"no invitation recorded",
                                           "not confirmed by an expert review"}


def test_funnel_and_tier_counts(db):
    ps = flagged(db, 2)
    with Session(db) as s:
        before = views.funnel(s, LEADER, "lung").set_index("area_code")
    with Session(db) as s, s.begin():
        for p in ps:
            records.record_review(s, EXPERT, "lung", p["resident_id"], "confirmed", "ok")
            records.record_invitation(s, STAFF, "lung", p["resident_id"])
        records.record_screening(s, STAFF, "lung", ps[0]["resident_id"], dt.date.today(),
                                 "YH001", 100, source_id="F1")
        records.record_result(s, STAFF, "lung", ps[0]["resident_id"], "abnormal")
    with Session(db) as s:
        f = views.funnel(s, LEADER, "lung")
        tiers = views.tier_counts(s, LEADER, "lung")
    county = f[f["area_code"] == "county"].iloc[0]
    delta = county[list(views.FUNNEL_STEPS)] - before.loc["county", list(views.FUNNEL_STEPS)]
    assert delta[["confirmed", "invited", "screened", "abnormal", "diagnosed"]].tolist() \
        == [2, 2, 1, 1, 0]
    steps = list(views.FUNNEL_STEPS)
    assert (county[steps].diff().dropna() <= 0).all()  # each step a subset of the one before
    assert county["uptake_pct"] == pytest.approx(100 * county["screened"] / county["invited"])
    assert county["uptake_level"] in ("below_acceptable", "acceptable", "achievable")
    assert tiers["assessed"].sum() == county["assessed"]
    assert tiers["high_risk"].sum() == county["high_risk"] == tiers["high"].sum()
    with Session(db) as s, pytest.raises(access.PermissionDenied):
        views.funnel(s, access.Actor("t_points", "points"), "lung")
    up = views.uptake_table(f)
    assert len(up) == 11 and set(up.columns) >= {"value", "numerator", "denominator"}


def test_reduction_dated_before_its_screening_is_refused(db):
    """The reduction is totalled by its month (what finance owes): it cannot precede the
    screening it refers to; on the screening's day it is accepted."""
    rid = flagged(db, 1)[0]["resident_id"]
    with Session(db) as s, s.begin():
        records.record_review(s, EXPERT, "lung", rid, "confirmed", "ok", date=dt.date(2025, 7, 1))
        records.record_invitation(s, STAFF, "lung", rid, date=dt.date(2025, 7, 2))
        records.record_screening(s, STAFF, "lung", rid, dt.date(2025, 8, 1), "YH001", "200.00",
                                 source_id="S-AUG")
    with Session(db) as s, pytest.raises(TransitionError) as err:
        records.record_reduction(s, STAFF, "lung", rid, "S-AUG", date=dt.date(2025, 7, 31))
    assert [p["reason"] for p in err.value.problems] == ["before_screening"]
    with Session(db) as s, s.begin():
        records.record_reduction(s, STAFF, "lung", rid, "S-AUG", date=dt.date(2025, 8, 1))
    with Session(db) as s:
        fees = views.fee_totals(s, LEADER, "lung")
    aug = fees[(fees["month"] == "2025-08") & (fees["institution_code"] == "YH001")]
    # 30 % of 200.00 yuan = 60.00 yuan = 6000 fen (the demo has no August 2025 screenings)
    assert aug[["reductions", "fee_fen", "reduction_fen"]].iloc[0].tolist() == [1, 20000, 6000]


def test_abnormal_then_normal_work_up_stays_in_the_funnel(db):
    """The funnel counts abnormal screenings: an abnormal result followed by a normal
    work-up is still one abnormal (and no diagnosed); the list shows the latest result."""
    rid = flagged(db, 1)[0]["resident_id"]
    with Session(db) as s:
        before = views.funnel(s, LEADER, "lung").set_index("area_code").loc["county"]
    with Session(db) as s, s.begin():
        records.record_review(s, EXPERT, "lung", rid, "confirmed", "ok", date=dt.date(2025, 7, 1))
        records.record_invitation(s, STAFF, "lung", rid, date=dt.date(2025, 7, 2))
        records.record_screening(s, STAFF, "lung", rid, dt.date(2025, 7, 10), "YH001", 100,
                                 source_id="W1")
        records.record_result(s, STAFF, "lung", rid, "abnormal", date=dt.date(2025, 7, 15))
        records.record_result(s, STAFF, "lung", rid, "normal", date=dt.date(2025, 8, 1))
    with Session(db) as s:
        after = views.funnel(s, LEADER, "lung").set_index("area_code").loc["county"]
        st = records.states(s, "lung", [rid]).iloc[0]
    delta = after[list(views.FUNNEL_STEPS)] - before[list(views.FUNNEL_STEPS)]
    assert delta[["confirmed", "invited", "screened", "abnormal", "diagnosed"]].tolist() \
        == [1, 1, 1, 1, 0]
    assert st["result"] == "normal" and st["abnormal_on"] == dt.date(2025, 7, 15)
    assert pd.isna(st["diagnosed_on"])


def _overdue_of(engine, rid, today):
    with Session(engine) as s, s.begin():
        lst = views.person_list(s, ADMIN, "lung", which="overdue", today=today)
    row = lst[lst["resident_id"] == rid]
    return row["overdue"].iloc[0] if len(row) else ""


def test_overdue_follow_ups_at_their_deadlines(db):
    """settings.yaml: invited and not screened within 90 days, or an abnormal result
    without a follow-up within 30 days, is overdue (day 90 / 30 not yet, the next day
    overdue); a later result clears it."""
    a, b = (p["resident_id"] for p in flagged(db, 2))
    with Session(db) as s, s.begin():
        for rid in (a, b):
            records.record_review(s, EXPERT, "lung", rid, "confirmed", "ok",
                                  date=dt.date(2025, 6, 30))
            records.record_invitation(s, STAFF, "lung", rid, date=dt.date(2025, 7, 1))
        records.record_screening(s, STAFF, "lung", b, dt.date(2025, 7, 10), "YH001", 100,
                                 source_id="O1")
        records.record_result(s, STAFF, "lung", b, "abnormal", date=dt.date(2025, 7, 15))
    # 2025-07-01 + 90 days = 2025-09-29
    assert _overdue_of(db, a, dt.date(2025, 9, 29)) == ""
    assert _overdue_of(db, a, dt.date(2025, 9, 30)) == "invitation"
    # 2025-07-15 + 30 days = 2025-08-14
    assert _overdue_of(db, b, dt.date(2025, 8, 14)) == ""
    assert _overdue_of(db, b, dt.date(2025, 8, 15)) == "abnormal_follow_up"
    with Session(db) as s, s.begin():
        records.record_result(s, STAFF, "lung", b, "diagnosed", date=dt.date(2025, 8, 20))
    assert _overdue_of(db, b, dt.date(2025, 9, 1)) == ""


def test_a_family_doctor_runs_a_rule_set_for_their_team_only(db):
    p = flagged(db, 1)[0]
    doc = access.Actor("t_doc", "family_doctor", area_code=p["township"], team=p["doctor_team"])
    with Session(db) as s, s.begin():
        out = records.run_assessment(s, doc, "diabetes", as_of=AS_OF)
    assert out["scope"] == f"township={p['township']};team={p['doctor_team']}"
    with Session(db) as s:
        teams = set(s.scalars(select(ScreeningAssessment.doctor_team).where(
            ScreeningAssessment.run_id == out["run_id"])))
        n_team = len(records.residents_frame(s, p["township"], p["doctor_team"], risk=False))
    assert teams == {p["doctor_team"]} and out["assessed"] == n_team > 0
    with Session(db) as s, pytest.raises(access.PermissionDenied):
        records.run_assessment(s, doc, "diabetes", team="another-team")
