"""Catalogue drafts: snapshot, decisions (append-only), adoption (frozen at the database),
permissions, history independent of the live disease groups; the indicator table on the
demo data."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlalchemy.orm import Session

from healthmap import catalogue, ranking_data, store
from healthmap.access import Actor, PermissionDenied
from healthmap.catalogue import CatalogueError
from healthmap.db import make_engine
from healthmap.models import AuditLog, DiseaseGroup, Icd3Group

PLANNER = Actor("demo_planner", "planner")
EXPERT = Actor("demo_expert", "expert")
LEADER = Actor("demo_leader", "leader")


def _table() -> pd.DataFrame:
    """A small indicator table shaped like ranking_data.group_indicators's output."""
    rng = np.random.default_rng(11)
    specs = [("GI_SURG", "胃肠外科", "GI surgery"), ("CARDIO", "心血管内科", "Cardiology"),
             ("RESP", "呼吸内科", "Respiratory"), ("ONCO", "肿瘤科", "Oncology")]
    rows = []
    for i in range(10):
        code, zh, en = specs[i % 4]
        n = int(rng.integers(5, 400))
        ep = int(n * 3)
        out = int(ep * rng.uniform(0.1, 0.6))
        rows.append(dict(group_code=f"G{i}", name_zh=f"病组{i}", name_en=f"Group {i}",
                         icd_ranges=f"C{i:02d}", specialty_code=code, specialty_zh=zh,
                         specialty_en=en, new_cases=float(n), population=438000.0,
                         incidence=n / 438000 * 1e5, asr=n / 438000 * 0.9e5,
                         episodes=float(ep), out_episodes=float(out),
                         outward_referral=out / ep * 100, cost_per_case=1234.565 * (i + 1),
                         cost_in_county=1000.0 * (i + 1), cost_out_county=2000.0 * (i + 1),
                         fund_outflow=out * 800.25, trend=1.5, unstable=n < 20,
                         case_basis="new" if i else "diagnosed", lookback=1))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def ranked():
    table = _table()
    res = ranking_data.rank_groups(table, runs=100, top_n=3,
                                   persons=pd.Series({"GI_SURG": 300, "CARDIO": 500,
                                                      "RESP": 200, "ONCO": 100}))
    return (2024,), table, res


def _save(e, res, years, name="2025 草案", actor=PLANNER):
    return catalogue.save_draft(
        e, actor, name, years=years, setting="inpatient", method="topsis",
        criteria=ranking_data.DEFAULT_CRITERIA, weights=res["weights"],
        weight_source="entropy", entropy_weights=res["entropy"], groups=res["groups"],
        specialties=res["specialties"], top_n=5, runs=100, seed=1)


def test_indicator_table_on_demo_data(demo_db):
    e = make_engine(demo_db)
    years = (max(ranking_data.queries.periods(e)),)
    table = ranking_data.group_indicators(e, years)
    res = ranking_data.rank_groups(table, runs=100, top_n=5,
                                   persons=ranking_data.specialty_persons(e, years))
    assert table["group_code"].is_unique
    has = table[table["episodes"] > 0]
    assert (has["outward_referral"].between(0, 100)).all()
    # cost per case over in- and out-of-county episodes lies between the two
    both = has.dropna(subset=["cost_in_county", "cost_out_county"])
    lo = np.minimum(both["cost_in_county"], both["cost_out_county"]) - 1e-6
    hi = np.maximum(both["cost_in_county"], both["cost_out_county"]) + 1e-6
    assert both["cost_per_case"].between(lo, hi).all()
    assert (table["unstable"] == (table["new_cases"] < 20)).all()
    assert table.loc[table["new_cases"] > 0, "incidence"].gt(0).all()
    # new cases by hand from the episodes of one group (issue 9 item 1): persons with a
    # lung episode in the year, any setting, and none in the year before their first one
    # (the episodes of this year and the one before from the episode store, grouped in
    # pandas with the database's grouping and specialties)
    e = make_engine(demo_db)
    with e.connect() as conn:
        group_of = dict(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)).all())
        specialty_of = dict(conn.execute(select(DiseaseGroup.group_code,
                                                DiseaseGroup.specialty_code)).all())
    ep = store.query(e, "SELECT person_id, icd3, date, year FROM episodes WHERE year >= ?",
                     [years[0] - 1])
    e.dispose()
    ep["group_code"] = ep["icd3"].map(group_of)
    ep["date"] = pd.to_datetime(ep["date"])

    def new_cases(rows):
        starts = rows[rows["year"] == years[0]].groupby("person_id")["date"].min().rename("s")
        before = rows.merge(starts, left_on="person_id", right_index=True)
        seen = before.loc[(before["date"] < before["s"])
                          & (before["date"] >= before["s"] - pd.DateOffset(years=1)),
                          "person_id"]
        return len(starts) - seen.nunique()

    n = new_cases(ep[ep["group_code"] == "C_LUNG"])
    assert table.set_index("group_code").at["C_LUNG", "new_cases"] == n
    # the specialty's new cases: its groups' codes as one set, each person once
    gi = ep[ep["group_code"].map(specialty_of) == "GI_SURG"]
    gi_groups = table[table["specialty_code"] == "GI_SURG"]["new_cases"]
    persons = new_cases(gi)
    assert ranking_data.specialty_persons(make_engine(demo_db), years)["GI_SURG"] == persons
    assert persons < gi_groups.sum()  # the sum counts persons with two GI groups twice
    # ranking output: every ranked group has a tier, entropy weights sum to 1
    g = res["groups"]
    assert g["tier"].isin(["high", "middle", "low"]).all()
    assert sum(res["entropy"].values()) == pytest.approx(1.0)
    spec = res["specialties"]
    assert spec["specialty_code"].is_unique and spec["persons"].notna().all()


