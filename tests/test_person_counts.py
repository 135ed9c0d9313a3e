"""The person counts (healthmap/person_counts.py) answer person counts exactly as the
per-person roll-up and the live query on the episodes do: hand-made episodes with answers
worked out by hand (a look-back crossing years, the index date of a setting's rows taken
from any setting, the referral counts); the demo data over many random selections on all
three paths; a month import (the roll-ups' increment) and an import into the year before
both leave the counts equal to a full rebuild; a store from before the counts answers from
the per-person roll-up and gets them at upgrade."""

import datetime as dt
import json
import random

import pandas as pd
import pytest

from healthmap import person_counts, person_counts_query, person_rollup, persons, store, summary
from healthmap.db import make_engine
from healthmap.queries import Filters, Selection

from tests.test_person_rollup import BOUNDARIES, FILTERS, GROUPS, IN_COUNTY, connection


def counted(rows):
    """The store's views from ``rows`` (as :func:`tests.test_person_rollup.connection`)
    with the per-person roll-up and the person counts built from it, year by year."""
    con = connection(rows, True)
    years = [y for (y,) in con.execute("SELECT DISTINCT year FROM rollup_persons "
                                       "ORDER BY 1").fetchall()]
    parts = [person_counts.build(con, y).to_pandas().assign(year=y) for y in years]
    con.register("rollup_person_counts",
                 pd.concat(parts)[[c for c, _t in person_counts.COLUMNS]])
    con.register("store_years", pd.DataFrame({"year": years, "persons": True,
                                              "counts": True}))
    return con


def count(con, codes, lookback=0, by=(), **kw):
    """persons.cases, checked to be answered from the counts."""
    sel = Selection(Filters(**kw), codes)
    unit = [k for k in persons.UNIT_KEYS if k in by]
    plan = person_rollup.code_set(con, sel, unit)
    assert person_counts_query.plan(con, sel, unit, plan, lookback) is not None
    out = persons.cases(con, sel, by=by, lookback=lookback)
    if not by:
        return int(out["persons"].iloc[0])
    return dict(zip(map(tuple, out[list(by)].values.tolist()), out["persons"]))


def test_lookback_crossing_years():
    con = counted(BOUNDARIES)
    kw = dict(years=(2024,), setting=None)
    # as worked out in test_person_rollup.test_lookback_boundaries: P1 (exactly one year
    # before) and P3 (29 Feb minus one year) are not new with one year; P5 (2022) not
    # with two
    assert count(con, ("I10",), 0, **kw) == 6
    assert count(con, ("I10",), 1, **kw) == 4
    assert count(con, ("I10",), 2, **kw) == 2
    assert count(con, ("I10",), 5, **kw) == 2
    assert count(con, None, 1, **kw) == 3  # P6's pneumonia of December 2023 counts too
    assert count(con, None, 1, by=("group_code",), **kw) == {("HYPERTENSION",): 4}
    assert count(con, ("I10",), 1, by=("year",), years=(2023, 2024), setting=None) == {
        (2023,): 3, (2024,): 4}
    # no selection with a count of nobody comes back as a row, but the total is a 0
    assert count(con, ("J18",), 1, **kw) == 0


INDEX = [  # the index date of the inpatient rows is the first date in any setting
    ("a0", "P1", "A", "C16", "2023-03-01", "outpatient"),
    ("a1", "P1", "A", "C16", "2024-01-10", "outpatient"),
    ("a2", "P1", "B", "C16", "2024-06-01", "inpatient", "employee", "M", "60-64"),
    ("a3", "P1", "C", "C16", "2024-07-01", "inpatient", "resident", "M", "65-69"),
    ("b0", "P2", "A", "C16", "2022-12-01", "outpatient"),
    ("b1", "P2", "A", "C16", "2024-01-05", "outpatient"),
    ("b2", "P2", "A", "C16", "2024-02-01", "inpatient", "resident"),
]


def test_setting_rows_take_the_index_date_from_any_setting():
    con = counted(INDEX)
    kw = dict(years=(2024,), setting="inpatient")
    # diagnosed inpatients, by the area (and sex, age) of the first inpatient stay: P1's is
    # a2 (June, B; the resident slice's July stay in C is later), P2's b2 (A)
    assert count(con, ("C16",), 0, by=("area_code", "sex"), **kw) == {
        ("A", "F"): 1, ("B", "M"): 1}
    # one year: P1's index date is 10 January 2024 (outpatient), so March 2023 lies in
    # the window (from the inpatient date, 1 June, it would not); P2's is 5 January 2024
    # and nothing lies in [5 Jan 2023, 5 Jan 2024)
    assert count(con, ("C16",), 1, by=("area_code",), **kw) == {("A",): 1}
    assert count(con, None, 1, by=("area_code",), **kw) == {("A",): 1}
    # two years: P2's December 2022 lies in [5 Jan 2022, 5 Jan 2024)
    assert count(con, ("C16",), 2, **kw) == 0
    # any setting: the first episode's areas (both A)
    assert count(con, ("C16",), 0, by=("area_code",), years=(2024,), setting=None) == {
        ("A",): 2}
    assert count(con, None, 0, by=("age_group",), **kw) == {("60-64",): 2}


