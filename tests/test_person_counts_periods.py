"""Periods of several years from the person counts (healthmap/person_counts.py, the key
``earlier``): each person once, in the row of their first year in the period (in the
selected setting), new as on their first date of the period in any setting, which may
lie in an earlier year of the period than their first row of the setting. The hand-made
episodes of tests/test_person_rollup_years.py with the answers worked out there, now
asked of the counts, and a person whose index date lies five years before their first
stay; the selections the counts must leave to the per-person roll-up; many periods of the
demo data (consecutive or not, any or one setting) against the live query on the
episodes; a store whose counts are of the format before the key (the mask ``before``)
gets them computed again at upgrade."""

import random

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from healthmap import (person_counts, person_counts_query, person_rollup, persons, store,
                       summary_increment)
from healthmap.db import make_engine
from healthmap.queries import Filters, Selection
from tests.test_person_counts import count, counted
from tests.test_person_rollup import connection, demo_store
from tests.test_person_rollup_years import YEARS

# P6: pneumonia seen as an outpatient in 2017 and 2019, first admitted in 2024
DEEP = YEARS + [
    ("f0", "P6", "A", "J18", "2017-08-01", "outpatient"),
    ("f1", "P6", "B", "J18", "2019-05-01", "outpatient"),
    ("f2", "P6", "C", "J18", "2024-02-01", "inpatient"),
]


def test_first_year_of_the_period_from_the_counts():
    # the hand-worked answers of 2023-2024 are asked of the counts (and of the other two
    # paths) in test_person_rollup_years; here: the counts answer them, and longer periods
    con = counted(YEARS)
    kw = dict(years=(2023, 2024), setting=None)
    assert count(con, ("I10",), 1, **kw) == 3  # count() checks the counts answer
    assert count(con, None, 1, by=("group_code",), **kw) == {
        ("HYPERTENSION",): 3, ("PNEUMONIA",): 2}
    # P4 and P5 (pneumonia, 2023 and 2024) are each one person of the period, in the
    # area of their 2023 episode
    assert count(con, ("J18",), 0, by=("area_code",), **kw) == {("A",): 1, ("C",): 1}
    # 2022-2024: P2's first year is 2022 (new: nothing before it), P3's 2023 row has a
    # 2021 row two years before, outside the period: P3 counts in 2023
    kw3 = dict(years=(2022, 2023, 2024), setting=None)
    assert count(con, ("I10",), 0, by=("area_code",), **kw3) == {("A",): 2, ("B",): 1}
    assert count(con, ("I10",), 2, **kw3) == 3  # 2021-01-10: before 2023-12-31 - 2 years
    assert count(con, ("I10",), 3, **kw3) == 2  # but within 3 years of it
    # every year of the data: each person once, at their first year
    kw4 = dict(years=(2021, 2022, 2023, 2024), setting=None)
    assert count(con, None, 0, by=("group_code",), **kw4) == {
        ("HYPERTENSION",): 3, ("PNEUMONIA",): 2}
    # the rows by year are each year's own counts (no person is dropped for a gap)
    assert count(con, ("I10",), 0, by=("year",), **kw) == {(2023,): 2, (2024,): 2}
    # years that are not consecutive: 2022 and 2024; P5's 2023 episode lies between,
    # within a year before 2024-02-01, so P5 is not new; P2's first year is 2022
    apart = dict(kw, years=(2022, 2024))
    assert count(con, ("J18",), 1, **apart) == 0
    assert count(con, ("I10",), 0, by=("area_code",), **apart) == {("A",): 1, ("B",): 1}
    # new with one year: P2 (nothing before 2022-11-01); not P1, whose first year of the
    # period is 2024 and whose 2023-03-01 lies exactly one year before 2024-03-01
    assert count(con, ("I10",), 1, **apart) == 1
    # inpatients of 2023-2024 (as worked out in test_person_rollup_years): P4 in the area
    # of the first stay (A, 2024), new from the 2023 outpatient visit's date; P5 in its
    # 2023 row only
    inpatient = dict(kw, setting="inpatient")
    assert count(con, ("J18",), 1, by=("area_code",), **inpatient) == {("A",): 2}
    assert count(con, None, 1, by=("area_code",), **inpatient) == {
        ("A",): 3, ("B",): 1, ("C",): 1}
    # outpatients: only P4 (2023, area C), new; diagnosed by group
    outpatient = dict(kw, setting="outpatient")
    assert count(con, ("J18",), 1, by=("area_code",), **outpatient) == {("C",): 1}
    assert count(con, None, 0, by=("group_code",), **outpatient) == {("PNEUMONIA",): 1}