def test_draft_decide_adopt_and_frozen(engine, ranked):
    years, _, res = ranked
    did = _save(engine, res, years)
    snap = catalogue.snapshot_groups(engine, did)
    assert len(snap) == len(res["groups"])
    top = res["groups"].iloc[0]
    assert snap.iloc[0]["group_code"] == top["group_code"]
    # money is stored in integer fen: 1234.565 yuan -> 123457 fen -> 1234.57 yuan
    assert snap.iloc[0]["cost_per_case"] == pytest.approx(top["cost_per_case"], abs=0.005)
    with engine.connect() as conn:
        fen = conn.execute(text("SELECT cost_per_case_fen FROM catalogue_groups WHERE "
                                "draft_id = :i AND group_code = 'G0'"), {"i": did}).scalar()
    assert fen == 123457
    with pytest.raises(CatalogueError, match="exists"):
        _save(engine, res, years)
    spec = res["specialties"]["specialty_code"].tolist()
    with pytest.raises(CatalogueError, match="no specialty is included"):
        catalogue.adopt(engine, PLANNER, did)
    catalogue.decide(engine, EXPERT, did, spec[0], "watch", "先观察")
    catalogue.decide(engine, EXPERT, did, spec[0], "include", "发病多、外转多")
    catalogue.decide(engine, PLANNER, did, spec[1], "exclude", "已是省级重点专科")
    with pytest.raises(CatalogueError, match="reason"):
        catalogue.decide(engine, EXPERT, did, spec[2], "include", "  ")
    with pytest.raises(CatalogueError, match="not in draft"):
        catalogue.decide(engine, EXPERT, did, "NOPE", "include", "x")
    ent = catalogue.entries(engine, did).set_index("specialty_code")
    assert ent.at[spec[0], "decision"] == "include" and ent.at[spec[1], "decision"] == "exclude"
    assert pd.isna(ent.at[spec[2], "decision"])
    hist = catalogue.decision_history(engine, did)
    assert hist["decision"].tolist() == ["watch", "include", "exclude"]  # nothing overwritten
    # append-only at the database already while a draft: no decision edited or removed,
    # and the snapshot neither
    for sql in ("UPDATE catalogue_decisions SET decision = 'exclude' WHERE draft_id = :i",
                "DELETE FROM catalogue_decisions WHERE draft_id = :i",
                "UPDATE catalogue_groups SET score = 1 WHERE draft_id = :i",
                "DELETE FROM catalogue_specialties WHERE draft_id = :i"):
        with pytest.raises(DatabaseError):
            with engine.begin() as conn:
                conn.execute(text(sql), {"i": did})
    assert catalogue.decision_history(engine, did).equals(hist)
    # each decision is in the audit log with who decided and what
    with engine.connect() as conn:
        logged = conn.execute(select(AuditLog.actor, AuditLog.detail).where(
            AuditLog.action == "catalogue.decide", AuditLog.target == f"catalogue:{did}")
            .order_by(AuditLog.id)).all()
    assert [tuple(r) for r in logged] == [("demo_expert", f"{spec[0]}=watch"),
                                          ("demo_expert", f"{spec[0]}=include"),
                                          ("demo_planner", f"{spec[1]}=exclude")]

    when = dt.datetime(2025, 3, 1, 10, 0)
    assert catalogue.adopt(engine, LEADER, did, now=when) == dt.date(2028, 3, 1)
    cur = catalogue.current(engine, today=dt.date(2026, 1, 1))
    assert cur["id"] == did and cur["review_due"] == dt.date(2028, 3, 1) and not cur["overdue"]
    assert catalogue.current(engine, today=dt.date(2028, 3, 2))["overdue"]
    # refused by the module ...
    with pytest.raises(CatalogueError, match="adopted"):
        catalogue.decide(engine, EXPERT, did, spec[2], "include", "补充")
    with pytest.raises(CatalogueError, match="adopted already"):
        catalogue.adopt(engine, PLANNER, did)
    # ... and by the database itself, whoever writes
    with pytest.raises(DatabaseError, match="cannot be changed"):
        with engine.begin() as conn:
            conn.execute(text("UPDATE catalogue_drafts SET method = 'weighted_sum' "
                              "WHERE id = :i"), {"i": did})
    with pytest.raises(DatabaseError, match="cannot be changed"):
        with engine.begin() as conn:
            conn.execute(text("UPDATE catalogue_drafts SET status = 'draft' WHERE id = :i"),
                         {"i": did})
    for sql in ("DELETE FROM catalogue_drafts WHERE id = :i",
                "UPDATE catalogue_groups SET score = 1 WHERE draft_id = :i",
                "DELETE FROM catalogue_decisions WHERE draft_id = :i",
                "UPDATE catalogue_specialties SET rank = 1 WHERE draft_id = :i"):
        with pytest.raises(DatabaseError):
            with engine.begin() as conn:
                conn.execute(text(sql), {"i": did})
    with pytest.raises(DatabaseError, match="cannot be changed"):
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO catalogue_decisions (source_id, draft_id, specialty_code, "
                "decision, reason, decided_by, decided_at) VALUES ('x', :i, :s, 'include', "
                "'r', 'sql', '2025-03-02 00:00:00')"), {"i": did, "s": spec[2]})
    assert catalogue.decision_history(engine, did)["decision"].tolist() == [
        "watch", "include", "exclude"]
    actions = set(pd.read_sql(select(AuditLog.action), engine)["action"])
    assert {"catalogue.draft", "catalogue.decide", "catalogue.adopt"} <= actions