def test_referrals_from_the_counts():
    con = counted(FILTERS)
    sel = Selection(Filters(years=(2024,)), None)
    assert person_counts_query.plan(con, sel, [], person_rollup.code_set(con, sel, [])) == ("*",)
    # P9 (outside, formally referred), P10 (outside, not referred), P11 (in the county)
    assert persons.referrals(con, sel, ()).values.tolist() == [[False, 2, 1], [True, 1, 0]]
    got = persons.referrals(con, Selection(Filters(years=(2024,), sex="M"), ("C18", "C19")),
                            ("area_code",))
    assert got.values.tolist() == [["B", False, 1, 1]]


def test_what_the_counts_cannot_answer_goes_to_the_person_rollup():
    con = counted(FILTERS)

    def plan(codes, unit=(), lookback=0, **kw):
        sel = Selection(Filters(**kw), codes)
        return person_counts_query.plan(con, sel, list(unit),
                                        person_rollup.code_set(con, sel, list(unit)), lookback)

    assert plan(("C18", "C19"), years=(2024,)) == ("C_COLORECTAL",)
    assert plan(None, ["group_code"], years=(2024,)) == ()
    assert plan(None, ["year"], lookback=5) == ("*",)  # every year, rows by year
    assert plan(None, years=(2023, 2024)) == ("*",)  # two years of one setting as one
    assert plan(None, years=(2023, 2024), setting=None) == ("*",)  # every setting
    assert plan(None, years=(2024,), insurance=("resident",)) is None
    assert plan(("C18", "C19", "J18"), years=(2024,)) is None  # a union of groups
    assert plan(("C18",), years=(2024,)) is None  # part of a group: the live query
    assert plan(None, years=(2024,), lookback=4) is None  # not a look-back offered


def _random_selection(rng, groups, years):
    icd3 = None
    if rng.random() < 0.4:
        icd3 = tuple(sorted(rng.choice(groups)[1]))
    by = tuple(rng.sample(persons.KEYS, rng.choice([0, 1, 2])))
    f = Filters(years=(rng.choice(years),) if rng.random() < 0.85 or "year" not in by
                else (), setting=rng.choice([None, None, "inpatient", "outpatient"]),
                sex=rng.choice([None, None, "M", "F"]),
                age_groups=rng.choice([(), (), ("60-64", "65-69")]))
    return Selection(f, icd3), by, rng.choice(persons.LOOKBACK_CHOICES)


def test_counts_equal_the_rollup_and_the_live_query_on_the_demo_data(demo_db):
    con = store.connect(make_engine(demo_db))
    assert con.execute("SELECT bool_and(counts) FROM store_years").fetchone()[0]
    groups = con.execute("SELECT group_code, list(icd3 ORDER BY icd3) FROM icd3_groups "
                         "GROUP BY 1 ORDER BY 1").fetchall()
    years = [y for (y,) in con.execute("SELECT year FROM store_years ORDER BY 1").fetchall()]
    rng = random.Random(8)
    nonzero = 0
    for _ in range(40):
        sel, by, lookback = _random_selection(rng, groups, years)
        unit = [k for k in persons.UNIT_KEYS if k in by]
        plan = person_rollup.code_set(con, sel, unit)
        codes = person_counts_query.plan(con, sel, unit, plan, lookback)
        assert codes is not None, (sel, by)
        got = persons.cases(con, sel, by, lookback)
        rollup = person_rollup.query(con, sel, list(by), unit, plan, lookback=lookback)
        live = persons._live_cases(con, sel, list(by), unit, lookback)
        for other in (rollup, live):
            pd.testing.assert_frame_equal(got, other.astype({"persons": int}),
                                          check_dtype=False)
        got = persons.referrals(con, sel, by)
        rollup = person_rollup.query(con, sel, list(by), unit, plan, referral=True)
        live = persons._live_referrals(con, sel, list(by), unit)
        for other in (rollup, live):
            pd.testing.assert_frame_equal(got, other.astype({"in_county": bool}),
                                          check_dtype=False)
        nonzero += bool(len(got))
    assert nonzero > 20  # the selections are not all empty
    con.close()


