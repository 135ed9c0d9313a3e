"""Summary tables equal aggregates computed directly from the raw episodes."""

import pandas as pd
from sqlalchemy import create_engine, select

from healthmap import queries
from healthmap.models import Institution
from healthmap.reference import cached_disease_groups, icd3_to_group
from healthmap.summary import summarise_year


def _raw_episodes(e) -> pd.DataFrame:
    """Every episode with its institution's in/out-of-county flag, straight from the
    episode store's files (money back in yuan)."""
    from healthmap import store

    raw = store.query(e, "SELECT * EXCLUDE (total_cost_fen, fund_paid_fen), "
                         "total_cost_fen / 100 AS total_cost, fund_paid_fen / 100 AS fund_paid "
                         "FROM episodes").astype({"year": "int64", "month": "int64"})
    inst = pd.read_sql(select(Institution.code, Institution.in_county), e)
    return raw.merge(inst, left_on="institution_code", right_on="code")


def test_summaries_equal_raw_aggregates(demo_db):
    e = create_engine(demo_db)
    raw = _raw_episodes(e)
    cells = queries.rollup(e, "cells")
    # totals by year × area × setting × in/out of county
    keys = ["year", "area_code", "setting", "in_county"]
    got = cells.groupby(keys)[["episodes", "cost_sum", "fund_sum"]].sum()
    exp = raw.assign(episodes=1, cost_sum=raw["total_cost"],
                     fund_sum=raw["fund_paid"].fillna(0)).groupby(keys)[
        ["episodes", "cost_sum", "fund_sum"]].sum()
    pd.testing.assert_frame_equal(got.sort_index(), exp.sort_index(), check_dtype=False,
                                  rtol=1e-9)
    # new cases: distinct persons with a first diagnosis per disease group, year and area
    mapping = icd3_to_group(cached_disease_groups())
    raw["group"] = raw["icd3"].map(mapping).fillna("ICD:" + raw["icd3"])
    first = raw.sort_values(["date", "record_id"]).drop_duplicates(["person_id", "group", "year"])
    exp_new = first.groupby(["year", "group"]).size()
    cells["group"] = cells["icd3"].map(mapping).fillna("ICD:" + cells["icd3"])
    got_new = cells.groupby(["year", "group"])["new_cases"].sum()
    got_new = got_new[got_new > 0]
    pd.testing.assert_series_equal(got_new.sort_index(), exp_new.sort_index(), check_names=False,
                                   check_dtype=False)
    # persons: distinct persons per year
    assert cells.groupby("year")["persons"].sum().to_dict() == \
        raw.groupby("year")["person_id"].nunique().to_dict()
    # institution summary
    si = queries.rollup(e, "institutions")
    assert si.groupby("institution_code")["episodes"].sum().sort_index().tolist() == \
        raw.groupby("institution_code").size().sort_index().tolist()


def test_first_episode_flags_by_hand():
    """The flags as the roll-ups count them (summarise_year's SQL, the one the imports
    run): each episode in an area of its own, so each area's cells hold one episode and
    their ``new_cases`` / ``persons`` sums are that episode's flags."""
    ep = pd.DataFrame({"record_id": ["a", "b", "c", "d", "e"], "person_id": ["p", "p", "p", "q", "q"],
                       "icd3": ["C18", "C19", "I10", "C18", "X99"],
                       "date": ["2024-03-01", "2024-01-05", "2024-02-01", "2024-05-01", "2024-05-01"]})
    ep = ep.assign(area_code=["A1", "A2", "A3", "A4", "A5"],
                   month=pd.to_datetime(ep["date"]).dt.month, setting="inpatient",
                   institution_code="H1", total_cost=10.0, fund_paid=None,
                   insurance_type="resident", referral=None, sex="F", age_group="60-64")
    cells = pd.concat(t.to_pandas() for t in summarise_year(
        ep, 2024, {"C18": "CRC", "C19": "CRC", "I10": "HT"}, {"H1": True})["cells"])
    by_area = cells.groupby("area_code")[["new_cases", "persons"]].sum()
    flags = by_area.reindex(["A1", "A2", "A3", "A4", "A5"])
    assert flags["new_cases"].tolist() == [0, 1, 1, 1, 1]
    assert flags["persons"].tolist() == [0, 1, 0, 1, 0]