def test_a_draft_changes_only_by_adoption(engine, ranked):
    years, _, res = ranked
    did = _save(engine, res, years, name="改权重试试")
    with pytest.raises(DatabaseError):
        with engine.begin() as conn:
            conn.execute(text("UPDATE catalogue_drafts SET weights = '{}' WHERE id = :i"),
                         {"i": did})
    with pytest.raises(DatabaseError):
        with engine.begin() as conn:
            conn.execute(text("UPDATE catalogue_drafts SET status = 'adopted', name = 'x' "
                              "WHERE id = :i"), {"i": did})
    assert catalogue.draft(engine, did)["status"] == "draft"


def test_permissions(engine, ranked):
    years, _, res = ranked
    for who in (EXPERT, LEADER, Actor("s", "screening"), Actor("anonymous", None)):
        with pytest.raises(PermissionDenied):
            _save(engine, res, years, actor=who)
    did = _save(engine, res, years)
    code = res["specialties"]["specialty_code"].iloc[0]
    with pytest.raises(PermissionDenied):
        catalogue.decide(engine, LEADER, did, code, "include", "r")
    catalogue.decide(engine, EXPERT, did, code, "include", "r")
    with pytest.raises(PermissionDenied):
        catalogue.adopt(engine, EXPERT, did)
    assert catalogue.drafts(engine).iloc[0]["included"] == 1