def test_index_date_years_before_the_first_stay():
    # period 2019 + 2024, inpatients, pneumonia: P4 (2024-06-01, A) and P5 (2024-02-01,
    # B) were both seen within a year before (2023-06-01); P6's first stay is 2024-02-01
    # (C) but their index date is 2019-05-01 (outpatient, in the period): new with one
    # year (2017-08-01 lies before 2018-05-01), not with two (it lies after 2017-05-01).
    # From 2024-02-01 P6 would be new with two and three years: the answer needs 2019's
    # look-back, which reads 2017, seven years before the row's year
    kw = dict(years=(2019, 2024), setting="inpatient")
    # the counts (checked to answer), the per-person roll-up, the live query
    for con, ask in ((counted(DEEP), count), (connection(DEEP, True), _count),
                     (connection(DEEP, False), _count)):
        assert ask(con, ("J18",), 0, by=("area_code",), **kw) == {
            ("A",): 1, ("B",): 1, ("C",): 1}
        assert ask(con, ("J18",), 1, by=("area_code",), **kw) == {("C",): 1}
        assert ask(con, ("J18",), 2, **kw) == 0
        assert ask(con, ("J18",), 5, **kw) == 0
        # every setting: P6 lies in their 2019 row (B), the index date the same
        assert ask(con, ("J18",), 1, by=("area_code",), years=(2019, 2024),
                   setting=None) == {("B",): 1}
        # 2024 alone: P6 is new with three years (2019-05-01 is before 2021-02-01)
        assert ask(con, ("J18",), 3, years=(2024,), setting="inpatient") == 1


def _count(con, codes, lookback=0, by=(), **kw):
    """persons.cases on a connection without the counts."""
    out = persons.cases(con, Selection(Filters(**kw), codes), by=by, lookback=lookback)
    if not by:
        return int(out["persons"].iloc[0]) if len(out) else 0
    return dict(zip(map(tuple, out[list(by)].values.tolist()), out["persons"]))


def test_what_the_counts_leave_to_the_per_person_rollup():
    con = counted(YEARS)

    def planned(years, setting=None, lookback=0, referral=False):
        sel = Selection(Filters(years=years, setting=setting), ("I10",))
        rows = person_rollup.code_set(con, sel, [])
        return person_counts_query.plan(con, sel, [], rows, lookback, referral=referral)

    assert planned((2023, 2024)) == ("HYPERTENSION",)
    assert planned((2022, 2024)) == ("HYPERTENSION",)  # not consecutive
    assert planned((2023, 2024), "inpatient", 1) == ("HYPERTENSION",)  # one setting
    assert planned((2021, 2024), "outpatient", 5) == ("HYPERTENSION",)
    assert planned((2024,), "inpatient", 1) == ("HYPERTENSION",)
    assert planned((2019, 2024)) == ("HYPERTENSION",)  # five years apart: the reach
    assert planned((2023, 2024), referral=True) is None  # not additive over years
    assert planned(tuple(range(2018, 2025))) is None  # longer than the look-back reach
    assert planned((2018, 2024)) is None
    # what the counts leave is answered as before, the same as on the live path
    sel = Selection(Filters(years=(2018, 2024), setting=None), ("J18",))
    # (P4 and P5 of 2024 were both seen in 2023, within a year)
    assert persons.cases(con, sel, (), 1)["persons"].tolist() == [0]
    assert persons.cases(con, sel, (), 0)["persons"].tolist() == [2]


