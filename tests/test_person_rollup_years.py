"""Periods of several years on the per-person roll-up (healthmap/person_rollup.py
``_first_years``): a person's first year in the period found by an anti-join, new cases
decided on that year's index date. Hand-made episodes with the answers worked out by
hand, on the roll-up and on the live query; then many multi-year selections on the demo
data against the live query."""

import random

import pandas as pd

from healthmap import person_rollup, persons
from healthmap.queries import Filters, Selection
from tests.test_person_counts import counted
from tests.test_person_rollup import _random_selection, connection, count, demo_store

YEARS = [  # hypertension (I10) and pneumonia (J18) over 2021-2024
    ("a1", "P1", "A", "I10", "2023-03-01"), ("a2", "P1", "B", "I10", "2024-03-01"),
    ("b0", "P2", "A", "I10", "2022-11-01"),  # seen within a year before the period
    ("b1", "P2", "C", "I10", "2024-06-01"),
    ("c0", "P3", "A", "I10", "2021-01-10"),  # seen three years before the period only
    ("c1", "P3", "B", "I10", "2023-12-31"),
    ("d1", "P4", "C", "J18", "2023-06-01", "outpatient"),
    ("d2", "P4", "A", "J18", "2024-06-01", "inpatient"),  # first stay in the second year
    ("e0", "P5", "A", "J18", "2023-06-01"),  # in the gap of a period 2022 and 2024
    ("e1", "P5", "B", "J18", "2024-02-01"),
]


def test_first_year_of_the_period_and_its_index_date():
    # the per-person roll-up, the live query, and the person counts (which answer the
    # years of every setting, consecutive or not: tests/test_person_counts_periods.py)
    for path, con in (("rollup", connection(YEARS, True)), ("live", connection(YEARS, False)),
                      ("rollup", counted(YEARS))):
        kw = dict(path=path, years=(2023, 2024), setting=None)
        # diagnosed: each person once, in the area of their first episode of the period
        assert count(con, ("I10",), 0, by=("area_code",), **kw) == {("A",): 1, ("B",): 1,
                                                                   ("C",): 1}
        # 1-year look-back: P2 (2022-11-01 before 2024-06-01 is more than a year: new),
        # P1 new (nothing before 2023-03-01), P3 new (2021 is outside one year)
        assert count(con, ("I10",), 1, **kw) == 3
        # 3-year look-back: P3's 2021-01-10 lies within three years of 2023-12-31, P2's
        # 2022-11-01 within three of 2024-06-01: only P1 is new
        assert count(con, ("I10",), 3, **kw) == 1
        # a 2-year look-back reaches P2's 2022-11-01 from 2024-06-01
        assert count(con, ("I10",), 2, **kw) == 2
        # by group, all settings: J18's P4 and P5 both new (nothing before 2023)
        assert count(con, None, 1, by=("group_code",), **kw) == {
            ("HYPERTENSION",): 3, ("PNEUMONIA",): 2}
        # inpatients: P4 counted in the area of the first stay (A, 2024), new from the
        # 2023 outpatient visit's date; P5's index date 2023-06-01
        inpatient = dict(kw, setting="inpatient")
        got = count(con, ("J18",), 1, by=("area_code",), **inpatient)
        assert got == {("A",): 2}
        # all categories, inpatient: P4's first stay is 2024 (area A), the index date
        # 2023-06-01 (any code, any setting); P1 and P5 in A, P3 in B, P2 in C
        assert count(con, None, 1, by=("area_code",), **inpatient) == {
            ("A",): 3, ("B",): 1, ("C",): 1}
        # a period of 2022 and 2024: P5's 2023 episode lies in the gap, within a year
        # before 2024-02-01, so P5 is not new; P2's first year in the period is 2022
        gap = dict(kw, years=(2022, 2024))
        assert count(con, ("J18",), 1, **gap) == 0
        assert count(con, ("I10",), 0, by=("area_code",), **gap) == {("A",): 1, ("B",): 1}
        # sex and age band of the first episode of the period
        assert count(con, ("I10",), 1, sex="M", **kw) == 0
        assert count(con, ("I10",), 1, age_groups=("60-64",), **kw) == 3


def test_multi_year_selections_equal_the_live_query_on_the_demo_data(demo_db):
    con, groups, years = demo_store(demo_db)
    rng = random.Random(2026)
    asked = 0
    while asked < 30:
        sel, by, lookback = _random_selection(rng, groups, years)
        if len(sel.filters.years) == 1 or "year" in by or sel.filters.insurance:
            continue  # one year is the single path; insurance slices the general one
        asked += 1
        unit = [k for k in persons.UNIT_KEYS if k in by]
        plan = person_rollup.code_set(con, sel, unit)
        got = person_rollup.query(con, sel, list(by), unit, plan, lookback=lookback)
        want = persons._live_cases(con, sel, list(by), unit, lookback)
        pd.testing.assert_frame_equal(got.astype({"persons": int}),
                                      want.astype({"persons": int}), check_dtype=False)
    con.close()


def test_every_year_as_the_period():
    con = connection(YEARS, True)
    sel = Selection(Filters(years=(), setting=None), ("I10",))
    # every year: each person once, new whatever the look-back (nothing lies before)
    assert persons.cases(con, sel, (), 3)["persons"].tolist() == [3]