def test_categories_in_no_group_are_a_group_of_their_own():
    rows = [("x1", "P1", "A", "X99", "2023-05-01"), ("x2", "P1", "A", "X99", "2024-02-01"),
            ("x3", "P2", "B", "X99", "2024-03-01"), ("x4", "P2", "B", "I10", "2024-01-01")]
    con = counted(rows)
    kw = dict(years=(2024,), setting=None)
    # by group, each its own code set: X99 (no group) holds P1 (seen in May 2023, not
    # new) and P2 (new); hypertension P2
    assert count(con, None, 0, by=("group_code",), **kw) == {
        ("HYPERTENSION",): 1, (persons.NO_GROUP,): 2}
    assert count(con, None, 1, by=("group_code",), **kw) == {
        ("HYPERTENSION",): 1, (persons.NO_GROUP,): 1}
    want = person_rollup.query(con, Selection(Filters(**kw), None), ["group_code"],
                               ["group_code"], ("groups", ()), lookback=1)
    assert want.values.tolist() == [["HYPERTENSION", 1], [persons.NO_GROUP, 1]]


# ------------------------------------------------------------ store writes
TODAY = dt.date(2025, 6, 30)
TOWN, ISLAND = "331083001", "331083201"
COLS = ["record_id", "person_id", "area_code", "icd10", "date", "setting",
        "institution_code", "insurance_type", "referral", "total_cost", "fund_paid"]
HELD = [
    ("E1", "P1", TOWN, "C16.9", "2023-06-01", "outpatient", "YH001", "employee", "", "100", ""),
    ("E2", "P1", TOWN, "C16.9", "2024-03-01", "inpatient", "YH001", "employee", "", "5000", ""),
    ("E3", "P2", TOWN, "C18.0", "2023-03-01", "outpatient", "YH001", "resident", "", "80", ""),
    ("E4", "P2", TOWN, "C18.0", "2024-04-01", "inpatient", "YH001", "resident", "", "800", ""),
    ("E5", "P3", ISLAND, "I10", "2024-06-01", "outpatient", "HZ001", "resident", "true", "50", ""),
    ("E6", "P4", ISLAND, "J18.9", "2024-09-15", "inpatient", "YH001", "resident", "", "3000", ""),
]


@pytest.fixture()
def db(engine):
    from healthmap.ingest.load import import_frame

    inst = pd.DataFrame({"code": ["YH001", "HZ001"], "name": ["县医院", "省医院"],
                         "level": ["tertiary", "tertiary"], "in_county": ["true", "false"]})
    assert import_frame(engine, "institutions", inst, "i.csv", today=TODAY).ok
    assert import_frame(engine, "episodes", _frame(HELD), "held.csv", today=TODAY).ok
    return engine


def _frame(rows):
    return pd.DataFrame(rows, columns=COLS).assign(sex="M", age="62")


def _counts(engine) -> pd.DataFrame:
    df = store.query(engine, "SELECT * FROM rollup_person_counts")
    return df.sort_values(list(df.columns), ignore_index=True)


def _cases(engine, codes, lookback, by=("area_code",), **kw) -> dict:
    con = store.connect(engine)
    try:
        sel = Selection(Filters(**{"setting": None, **kw}), codes)  # any setting unless set
        unit = [k for k in persons.UNIT_KEYS if k in by]
        rows = person_rollup.code_set(con, sel, unit)
        assert person_counts_query.plan(con, sel, unit, rows, lookback) is not None
        out = persons.cases(con, sel, by, lookback)
        live = persons._live_cases(con, sel, list(by), unit, lookback)
        pd.testing.assert_frame_equal(out, live.astype({"persons": int}), check_dtype=False)
    finally:
        con.close()
    return dict(zip(map(tuple, out[list(by)].values.tolist()), out["persons"]))


def _spy_deltas(monkeypatch) -> list[int]:
    """The years whose counts a write updates from the held ones (not built whole)."""
    years, real = [], person_counts._delta_sql
    monkeypatch.setattr(person_counts, "_delta_sql",
                        lambda held, year: years.append(year) or real(held, year))
    return years