def test_periods_of_the_demo_data_equal_the_live_query(demo_db):
    con, groups, years = demo_store(demo_db)
    rng = random.Random(11)
    periods = [tuple(years[i:j]) for i in range(len(years))
               for j in range(i + 2, len(years) + 1)]
    periods += [(years[0], years[-1]), tuple(years[::2])]  # years not consecutive
    assert len(years) > 2  # the demo spans several years
    asked = nonzero = 0
    for period in periods:
        for _ in range(4):
            icd3 = None
            if rng.random() < 0.6:
                icd3 = tuple(sorted(rng.choice(groups)[1]))
            f = Filters(years=period, setting=rng.choice([None, "inpatient", "outpatient"]),
                        sex=rng.choice([None, None, "F"]),
                        age_groups=rng.choice([(), (), ("60-64", "65-69")]))
            sel = Selection(f, icd3)
            by = rng.choice([(), ("area_code",), ("age_group",), ("sex", "area_code")])
            lookback = rng.choice([0, 1, 2, 3, 5])
            unit = [k for k in persons.UNIT_KEYS if k in by]
            rows = person_rollup.code_set(con, sel, unit)
            assert person_counts_query.plan(con, sel, unit, rows, lookback) is not None
            got = persons.cases(con, sel, by, lookback)
            want = persons._live_cases(con, sel, list(by), unit, lookback)
            pd.testing.assert_frame_equal(got, want.astype({"persons": int}),
                                          check_dtype=False)
            asked += 1
            nonzero += bool(len(got))
    assert nonzero > asked // 2
    con.close()


def test_counts_of_the_older_format_are_computed_again_at_upgrade(demo_copy):
    # a store of the format before the key ``earlier``: counts with ``before``, and a
    # per-person roll-up without ``settings``
    engine = make_engine(demo_copy)
    root = store.engine_store_dir(engine)
    manifest = store.live_manifest(engine)
    files = manifest.rollup_files(person_counts.TABLE)
    sql = ("SELECT year, group_code, setting, area_code, sex, age_group, sum(persons), "
           "sum(new_1) FROM rollup_person_counts GROUP BY ALL ORDER BY ALL")
    want = store.connect(engine).execute(sql).fetchall()
    last = max(manifest.years)
    inpatients = Selection(Filters(years=(last - 1, last), setting="inpatient"), None)
    want_cases = persons.cases(store.connect(engine), inpatients, ("area_code",), 1)
    for f in files:
        t = pq.read_table(root / f).to_pandas()
        keys = [k for k in person_counts.KEYS if k != person_counts.EARLIER]
        old = t.drop(columns=person_counts.EARLIER).groupby(
            keys, as_index=False, observed=True).sum().assign(before=0)
        pq.write_table(pa.Table.from_pandas(old, preserve_index=False), root / f)
    rows = manifest.rollup_files(person_rollup.TABLE)
    for f in rows:
        pq.write_table(pq.read_table(root / f).drop_columns(["settings"]), root / f)
    assert not person_counts.current(root / f for f in files)
    assert not person_rollup.current(root / f for f in rows)
    # a month's import into such a year rebuilds its roll-ups whole (not an increment)
    held = manifest.years[last]
    assert summary_increment.update_year(root, held, root / held["files"][0], last, {},
                                         {}) is None
    engine.dispose()
    engine = make_engine(demo_copy)
    con = store.connect(engine)  # not read meanwhile: the per-person roll-up answers
    assert con.execute("SELECT count(*) FILTER (WHERE counts) FROM store_years"
                       ).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM rollup_person_counts").fetchone()[0] == 0
    pd.testing.assert_frame_equal(persons.cases(con, inpatients, ("area_code",), 1),
                                  want_cases)
    con.close()
    assert person_rollup.ensure(engine) == sorted(manifest.years)
    manifest = store.live_manifest(engine)
    assert person_counts.current(root / f for f in manifest.rollup_files(
        person_counts.TABLE))
    assert person_rollup.current(root / f for f in manifest.rollup_files(
        person_rollup.TABLE))
    con = store.connect(engine)
    assert con.execute(sql).fetchall() == want
    sel, by = inpatients, ["area_code"]
    assert person_counts_query.plan(con, sel, by, person_rollup.code_set(con, sel, by), 1)
    pd.testing.assert_frame_equal(persons.cases(con, inpatients, ("area_code",), 1),
                                  want_cases)
    con.close()
    assert person_rollup.ensure(engine) == []  # nothing left to do
    engine.dispose()
