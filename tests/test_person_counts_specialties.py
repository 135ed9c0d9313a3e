"""The key specialties as code sets of the person counts (healthmap/person_counts.py,
``@`` + specialty): the specialties' new cases of one year or a period of several years
(consecutive or not) read from the counts, each person once per specialty. The hand-made episodes of
tests/test_ranking.py with the answers worked out there and a few more; every period and
look-back of the demo data against the per-person roll-up's statement; counts of another
grouping of the specialties are not read and are computed again (at start, and when the
shipped disease groups change the grouping)."""

import pandas as pd
from sqlalchemy import update

from healthmap import (bootstrap, person_counts, person_counts_query, person_rollup, persons,
                       ranking_data, store)
from healthmap.db import make_engine
from healthmap.models import DiseaseGroup
from tests import test_persons
from tests.test_ranking import SPECIALTY_EPISODES, SPECIALTY_OF


def counted(rows, specialty_of):
    """:func:`tests.test_persons.con_with` with the per-person roll-up, and the person
    counts built from it with ``specialty_of``, as the store's views hold them."""
    test_persons.PATH["rollup"] = True
    try:
        con = test_persons.con_with(rows)
    finally:
        test_persons.PATH["rollup"] = False
    years = [y for (y,) in con.execute("SELECT DISTINCT year FROM rollup_persons "
                                       "ORDER BY 1").fetchall()]
    parts = [person_counts.build(con, y, specialty_of=specialty_of).to_pandas().assign(year=y)
             for y in years]
    con.register("rollup_person_counts",
                 pd.concat(parts)[[c for c, _t in person_counts.COLUMNS]])
    con.register("store_years", pd.DataFrame({
        "year": years, "persons": True, "counts": True,
        "specialties": person_counts.specialty_digest(specialty_of)}))
    return con


def by_rollup(con, years, lookback):
    """The per-person roll-up's statement (what answers without the counts)."""
    codes = con.execute("SELECT icd3, group_code FROM icd3_groups").df()
    codes["specialty_code"] = codes["group_code"].map(SPECIALTY_OF)
    return ranking_data._rollup_specialty_cases(
        con, codes.dropna(subset=["specialty_code"]), tuple(years), lookback).to_dict()


def test_the_counts_answer_the_hand_worked_specialty_cases():
    con = counted(SPECIALTY_EPISODES, SPECIALTY_OF)

    def count(years, lookback):
        assert person_counts_query.specialty_cases(con, SPECIALTY_OF, years, lookback) is not None
        out = ranking_data.specialty_new_cases(con, SPECIALTY_OF, years, lookback).to_dict()
        assert out == by_rollup(con, years, lookback)
        return out

    # as worked out in tests/test_ranking.py: P1 once for two GI groups; P2 and P6 had a
    # GI stay in the year before; P5's of 2022 is more than a year before
    assert count((2024,), 1) == {"CARD": 1, "GI": 3}
    assert count((2024,), 0) == {"CARD": 1, "GI": 5}
    assert count((2023, 2024), 1) == {"CARD": 1, "GI": 5}
    # three years back, P5's stay of 2022-03-01 lies within 3 years of 2024-04-01
    assert count((2024,), 3) == {"CARD": 1, "GI": 2}
    # 2022-2024: P5 counts from 2022 (nothing before), P2 and P6 from 2023
    assert count((2022, 2023, 2024), 1) == {"CARD": 1, "GI": 5}
    assert count((2023,), 1) == {"GI": 2}  # P2 and P6
    # the groups' rows by group hold no specialty rows
    groups = test_persons.count(con, ("C16", "C18", "C19", "C20"), lookback=1,
                                by=("group_code",), setting=None)
    assert groups == {("C_COLORECTAL",): 3, ("C_STOMACH",): 2}
    every = persons.cases(con, persons.Selection(persons.Filters(years=(2024,), setting=None),
                                                 None), ("group_code",), 1)
    assert not every["group_code"].str.startswith(person_counts.SPECIALTY).any()