def test_a_month_import_moving_a_first_episode_earlier_equals_a_rebuild(db, monkeypatch):
    from healthmap.ingest.load import import_frame

    groups = _groups(db)
    colorectal = tuple(sorted(c for c, g in groups.items() if g == groups["C18"]))
    # P2's first colorectal episode of 2024 is the April stay: March 2023 lies outside
    # [1 Apr 2023, 1 Apr 2024), so P2 is new with one year, in the town
    assert _cases(db, colorectal, 1, years=(2024,)) == {(TOWN,): 1}
    month = [  # January 2024, on the island: P2's first episode of the year moves there
        ("N1", "P2", ISLAND, "C18.0", "2024-01-20", "outpatient", "YH001", "resident", "", "120", ""),
        ("N2", "P5", ISLAND, "J18.9", "2024-01-03", "inpatient", "HZ001", "employee", "true", "900", ""),
    ]
    held_files = store.live_manifest(db).years[2024]["files"]
    deltas = _spy_deltas(monkeypatch)
    assert import_frame(db, "episodes", _frame(month), "month.csv", today=TODAY).ok
    assert deltas == [2024]  # the held counts less and plus the month's persons'
    # a month import: the year's files kept, the new rows beside them (the increment)
    assert store.live_manifest(db).years[2024]["files"][:len(held_files)] == held_files
    # now the index date is 20 January 2024 and March 2023 lies in the window: not new;
    # a diagnosed case of the island (any setting), still of the town as an inpatient
    assert _cases(db, colorectal, 1, years=(2024,)) == {}
    assert _cases(db, colorectal, 0, years=(2024,), setting=None) == {(ISLAND,): 1}
    assert _cases(db, colorectal, 0, years=(2024,), setting="inpatient") == {(TOWN,): 1}
    incremental = _counts(db)
    # the key specialties' rows are updated too (tests/test_person_counts_specialties.py)
    assert incremental["group_code"].str.startswith(person_counts.SPECIALTY).any()
    assert summary.rebuild(db, "test") == [2023, 2024]
    pd.testing.assert_frame_equal(incremental, _counts(db), check_exact=True)


def test_an_import_into_the_year_before_moves_the_new_cases(db, monkeypatch):
    from healthmap.ingest.load import import_frame

    # P3's hypertension of June 2024 is new with one year
    assert _cases(db, None, 1, by=("group_code",), years=(2024,))[(_groups(db)["I10"],)] == 1
    held_2024 = store.live_manifest(db).years[2024]["rollups"]
    late = [("L1", "P3", ISLAND, "I10", "2023-11-01", "outpatient", "YH001", "resident", "", "40", "")]
    deltas = _spy_deltas(monkeypatch)
    assert import_frame(db, "episodes", _frame(late), "late.csv", today=TODAY).ok
    assert deltas == [2023, 2024]  # 2023's persons and 2024's look-back at them
    manifest = store.live_manifest(db)
    # only 2023's roll-ups were built again; 2024's per-person rows are the held ones,
    # but its counts were computed again (November 2023 lies in P3's window)
    assert manifest.years[2024]["rollups"]["persons"] == held_2024["persons"]
    assert manifest.years[2024]["rollups"][person_counts.TABLE] != held_2024[
        person_counts.TABLE]
    assert (_groups(db)["I10"],) not in _cases(db, None, 1, by=("group_code",),
                                                years=(2024,))
    incremental = _counts(db)
    summary.rebuild(db, "test")
    assert deltas == [2023, 2024]  # a rebuild builds them whole
    pd.testing.assert_frame_equal(incremental, _counts(db), check_exact=True)


def _groups(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return summary.lookups(conn)[0]


def test_a_store_from_before_the_counts_answers_and_gets_them_at_upgrade(demo_copy):
    from healthmap import db
    from healthmap.store.layout import MANIFEST

    engine = make_engine(demo_copy)
    root = store.engine_store_dir(engine)
    manifest = json.loads((root / MANIFEST).read_text())
    for entry in manifest["years"].values():  # as a store written before the counts
        entry["rollups"].pop(person_counts.TABLE)
    (root / MANIFEST).write_text(json.dumps(manifest))
    sel = Selection(Filters(years=(2024,)), None)
    con = store.connect(engine)
    plan = person_rollup.code_set(con, sel, [])
    assert plan == ("all", ())  # the per-person roll-up answers
    assert person_counts_query.plan(con, sel, [], plan, 1) is None
    before = persons.cases(con, sel, ("area_code",), 1)
    referred = persons.referrals(con, sel, ("area_code",))
    con.close()
    db.upgrade(engine)  # as at an upgraded deployment's first start
    assert all(v["rollups"][person_counts.TABLE]
               for v in store.live_manifest(engine).years.values())
    con = store.connect(engine)
    assert person_counts_query.plan(con, sel, [], plan, 1) == ("*",)
    pd.testing.assert_frame_equal(persons.cases(con, sel, ("area_code",), 1), before)
    pd.testing.assert_frame_equal(persons.referrals(con, sel, ("area_code",)), referred)
    con.close()
    assert person_rollup.ensure(engine) == []  # nothing left to add