def test_history_survives_disease_groups_being_replaced(engine, ranked):
    years, _, res = ranked
    old = _save(engine, res, years, name="2022-2024 目录")
    code = res["specialties"]["specialty_code"].iloc[0]
    catalogue.decide(engine, EXPERT, old, code, "include", "r")
    catalogue.adopt(engine, PLANNER, old, now=dt.datetime(2022, 1, 10))
    before = catalogue.snapshot_groups(engine, old)
    # what `init` does when the shipped file changes: delete and re-insert every group
    with Session(engine) as s, s.begin():
        s.execute(delete(Icd3Group))
        s.execute(delete(DiseaseGroup))
        s.add(DiseaseGroup(group_code="NEW", name_zh="新分组", name_en="New", icd_ranges="A00",
                           specialty_code="X", specialty_zh="新专科", specialty_en="New"))
    pd.testing.assert_frame_equal(catalogue.snapshot_groups(engine, old), before)
    # a later catalogue is compared with the earlier one per specialty
    new = _save(engine, res, years, name="2025-2027 目录")
    catalogue.decide(engine, EXPERT, new, code, "exclude", "已达标")
    catalogue.adopt(engine, PLANNER, new, now=dt.datetime(2025, 1, 10)) \
        if (catalogue.entries(engine, new)["decision"] == "include").any() else None
    cmp = catalogue.compare(engine, old, new).set_index("specialty_code")
    assert cmp.at[code, "decision_a"] == "include" and cmp.at[code, "decision_b"] == "exclude"
    assert bool(cmp.at[code, "changed"])
    assert set(catalogue.drafts(engine)["name"]) == {"2022-2024 目录", "2025-2027 目录"}
    assert catalogue.current(engine)["id"] == old  # the new one is not adopted


def test_excel_export_has_a_sheet_per_specialty_and_the_method(engine, ranked):
    import io

    from healthmap import catalogue_export

    years, _, res = ranked
    did = _save(engine, res, years, name="=HYPERLINK(\"x\")")  # formula-looking name
    code = res["specialties"]["specialty_code"].iloc[0]
    catalogue.decide(engine, EXPERT, did, code, "include", "发病多")
    data = catalogue_export.workbook(engine, did, "demo_planner")
    book = pd.read_excel(io.BytesIO(data), sheet_name=None)
    names = list(book)
    assert names[0] == "方法与权重" and names[1] == "专科汇总"
    spec = res["specialties"]
    per_spec = [n for n in names if n[:2].isdigit()]
    assert len(per_spec) == len(spec)
    first = book[per_spec[0]]
    top = spec.iloc[0]
    assert per_spec[0].endswith(top["specialty_zh"])
    assert len(first) == top["n_groups"] and "外转率（%）" in first.columns
    # each group's case count says what it is (G0 was saved as diagnosed cases)
    every = book["全部病种"].set_index("病种代码")
    assert every.at["G0", "病例口径"] == "就诊病例（数据不足回顾期，不是发病）"
    assert every.at["G1", "病例口径"] == "新发病例（回顾 1 年）"
    method = book["方法与权重"].astype(str)
    assert method.apply(lambda c: c.str.contains("熵权")).any().any()
    assert not method.iloc[:, 1].str.startswith("=").any()  # no formula from the name
    assert book["专科汇总"].iloc[0]["决定"] == "纳入"
    assert "导出信息" in names
    en = pd.read_excel(io.BytesIO(catalogue_export.workbook(engine, did, "u", "en")),
                       sheet_name=None)
    assert list(en)[:2] == ["Method and weights", "Specialties"]


def test_migration_0007_downgrades_and_upgrades_again(engine):
    from alembic import command
    from sqlalchemy import inspect

    from healthmap import db

    cfg = db.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert not inspect(engine).has_table("catalogue_drafts")
    db.upgrade(engine)
    names = set(inspect(engine).get_table_names())
    assert {"catalogue_drafts", "catalogue_groups", "catalogue_specialties",
            "catalogue_decisions"} <= names
    from tests.dbutil import trigger_names

    with engine.connect() as conn:
        triggers = trigger_names(conn, "catalogue%")
    assert ({"catalogue_drafts_frozen", "catalogue_drafts_no_delete",
             "catalogue_decisions_no_update", "catalogue_decisions_adopted"}
            if engine.dialect.name == "sqlite" else
            {"catalogue_drafts_guard", "catalogue_decisions_no_change",
             "catalogue_decisions_adopted"}) <= triggers
