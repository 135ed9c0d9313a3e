"""Periods of several years from the person counts (healthmap/person_counts.py, the mask
``before``): each person once, in the row of their first year in the period, new as in
that year. The hand-made episodes of tests/test_person_rollup_years.py with the answers
worked out there, now asked of the counts; the selections the counts must leave to the
per-person roll-up; many periods of the demo data (consecutive or not) against the live
query on the episodes; a store whose counts are of the format before the mask (``gap``)
gets them computed again at upgrade."""

import random

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from healthmap import person_counts, person_rollup, persons, store
from healthmap.db import make_engine
from healthmap.queries import Filters, Selection
from tests.test_person_counts import count, counted
from tests.test_person_rollup import demo_store
from tests.test_person_rollup_years import YEARS


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


def test_what_the_counts_leave_to_the_per_person_rollup():
    con = counted(YEARS)

    def planned(years, setting=None, lookback=0, referral=False):
        sel = Selection(Filters(years=years, setting=setting), ("I10",))
        rows = person_rollup.code_set(con, sel, [])
        return person_counts.plan(con, sel, [], rows, lookback, referral=referral)

    assert planned((2023, 2024)) == ("HYPERTENSION",)
    assert planned((2022, 2024)) == ("HYPERTENSION",)  # not consecutive
    assert planned((2023, 2024), "inpatient", 1) is None  # one setting: index dates
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
            f = Filters(years=period, setting=None, sex=rng.choice([None, None, "F"]),
                        age_groups=rng.choice([(), (), ("60-64", "65-69")]))
            sel = Selection(f, icd3)
            by = rng.choice([(), ("area_code",), ("age_group",), ("sex", "area_code")])
            lookback = rng.choice([0, 1, 2, 3, 5])
            unit = [k for k in persons.UNIT_KEYS if k in by]
            rows = person_rollup.code_set(con, sel, unit)
            assert person_counts.plan(con, sel, unit, rows, lookback) is not None
            got = persons.cases(con, sel, by, lookback)
            want = persons._live_cases(con, sel, list(by), unit, lookback)
            pd.testing.assert_frame_equal(got, want.astype({"persons": int}),
                                          check_dtype=False)
            asked += 1
            nonzero += bool(len(got))
    assert nonzero > asked // 2
    con.close()


def test_counts_of_the_older_format_are_computed_again_at_upgrade(demo_copy):
    engine = make_engine(demo_copy)
    root = store.engine_store_dir(engine)
    manifest = store.live_manifest(engine)
    files = manifest.rollup_files(person_counts.TABLE)
    want = store.connect(engine).execute(
        "SELECT year, group_code, setting, area_code, sex, age_group, sum(persons), "
        "sum(new_1) FROM rollup_person_counts GROUP BY ALL ORDER BY ALL").fetchall()
    for f in files:  # the format before the mask: the same rows with ``gap`` instead
        t = pq.read_table(root / f).to_pandas()
        keys = [k for k in person_counts.KEYS if k != person_counts.BEFORE]
        old = t.drop(columns=person_counts.BEFORE).groupby(
            keys, as_index=False, observed=True).sum().assign(gap=0)
        pq.write_table(pa.Table.from_pandas(old, preserve_index=False), root / f)
    assert not person_counts.current(root / f for f in files)
    engine.dispose()
    engine = make_engine(demo_copy)
    con = store.connect(engine)  # not read meanwhile: the per-person roll-up answers
    assert con.execute("SELECT count(*) FILTER (WHERE counts) FROM store_years"
                       ).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM rollup_person_counts").fetchone()[0] == 0
    con.close()
    assert person_rollup.ensure(engine) == sorted(manifest.years)
    manifest = store.live_manifest(engine)
    assert person_counts.current(root / f for f in manifest.rollup_files(
        person_counts.TABLE))
    con = store.connect(engine)
    got = con.execute(
        "SELECT year, group_code, setting, area_code, sex, age_group, sum(persons), "
        "sum(new_1) FROM rollup_person_counts GROUP BY ALL ORDER BY ALL").fetchall()
    assert got == want
    con.close()
    assert person_rollup.ensure(engine) == []  # nothing left to do
    engine.dispose()