def test_what_the_counts_leave_to_the_per_person_rollup():
    con = counted(SPECIALTY_EPISODES, SPECIALTY_OF)
    cases = person_counts_query.specialty_cases
    assert cases(con, SPECIALTY_OF, (2018, 2024), 1) is None  # beyond the reach
    assert cases(con, SPECIALTY_OF, (2024,), 4) is None  # not a counted look-back
    assert cases(con, {**SPECIALTY_OF, "PNEUMONIA": "RESP"}, (2024,), 1) is None  # grouping
    assert cases(con, SPECIALTY_OF, (2019,), 1) is None  # a year the store does not hold
    assert ranking_data.specialty_new_cases(con, SPECIALTY_OF, (2019,), 1).empty
    # years not consecutive, from the counts: P1, P3 and P5 (from 2022); P2's and P6's
    # stays of 2023, the year between, lie within a year before their 2024 ones
    assert cases(con, SPECIALTY_OF, (2022, 2024), 1).to_dict() == by_rollup(
        con, (2022, 2024), 1) == {"CARD": 1, "GI": 3}
    assert ranking_data.specialty_new_cases(con, SPECIALTY_OF, (2022, 2024), 1).to_dict() \
        == {"CARD": 1, "GI": 3}


def _both(engine, years, lookback):
    """The specialties' new cases from the counts (checked to answer) and from the
    per-person roll-up, with the database's grouping."""
    with engine.connect() as conn:
        specialty_of = store.sync.specialties(conn)
    con = store.connect(engine)
    try:
        got = person_counts_query.specialty_cases(con, specialty_of, years, lookback)
        codes = con.execute("SELECT icd3, group_code FROM icd3_groups").df()
        codes["specialty_code"] = codes["group_code"].map(specialty_of)
        want = ranking_data._rollup_specialty_cases(
            con, codes.dropna(subset=["specialty_code"]), tuple(years), lookback)
    finally:
        con.close()
    return got, want


def test_specialties_of_the_demo_data_equal_the_per_person_rollup(demo_db):
    engine = make_engine(demo_db)
    con = store.connect(engine)
    years = [y for (y,) in con.execute("SELECT year FROM store_years ORDER BY 1").fetchall()]
    con.close()
    periods = [tuple(years[i:j]) for i in range(len(years))
               for j in range(i + 1, len(years) + 1)]
    assert len(periods) >= 3
    for period in periods:
        for lookback in (0, 1, 2, 5):
            got, want = _both(engine, period, lookback)
            assert got is not None, (period, lookback)
            pd.testing.assert_series_equal(got, want)
            assert want.sum() > 0
    assert ranking_data.specialty_persons(engine, tuple(years[-1:]), 1).equals(
        _both(engine, tuple(years[-1:]), 1)[1])
    engine.dispose()


def test_another_grouping_is_not_read_and_is_counted_again(demo_copy):
    engine = make_engine(demo_copy)
    last = (max(store.live_manifest(engine).years),)
    with engine.begin() as conn:
        shipped = store.sync.specialties(conn)
        moved = sorted(shipped)[0]  # one group moves to a specialty of its own
        conn.execute(update(DiseaseGroup).where(DiseaseGroup.group_code == moved)
                     .values(specialty_code="TEST"))
    got, want = _both(engine, last, 1)
    assert got is None and "TEST" in want.index  # not read: the per-person roll-up answers
    assert ranking_data.specialty_persons(engine, last, 1).equals(want)
    assert person_rollup.ensure(engine) == sorted(store.live_manifest(engine).years)
    got, want = _both(engine, last, 1)
    pd.testing.assert_series_equal(got, want)
    assert person_rollup.ensure(engine) == []
    # the start puts the shipped groups back: the counts follow
    assert bootstrap.sync_disease_groups(engine)
    got, want = _both(engine, last, 1)
    assert got is not None and "TEST" not in got.index
    pd.testing.assert_series_equal(got, want)
    engine.dispose()
