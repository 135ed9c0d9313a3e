"""What a report reads on every call besides its answer (issue 14, report queries at 10 M):
the reference rows (areas, population, the episode store's join tables) are read once per
data version and kept with their engine (healthmap.refcache), and read again after an
import or a data-version bump; the period label's data years come from the store's
manifest (no scan of the episodes). Hand-made rows, answers worked out by hand."""

import datetime as dt
import gc
import weakref

import numpy as np
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from healthmap import indicators, persons, refcache, store
from healthmap.db import bump_version
from healthmap.ingest import import_file
from healthmap.queries import Filters

TODAY = dt.date(2025, 6, 30)
INST = "code,name,level,in_county,area_code,region\nH1,玉环市人民医院,tertiary,true,,玉环\n"
HEAD = "record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost,sex,age\n"
EPISODES = HEAD + (
    "A1,P1,331083001,C16.9,2024-03-01,inpatient,H1,100,M,66\n"
    "A2,P2,331083001,C16.9,2024-04-01,inpatient,H1,100,F,58\n"
    "A3,P1,331083001,C16.9,2024-05-01,inpatient,H1,100,M,66\n"  # P1 again: one person
    "A4,P3,331083002,C16.9,2023-05-01,inpatient,H1,100,F,70\n")


@pytest.fixture()
def held(engine):
    assert import_file(engine, "institutions", INST.encode(), "i.csv", today=TODAY).ok
    res = import_file(engine, "episodes", EPISODES.encode(), "e.csv", today=TODAY)
    assert res.ok, res.problems
    return engine


def _reads(engine) -> list[str]:
    """The SQL statements ``engine`` runs from now on."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _conn, _cur, statement, *_a: seen.append(statement))
    return seen


def test_no_module_level_state():
    mutable = {name: type(v).__name__ for name, v in vars(refcache).items()
               if not name.startswith("__")
               and (isinstance(v, (dict, set, list)) or type(v).__name__ == "lock")}
    assert mutable == {}


def test_reference_rows_are_read_once_per_data_version(held):
    first = refcache.snapshot(held).area_set("township")
    reads = _reads(held)
    again = refcache.snapshot(held).area_set("township")
    assert again.areas["code"].tolist() == first.areas["code"].tolist()
    assert not [r for r in reads if "FROM areas" in r]  # held: only the version was read
    # a write that changes what pages show bumps the version: the rows are read again
    with Session(held) as s:
        s.execute(text("UPDATE areas SET name = '新名镇' WHERE code = '331083001'"))
        bump_version(s)
        s.commit()
    now = refcache.snapshot(held).area_set("township")
    assert now.areas.set_index("code").loc["331083001", "name"] == "新名镇"
    assert [r for r in reads if "FROM areas" in r]


def test_a_repeated_report_reads_no_reference_table_again(held):
    pop = b"area_code,year,population,sex,age_group\n331083001,2024,1000,,\n"
    assert import_file(held, "population", pop, "pop.csv", today=TODAY).ok
    f = Filters(years=(2024,))
    first = {m: indicators.report(held, m, f) for m in ("incidence", "outward_referral")}
    reads = _reads(held)
    for m, table in first.items():
        assert indicators.report(held, m, f).equals(table)
    tables = ("areas", "population", "institutions", "icd3_groups")
    assert not [r for r in reads for t in tables if f"FROM {t}" in r]


def test_each_caller_gets_its_own_copy(held):
    s = refcache.snapshot(held)
    mine = s.area_set("township")
    mine.areas.loc[0, "name"] = "x"
    mine.up.clear()
    pop = s.population_rows()
    pop["persons"] = 1
    fresh = refcache.snapshot(held).area_set("township")
    assert fresh.areas.loc[0, "name"] != "x" and fresh.up


def test_the_cache_goes_with_its_engine(held):
    from healthmap.db import make_engine

    other = make_engine(str(held.url))
    refcache.snapshot(other).area_set("township")
    assert refcache.cache(other) is refcache.cache(other)
    assert refcache.cache(other) is not refcache.cache(held)
    gone = weakref.ref(refcache.cache(other))
    other.dispose()
    del other
    gc.collect()
    assert gone() is None


def test_store_join_tables_follow_the_data_version(held):
    def in_county():
        return store.query(held, "SELECT in_county FROM institutions WHERE code = 'H1'"
                           )["in_county"].tolist()

    assert in_county() == [True]
    reads = _reads(held)
    assert in_county() == [True]
    assert not [r for r in reads if "FROM institutions" in r]  # held with its version
    with Session(held) as s:
        s.execute(text("UPDATE institutions SET in_county = false WHERE code = 'H1'"))
        bump_version(s)
        s.commit()
    assert in_county() == [False]


def test_the_report_sees_a_population_and_an_areas_import(held):
    f = Filters(years=(2024,))
    before = indicators.report(held, "incidence", f)
    row = before.set_index("area_code").loc["331083001"]
    assert row["numerator"] == 2 and row["denominator"] == 0 and np.isnan(row["value"])
    pop = b"area_code,year,population,sex,age_group\n331083001,2024,1000,,\n"
    assert import_file(held, "population", pop, "pop.csv", today=TODAY).ok
    after = indicators.report(held, "incidence", f).set_index("area_code")
    # 2 persons (P1 twice, P2) in 1,000 person-years: 200 per 100,000
    assert after.loc["331083001", "denominator"] == 1000
    assert after.loc["331083001", "value"] == pytest.approx(200.0)
    village = "code,name,level,parent_code\n331083001901,东门村,village,331083001\n".encode()
    assert "331083001901" not in indicators.report(held, "incidence", Filters(
        years=(2024,), level="village"))["area_code"].tolist()
    assert import_file(held, "areas", village, "a.csv", today=TODAY).ok
    assert "331083001901" in indicators.report(held, "incidence", Filters(
        years=(2024,), level="village"))["area_code"].tolist()


def test_period_label_reads_the_years_from_the_manifest(held):
    def labels():
        cur = store.connect(held)
        try:
            assert cur.execute("SELECT min(year), max(year) FROM store_years").fetchone() \
                == cur.execute("SELECT min(year), max(year) FROM episodes").fetchone()
            return (persons.first_data_year(cur), persons.period_label(cur, (2024,), 1),
                    persons.period_label(cur, (2023, 2024), 1),
                    persons.period_label(cur, (), 2))
        finally:
            cur.close()

    assert labels() == (2023, ("new", ()), ("diagnosed", (2023,)),
                        ("diagnosed", (2023, 2024)))
    older = HEAD + "A5,P4,331083002,C16.9,2022-02-01,inpatient,H1,100,F,70\n"
    assert import_file(held, "episodes", older.encode(), "e2.csv", today=TODAY).ok
    assert labels() == (2022, ("new", ()), ("new", ()), ("diagnosed", (2022, 2023)))