def test_area_rollup_equals_raw_and_answers_the_same(demo_db):
    from healthmap.db import make_engine

    e = create_engine(demo_db)
    raw = _raw_episodes(e)
    areas = queries.rollup(e, "areas")
    keys = ["year", "area_code", "sex", "age_group", "setting", "in_county"]
    got = areas.groupby(keys)[["episodes", "cost_sum"]].sum()
    exp = raw.assign(episodes=1, cost_sum=raw["total_cost"]).groupby(keys)[
        ["episodes", "cost_sum"]].sum()
    pd.testing.assert_frame_equal(got.sort_index(), exp.sort_index(), check_dtype=False,
                                  rtol=1e-9)
    # the query layer gives the same sums from either table
    engine = make_engine(demo_db)
    f = queries.Filters(years=(2023,), month_from=1, month_to=12, setting="inpatient")
    assert queries._area_rollup_answers(f, ["area_code", "age_group"], None)
    fast = queries.cells(engine, f, ["area_code", "age_group"])
    frame = queries.load_cells_frame(engine, (2023,))
    slow = queries.cells(engine, f, ["area_code", "age_group"], frame=frame)
    m = fast.merge(slow, on=["area_code", "age_group"], suffixes=("", "_cells"))
    assert len(m) == len(fast) == len(slow)
    for c in queries.MEASURES:  # sums of squares reach 1e11: compare relatively
        pd.testing.assert_series_equal(m[c], m[f"{c}_cells"], check_names=False,
                                       check_dtype=False, rtol=1e-12)
    assert not queries._area_rollup_answers(
        queries.Filters(years=(2023,), month_from=3, month_to=5), ["area_code"], None)
    assert not queries._area_rollup_answers(f, ["area_code"], ["C16"])


def test_roll_ups_of_an_import_equal_a_full_rebuild(demo_copy):
    """An import builds its years' roll-ups from the file's rows and the held ones;
    rebuilding every year from the store (``refresh``) must give exactly the same files'
    content, money to the fen."""
    from healthmap import summary
    from healthmap.db import make_engine

    e = make_engine(demo_copy)

    def snapshot(name):
        df = queries.rollup(e, name)
        return df.sort_values(list(df.columns)).reset_index(drop=True)

    before = {name: snapshot(name) for name in ("cells", "areas", "institutions")}
    years = summary.rebuild(e, "test")
    assert years == queries.periods(e)
    for name, df in before.items():
        pd.testing.assert_frame_equal(df, snapshot(name), check_exact=True)
    e.dispose()


def test_migration_0003_upgrades_a_filled_database_without_loss(demo_copy):
    """Down to 0002 (the schema that shipped before) and up again: the new roll-up and the
    widened institution summary are rebuilt from what the database holds."""
    from alembic import command
    from sqlalchemy import inspect

    from healthmap.db import alembic_config, make_engine, upgrade

    from healthmap import store

    e = make_engine(demo_copy)
    n_episodes = store.live_manifest(e).rows
    cfg = alembic_config()
    with e.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")  # 0012's downgrade puts the episodes back in a table
    assert int(pd.read_sql("SELECT COUNT(*) n FROM episodes", e)["n"].iloc[0]) == n_episodes
    cols = {c["name"] for c in inspect(e).get_columns("summary_institutions")}
    assert "sex" not in cols and not inspect(e).has_table("summary_areas")
    cells_before = queries.rollup(e, "cells", by=["year", "area_code"])
    upgrade(e)  # 0003 rebuilds the SQL summaries; 0012 moves episodes and roll-ups to the store
    for table in ("episodes", "summary_cells", "summary_areas", "summary_institutions"):
        assert not inspect(e).has_table(table)  # in the store only
    from healthmap.store.layout import PENDING

    assert not (store.engine_store_dir(e) / PENDING).exists()  # made live by the upgrade
    if e.dialect.name == "sqlite":  # the dropped tables' space given back
        with e.connect() as c:
            assert c.exec_driver_sql("PRAGMA freelist_count").scalar() == 0
    assert store.live_manifest(e).rows == n_episodes
    si = queries.rollup(e, "institutions")
    assert {"sex", "age_group", "insurance_type"} <= set(si.columns)
    assert int(si["episodes"].sum()) == n_episodes
    areas = queries.rollup(e, "areas")
    assert int(areas["episodes"].sum()) == n_episodes
    pd.testing.assert_frame_equal(queries.rollup(e, "cells", by=["year", "area_code"]),
                                  cells_before, check_exact=True)
    e.dispose()


def test_flows_from_the_cached_frame_equal_the_sql_answer(demo_db):
    from healthmap import queries
    from healthmap.db import make_engine

    e = make_engine(demo_db)
    frame = queries.load_institution_frame(e, (2024,))
    keys = ["area_code", "institution_code"]
    for f in (queries.Filters(years=(2024,)),
              queries.Filters(years=(2024,), sex="F", groups=("C_STOMACH",)),
              queries.Filters(years=(2024,), month_from=2, month_to=5, insurance=("resident",),
                              age_groups=("70-74",))):
        icd3 = queries.selected_icd3(e, f)
        sql = queries.institution_cells(e, f, icd3).sort_values(keys).reset_index(drop=True)
        mem = queries.institution_cells(e, f, icd3, frame=frame).sort_values(keys).reset_index(
            drop=True)
        pd.testing.assert_frame_equal(sql, mem, check_dtype=False, check_categorical=False,
                                      rtol=1e-9)
    e.dispose()
